//! The privacy domain's API (`hub-privacy-addenda`), one module per resource.

pub mod addenda;
pub mod concerns;
pub mod consent;
pub mod data_map;
pub mod export_bundle;
pub mod holds;
pub mod policy;
pub mod receipts;
pub mod records;
pub mod requests;
pub mod retention;
