//! sea-orm entities. Control-plane tables first, then the per-tenant ones, which are only
//! ever queried on a [`crate::TenantScope`]'s transaction.
pub mod api_key;
pub mod audit_event;
pub mod audit_head;
pub mod contact;
pub mod deadline;
pub mod deletion_record;
pub mod idempotency_key;
pub mod job;
pub mod privacy_profile;
pub mod privacy_profile_history;
pub mod report_population;
pub mod report_run;
pub mod tenant;
pub mod tenant_key;
pub mod tombstone;
