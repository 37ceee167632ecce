//! The tenant crate's one error type and its problem description.

use hub_kernel::crypto::CryptoError;
use hub_kernel::page::PageError;
use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use sea_orm::DbErr;

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
}

impl DescribeProblem for TenantError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) | Self::BadPage(_) => ProblemKind::Validation,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::SlugTaken(_)
            | Self::IdempotencyKeyReused
            | Self::Conflict(_)
            | Self::RotationRunning
            | Self::Offboarding => ProblemKind::Conflict,
            Self::Unauthenticated => ProblemKind::Unauthenticated,
            Self::Suspended | Self::MissingScope(_) | Self::OperatorOnly => ProblemKind::Forbidden,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Database(e) if Self::refused_client_data(e) => ProblemKind::Validation,
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
            Self::RotationRunning => "key_rotation_running",
            Self::Database(e) if Self::refused_client_data(e) => "value_not_storable",
            Self::Database(_) | Self::Crypto(_) | Self::Io(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
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
}
