//! The course catalog: an institution's courses, the first tenant resource. Every function
//! takes a [`hub_tenant::TenantScope`], so the catalog can only be read or written inside the
//! caller's own tenant.

mod entity;
mod error;
pub mod model;
pub mod service;

pub use error::CourseError;
pub use model::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse};
