pub mod incident;
pub mod outbox;
pub mod person;
pub mod person_identity;
pub mod sso_connection;
