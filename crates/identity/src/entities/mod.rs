pub mod incident;
pub mod outbox;
pub mod person;
pub mod person_identity;
pub mod scim_group;
pub mod scim_group_member;
pub mod sso_connection;
