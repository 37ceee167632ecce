//! The tenant crate's one error type and its problem description.

use hub_kernel::crypto::CryptoError;
use hub_kernel::page::PageError;
use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    BadPage(#[from] PageError),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("a tenant with slug `{0}` already exists")]
    SlugTaken(String),
    #[error("the credential is missing, malformed, revoked or unknown")]
    Unauthenticated,
    #[error("this institution is suspended; contact the platform operator")]
    Suspended,
    #[error("this institution is being offboarded")]
    Offboarding,
    #[error("the credential lacks the `{0}` scope")]
    MissingScope(&'static str),
    #[error("this operation needs a platform-operator credential")]
    OperatorOnly,
    #[error("the resource changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    Conflict(String),
    /// The change would break a duty of the institution's privacy addendum in force.
    #[error("the change breaks the institution's privacy addendum")]
    AddendumBreached(Vec<FieldViolation>),
    #[error("a key rotation is already running for this institution")]
    RotationRunning,
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
    #[error("key error: {0}")]
    Crypto(#[from] CryptoError),
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
}

impl TenantError {
    /// The stable problem code of every "the database is unreachable for now" answer, from
    /// this crate or a crate that wraps its errors or database errors of its own.
    pub const STORAGE_UNAVAILABLE: &'static str = "storage_unavailable";

    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, message)])
    }

    /// Whether the database refused a value the client sent rather than failing itself: a
    /// PostgreSQL data exception (SQLSTATE class 22: invalid byte sequence or character not
    /// in repertoire, string too long, numeric out of range, invalid text representation, …)
    /// or SQLite's SQLITE_TOOBIG. The gateway refuses such values at the edge; this keeps
    /// anything that slips past from answering 500. The statement failed, so its
    /// transaction rolls back and nothing is half-written.
    pub fn refused_client_data(error: &DbErr) -> bool {
        use sea_orm::RuntimeErr;
        let (DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error))) = error
        else {
            return false;
        };
        let sea_orm::sqlx::Error::Database(database) = &**error else {
            return false;
        };
        let code = database.code().unwrap_or_default();
        let is_postgres = database
            .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
            .is_some();
        if is_postgres {
            code.starts_with("22")
        } else {
            // SQLITE_TOOBIG (18): a string or blob over the database's length limit.
            code == "18"
        }
    }
    /// Whether this is the database being unreachable for now rather than a fault in the
    /// request or in our code (see [`Self::storage_unavailable`]).
    pub fn is_storage_unavailable(&self) -> bool {
        matches!(self, Self::Database(e) if Self::storage_unavailable(e))
    }

    /// The one classification of database errors that mean "storage unavailable, retry
    /// later" (503) instead of a fault (500): the connection was lost or terminated, the
    /// server is shutting down, starting up or full, the pool could not hand out a
    /// connection in time or is closed; on SQLite, the database stayed busy or locked past
    /// the busy timeout. The identity and course crates classify their own `DbErr`s here.
    pub fn storage_unavailable(error: &DbErr) -> bool {
        match error {
            DbErr::ConnectionAcquire(_) => true,
            DbErr::Conn(RuntimeErr::SqlxError(e))
            | DbErr::Exec(RuntimeErr::SqlxError(e))
            | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
            _ => false,
        }
    }

    /// Whether the connection this error came from is dead (terminated by the server, or its
    /// socket failed), so the same work on another connection may well succeed. A subset of
    /// [`Self::storage_unavailable`]: a pool timeout or a full server is not worth an
    /// immediate retry.
    pub(crate) fn connection_lost(error: &DbErr) -> bool {
        match error {
            DbErr::Conn(RuntimeErr::SqlxError(e))
            | DbErr::Exec(RuntimeErr::SqlxError(e))
            | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
                sqlx::Error::Io(_) => true,
                sqlx::Error::Database(db) => {
                    postgres_sqlstate(db.as_ref()).is_some_and(sqlstate_connection_lost)
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// SQLSTATEs of a connection PostgreSQL ended: `admin_shutdown` (a `pg_terminate_backend` or
/// a fast shutdown), `crash_shutdown`, `idle_session_timeout`. Class 08 (connection
/// exception) counts as well.
const LOST_SQLSTATES: [&str; 3] = ["57P01", "57P02", "57P05"];
/// SQLSTATEs of a server that refuses work for now: `cannot_connect_now` (starting up or in
/// recovery) and `too_many_connections`.
const REFUSING_SQLSTATES: [&str; 2] = ["57P03", "53300"];
/// SQLite's primary result codes `SQLITE_BUSY` and `SQLITE_LOCKED` (extended codes carry
/// them in the low byte).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

fn sqlstate_connection_lost(code: &str) -> bool {
    code.starts_with("08") || LOST_SQLSTATES.contains(&code)
}

/// `extended` is SQLite's extended result code; the primary code is its low byte.
fn sqlite_busy_or_locked(extended: i32) -> bool {
    matches!(extended & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
}

fn postgres_sqlstate(error: &dyn sqlx::error::DatabaseError) -> Option<&str> {
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .map(|e| e.code())
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(code) = postgres_sqlstate(db.as_ref()) {
                return sqlstate_connection_lost(code) || REFUSING_SQLSTATES.contains(&code);
            }
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                return db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(sqlite_busy_or_locked);
            }
            false
        }
        _ => false,
    }
}

impl DescribeProblem for TenantError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) | Self::BadPage(_) => ProblemKind::Validation,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::SlugTaken(_)
            | Self::IdempotencyKeyReused
            | Self::Conflict(_)
            | Self::AddendumBreached(_)
            | Self::RotationRunning
            | Self::Offboarding => ProblemKind::Conflict,
            Self::Unauthenticated => ProblemKind::Unauthenticated,
            Self::Suspended | Self::MissingScope(_) | Self::OperatorOnly => ProblemKind::Forbidden,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Database(e) if Self::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if Self::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) | Self::Crypto(_) | Self::Io(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::BadPage(PageError::BadCursor) => "invalid_cursor",
            Self::BadPage(PageError::BadLimit) => "invalid_limit",
            Self::NotFound("tenant") => "tenant_not_found",
            Self::NotFound("api key") => "api_key_not_found",
            Self::NotFound("contact") => "contact_not_found",
            Self::NotFound("job") => "job_not_found",
            Self::NotFound(_) => "not_found",
            Self::SlugTaken(_) => "tenant_slug_taken",
            Self::Unauthenticated => "unauthenticated",
            Self::Suspended => "tenant_suspended",
            Self::Offboarding => "tenant_offboarding",
            Self::MissingScope(_) => "insufficient_scope",
            Self::OperatorOnly => "operator_only",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Conflict(_) => "conflict",
            Self::AddendumBreached(_) => "addendum_duty_breached",
            Self::RotationRunning => "key_rotation_running",
            Self::Database(e) if Self::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if Self::storage_unavailable(e) => Self::STORAGE_UNAVAILABLE,
            Self::Database(_) | Self::Crypto(_) | Self::Io(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) | Self::AddendumBreached(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    async fn refusal(
        db: &sea_orm::DatabaseConnection,
        sql: &str,
        values: Vec<sea_orm::Value>,
    ) -> DbErr {
        db.query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await
        .expect_err(sql)
    }

    /// The backstop behind the gateway's input guard: values PostgreSQL refuses become a
    /// 422-kind problem, faults of the database or of our SQL stay internal.
    #[tokio::test]
    async fn data_exceptions_are_client_errors_and_other_database_errors_are_not() {
        let url = std::env::var("HUB_TEST_DATABASE_URL")
            .expect("HUB_TEST_DATABASE_URL must point at PostgreSQL (make test sets it)");
        let pg = Database::connect(url).await.expect("PostgreSQL answers");
        for (sql, values) in [
            ("SELECT $1::text AS t", vec!["a\0b".into()]),
            ("SELECT $1::int4 AS t", vec!["not a number".into()]),
            ("SELECT 40000::int2 AS t", vec![]),
            ("SELECT $1::date AS t", vec!["2026-13-45".into()]),
        ] {
            let error = refusal(&pg, sql, values).await;
            assert!(TenantError::refused_client_data(&error), "{sql}: {error}");
            let error = TenantError::Database(error);
            assert_eq!(error.kind(), ProblemKind::Validation, "{sql}");
            assert_eq!(error.code(), "value_not_storable");
        }
        for sql in ["SELEC 1", "SELECT * FROM no_such_table"] {
            let error = refusal(&pg, sql, vec![]).await;
            assert!(!TenantError::refused_client_data(&error), "{sql}: {error}");
            assert_eq!(TenantError::Database(error).kind(), ProblemKind::Internal);
        }
        let sqlite = Database::connect("sqlite::memory:")
            .await
            .expect("SQLite opens");
        let error = refusal(&sqlite, "SELEC 1", vec![]).await;
        assert!(!TenantError::refused_client_data(&error), "{error}");
        assert_eq!(sqlite.get_database_backend(), DbBackend::Sqlite);
    }

    use sea_orm::sqlx::{Connection, Executor};
    use std::sync::Arc;

    fn from_sqlx(e: sqlx::Error) -> DbErr {
        // The shape sea-orm gives a failed statement.
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
    }

    #[test]
    fn postgres_sqlstates_of_a_lost_or_refusing_server_and_nothing_else() {
        for lost in ["57P01", "57P02", "57P05", "08000", "08003", "08006"] {
            assert!(sqlstate_connection_lost(lost), "{lost}");
        }
        for refusing in ["57P03", "53300"] {
            assert!(!sqlstate_connection_lost(refusing), "{refusing}");
            assert!(REFUSING_SQLSTATES.contains(&refusing));
        }
        // Unique violation, syntax error, serialization failure, statement timeout, database
        // dropped, NUL in a string: the request's or our fault, not an outage.
        for other in ["23505", "42601", "40001", "57014", "57P04", "22021"] {
            assert!(
                !sqlstate_connection_lost(other) && !REFUSING_SQLSTATES.contains(&other),
                "{other}"
            );
        }
    }

    #[test]
    fn pool_and_socket_failures_are_unavailable_and_only_socket_failures_are_lost() {
        let io = from_sqlx(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(TenantError::storage_unavailable(&io) && TenantError::connection_lost(&io));
        let refused = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        ))));
        assert!(TenantError::storage_unavailable(&refused));
        for pool in [
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::ConnectionClosed),
            from_sqlx(sqlx::Error::PoolTimedOut),
            from_sqlx(sqlx::Error::PoolClosed),
        ] {
            assert!(TenantError::storage_unavailable(&pool), "{pool:?}");
            assert!(!TenantError::connection_lost(&pool), "{pool:?}");
        }
        for fault in [
            from_sqlx(sqlx::Error::RowNotFound),
            DbErr::Custom("anything".into()),
            DbErr::RecordNotFound("course".into()),
        ] {
            assert!(!TenantError::storage_unavailable(&fault), "{fault:?}");
        }
        let wrapped = TenantError::Database(io);
        assert!(wrapped.is_storage_unavailable());
        assert_eq!(wrapped.kind(), ProblemKind::Unavailable);
        assert_eq!(wrapped.code(), TenantError::STORAGE_UNAVAILABLE);
        let fault = TenantError::Database(DbErr::Custom("a bug".into()));
        assert_eq!(fault.kind(), ProblemKind::Internal);
    }

    #[test]
    fn sqlite_busy_and_locked_in_every_extended_form() {
        // SQLITE_BUSY, _RECOVERY, _SNAPSHOT, _TIMEOUT; SQLITE_LOCKED, _SHAREDCACHE, _VTAB.
        for code in [5, 261, 517, 773, 6, 262, 518] {
            assert!(sqlite_busy_or_locked(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_UNIQUE, SQLITE_READONLY, SQLITE_IOERR.
        for code in [1, 2067, 8, 10] {
            assert!(!sqlite_busy_or_locked(code), "{code}");
        }
    }

    /// A real SQLite "database is locked": a second writer while the first holds the lock,
    /// with no busy timeout. And a real constraint failure, which is not an outage.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_unavailable_a_constraint_failure_is_not() {
        let dir = std::env::temp_dir().join(format!("hub-locked-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("t.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut first = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        let mut second = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        first
            .execute("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
            .await
            .expect("table");
        first.execute("BEGIN IMMEDIATE").await.expect("lock");
        let locked = from_sqlx(
            second
                .execute("BEGIN IMMEDIATE")
                .await
                .expect_err("the first writer holds the lock"),
        );
        assert!(TenantError::storage_unavailable(&locked), "{locked:?}");
        assert!(!TenantError::connection_lost(&locked), "{locked:?}");
        let duplicate = from_sqlx(
            first
                .execute("INSERT INTO t VALUES (1)")
                .await
                .expect_err("a duplicate key"),
        );
        assert!(
            !TenantError::storage_unavailable(&duplicate),
            "{duplicate:?}"
        );
        drop((first, second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
