//! Black-box tests of the whole gateway over HTTP, against real PostgreSQL and Redis and
//! against the embedded SQLite default.

// Helpers outside #[test] functions are still test code: unwrapping there is fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod idp;
mod incidents;
mod input_fuzz;
mod saml_idp;
mod smtp;
mod support;

mod access;
mod addenda;
mod architecture;
mod at_rest;
mod attempts;
mod audit;
mod card_numbers;
mod certificates;
mod classification;
mod client_ip;
mod clusters;
mod configuration;
mod consent;
mod course_audience;
mod courses;
mod decisions;
mod domains;
mod enrollments;
mod isolation;
mod keys;
mod mail;
mod migrations;
mod minors;
mod offboarding;
mod outage;
mod passwords;
mod personal_data;
mod personal_reads;
mod privacy_concerns;
mod privacy_export;
mod privacy_requests;
mod profile;
mod progress;
mod query_plans;
mod quizzes;
mod recommendations;
mod reports;
mod restriction;
mod retention;
mod reviews;
mod roles;
mod saml;
mod schemathesis;
mod scim;
mod scim_conformance;
mod sdk;
mod secrets;
mod session_ending;
mod signing_keys;
mod spec;
mod sso;
mod structure;
mod tenants;
mod tls;
mod xapi;
