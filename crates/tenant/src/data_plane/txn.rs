//! A tenant's unit of work: its transaction, what it may do, and its place in its lane.

use super::lanes::LaneTicket;
use sea_orm::{DatabaseTransaction, DbErr};

/// What a unit of work may do to the tenant's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    /// A `READ ONLY` transaction: PostgreSQL refuses any write in it, and it ends without a
    /// round trip of its own (see [`TenantTxn::commit`]).
    ReadOnly,
}

/// A tenant's transaction together with its lane ticket, so the lane counts it until it ends.
pub(crate) struct TenantTxn {
    txn: DatabaseTransaction,
    _ticket: LaneTicket,
    end_by_drop: bool,
}

impl TenantTxn {
    pub(super) fn new(txn: DatabaseTransaction, ticket: LaneTicket) -> Self {
        Self {
            txn,
            _ticket: ticket,
            end_by_drop: false,
        }
    }

    pub(super) fn ended_by_drop(mut self, yes: bool) -> Self {
        self.end_by_drop = yes;
        self
    }

    pub(crate) fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Ends the unit of work. A read-only PostgreSQL transaction has nothing to commit, so
    /// it is dropped instead: sea-orm queues its ROLLBACK, and the pool sends it together with
    /// the liveness check it runs on every returned connection, in a background task. The
    /// caller answers without waiting a round trip for it.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        if self.end_by_drop {
            drop(self);
            return Ok(());
        }
        self.txn.commit().await
    }
}
