//! PostgreSQL connections: pool options, and transactions pinned to one tenant's schema
//! (opened again once on a live connection when the pooled one was dead).

use super::config::CONTROL_SCHEMA;
use super::txn::Access;
use crate::TenantError;
use crate::model::SchemaName;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, TransactionTrait,
};
use std::time::Duration;

pub(super) fn postgres_options(
    url: &str,
    max_connections: u32,
    min_connections: u32,
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .min_connections(min_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a connection on every checkout by default: a round trip in front of
        // every request. It already pings each connection when it comes back to the pool, so
        // only one that has sat idle long enough for a server or firewall to drop it is
        // checked again before use.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Bounds each backend's catalog cache, which grows with every tenant schema a
        // connection touches.
        .max_lifetime(Duration::from_secs(30 * 60))
        .sqlx_logging(false)
        // Outside a tenant scope the path names only the control schema (absent on the other
        // clusters), so an unscoped tenant query fails instead of finding some tenant's table.
        .set_schema_search_path(CONTROL_SCHEMA);
    options
}

pub(super) async fn connect_postgres(
    url: &str,
    max_connections: u32,
    min_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    Database::connect(postgres_options(url, max_connections, min_connections)).await
}

/// Opens a transaction on `pool` pinned to the tenant's schema.
///
/// A pooled connection the server has ended (restart, failover, `pg_terminate_backend`)
/// fails here, at BEGIN or the search path, before any of the caller's statements: opening
/// the unit of work again cannot repeat a write, so this holds for read and write scopes
/// alike. It is opened again once, after the dead idle connections are closed, on one that
/// has just answered or a new one; a second failure is the database being down, and the
/// caller answers 503. Work that fails later, inside the unit of work, is not repeated here:
/// a write may have reached the database.
pub(super) async fn begin_pinned(
    pool: &DatabaseConnection,
    schema: &SchemaName,
    access: Access,
) -> Result<DatabaseTransaction, DbErr> {
    match begin_pinned_once(pool, schema, access).await {
        Err(e) if TenantError::connection_lost(&e) => {
            tracing::warn!(error = %e, "a pooled connection was dead; opening the unit of work again");
            discard_dead_idle_connections(pool).await;
            begin_pinned_once(pool, schema, access).await
        }
        other => other,
    }
}

async fn begin_pinned_once(
    pool: &DatabaseConnection,
    schema: &SchemaName,
    access: Access,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = pool.begin().await?;
    pin_search_path(&txn, schema, access).await?;
    Ok(txn)
}

pub(super) async fn ping_pool(pool: &DatabaseConnection) -> Result<(), DbErr> {
    match pool.execute_unprepared("SELECT 1").await {
        Err(e) if TenantError::connection_lost(&e) => {
            discard_dead_idle_connections(pool).await;
            pool.execute_unprepared("SELECT 1").await.map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// After one pooled connection turned out dead, its idle siblings were most likely ended by
/// the same event (a server restart ends them all): checks each idle connection once and
/// closes the dead ones, so the next checkout gets a live connection or opens a new one.
/// PostgreSQL only (SQLite files do not go away under a pool).
async fn discard_dead_idle_connections(pool: &DatabaseConnection) {
    use sea_orm::sqlx::Connection;
    if pool.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pg = pool.get_postgres_connection_pool();
    // Held until the sweep ends, so each idle connection is checked once, not taken again.
    let mut live = Vec::new();
    for _ in 0..pg.num_idle() {
        let Some(mut conn) = pg.try_acquire() else {
            break;
        };
        if conn.ping().await.is_ok() {
            live.push(conn);
        } else {
            conn.close_on_drop();
        }
    }
}

pub(super) async fn pin_search_path(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    access: Access,
) -> Result<(), DbErr> {
    // SET LOCAL: scoped to this transaction, so the pooled connection cannot keep it. Both
    // settings go in one simple-query message: one round trip.
    let path = format!("SET LOCAL search_path TO {}", schema.quoted());
    let sql = match access {
        Access::ReadWrite => path,
        Access::ReadOnly => format!("SET TRANSACTION READ ONLY; {path}"),
    };
    txn.execute_unprepared(&sql).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::lanes::LaneTicket;
    use super::super::txn::TenantTxn;
    use super::*;
    use sea_orm::Statement;
    use uuid::Uuid;

    /// The test PostgreSQL, or `None` when a test outside CI may skip (see
    /// `hub_kernel::testing`).
    fn test_database_url() -> Option<String> {
        hub_kernel::testing::required_service("HUB_TEST_DATABASE_URL", "PostgreSQL")
    }

    /// Ends every backend of `pids` from another connection, as a restart would.
    async fn terminate(admin: &DatabaseConnection, pids: &[i32]) {
        for pid in pids {
            admin
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_terminate_backend($1)",
                    [(*pid).into()],
                ))
                .await
                .expect("terminate");
        }
        // The backends exit on their own time: wait until they are gone (bounded).
        for _ in 0..500 {
            let left = admin
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE pid IN ({})",
                        pids.iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ))
                .await
                .expect("pg_stat_activity")
                .expect("a row")
                .try_get::<i64>("", "n")
                .expect("a count");
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backends {pids:?} did not exit");
    }

    /// Waits until the pool holds `n` idle connections (they come back in the background).
    async fn until_idle(pool: &DatabaseConnection, n: usize) {
        let pg = pool.get_postgres_connection_pool();
        for _ in 0..500 {
            if pg.num_idle() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} idle connections, not {n}", pg.num_idle());
    }

    async fn backend_pid(txn: &DatabaseTransaction) -> i32 {
        txn.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .expect("pid")
        .expect("a row")
        .try_get("", "pid")
        .expect("an int")
    }

    /// Every idle connection of a lane ended by the server (as by a restart): the next unit
    /// of work still opens, on a live connection, for a read and for a write scope; and the
    /// error a dead connection gives is classified as storage unavailable and lost.
    #[tokio::test]
    async fn a_unit_of_work_opens_on_a_live_connection_after_the_server_ended_the_pooled_ones() {
        let Some(url) = test_database_url() else {
            return;
        };
        let admin = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let schema = SchemaName::for_tenant(Uuid::now_v7());
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {}", schema.quoted()))
            .await
            .expect("test schema");
        let pool = Database::connect(postgres_options(&url, 2, 0))
            .await
            .expect("PostgreSQL answers");
        for access in [Access::ReadOnly, Access::ReadWrite] {
            // Two connections in the pool, both idle once these two units of work end.
            let (a, b) = (
                begin_pinned(&pool, &schema, access).await.expect("first"),
                begin_pinned(&pool, &schema, access).await.expect("second"),
            );
            let pids = [backend_pid(&a).await, backend_pid(&b).await];
            a.commit().await.expect("end");
            b.commit().await.expect("end");
            until_idle(&pool, 2).await;
            terminate(&admin, &pids).await;

            // Without the retry and the sweep, both idle connections would fail in turn.
            let txn = begin_pinned(&pool, &schema, access)
                .await
                .expect("opens on a live connection");
            assert!(!pids.contains(&backend_pid(&txn).await), "a new backend");
            txn.commit().await.expect("end");
        }

        // The raw shape of the failure: a statement on a connection the server ended.
        let one = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let txn = one.begin().await.expect("begin");
        let pid = backend_pid(&txn).await;
        terminate(&admin, &[pid]).await;
        let error = txn
            .execute_unprepared("SELECT 1")
            .await
            .expect_err("the backend is gone");
        assert!(TenantError::storage_unavailable(&error), "{error:?}");
        assert!(TenantError::connection_lost(&error), "{error:?}");
        drop(txn);

        admin
            .execute_unprepared(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
            .await
            .expect("cleanup");
    }

    /// A read scope refuses writes, and ending it without a COMMIT leaves the connection
    /// clean for the next tenant: out of any transaction, the search path back to the control
    /// schema. One connection in the pool, so the second unit of work gets the same one.
    #[tokio::test]
    async fn promise_d1_a_read_scope_refuses_writes_and_leaves_no_tenant_path_behind() {
        let Some(url) = test_database_url() else {
            return;
        };
        let pool = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let schema = SchemaName::for_tenant(Uuid::now_v7());
        pool.execute_unprepared(&format!(
            "CREATE SCHEMA {0}; CREATE TABLE {0}.item (id int PRIMARY KEY); \
             INSERT INTO {0}.item VALUES (1)",
            schema.quoted()
        ))
        .await
        .expect("test schema");

        let txn = pool.begin().await.expect("begin");
        pin_search_path(&txn, &schema, Access::ReadOnly)
            .await
            .expect("pin");
        let read = txn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM item",
            ))
            .await
            .expect("a read scope reads")
            .expect("a row");
        assert_eq!(read.try_get::<i64>("", "n").unwrap(), 1);
        let write = txn.execute_unprepared("INSERT INTO item VALUES (2)").await;
        let refused = write
            .expect_err("a read scope must refuse writes")
            .to_string();
        assert!(refused.contains("read-only transaction"), "{refused}");
        TenantTxn::new(txn, LaneTicket::none())
            .ended_by_drop(true)
            .commit()
            .await
            .expect("ending a read scope");

        let next = pool.begin().await.expect("the connection came back");
        let state = next
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_setting('transaction_read_only') AS ro, \
                 current_setting('search_path') AS path",
            ))
            .await
            .expect("state")
            .expect("a row");
        assert_eq!(state.try_get::<String>("", "ro").unwrap(), "off");
        assert_eq!(state.try_get::<String>("", "path").unwrap(), CONTROL_SCHEMA);
        next.commit().await.expect("commit");
        pool.execute_unprepared(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
            .await
            .expect("cleanup");
    }
}
