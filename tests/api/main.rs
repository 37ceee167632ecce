//! Black-box tests of the whole gateway over HTTP, against real PostgreSQL and Redis and
//! against the embedded SQLite default.

mod support;

mod access;
mod architecture;
mod at_rest;
mod classification;
mod courses;
mod isolation;
mod keys;
mod migrations;
mod profile;
mod schemathesis;
mod spec;
mod tenants;
