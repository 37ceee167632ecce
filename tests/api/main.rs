//! Black-box tests of the whole gateway over HTTP, against real PostgreSQL and Redis and
//! against the embedded SQLite default.

mod support;

mod courses;
