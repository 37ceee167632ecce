//! The people-lookup port: how a crate that may not depend on identity finds the people of
//! an institution by an identifier another system knows them by. The xAPI LRS (in
//! `hub-course`) links a statement to the person its actor's `mbox` names; identity owns the
//! people and their email blind index and answers ([`PeopleByEmail`]), inside the caller's
//! [`TenantScope`] (the same transaction as the statement it links). The gateway registers
//! identity's answer at start ([`crate::Tenancy::register_people_by_email`]).

use crate::scope::TenantScope;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Finds people by email address.
#[async_trait]
pub trait PeopleByEmail: Send + Sync {
    /// The people of the scope's tenant whose email is one of `emails` (compared as people's
    /// emails are: trimmed, case folded), keyed by the address as given. An address no
    /// person holds is absent.
    async fn people_by_email(
        &self,
        scope: &TenantScope,
        emails: &HashSet<String>,
    ) -> Result<HashMap<String, Uuid>, crate::TenantError>;
}
