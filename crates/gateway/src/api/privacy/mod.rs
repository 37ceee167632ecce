//! The privacy domain's API (`hub-privacy-addenda`), one module per resource.

pub mod data_map;
pub mod receipts;
pub mod requests;
