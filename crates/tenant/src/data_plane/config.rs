//! What the operator configures about storage: the backend, its clusters and lanes.

use std::path::PathBuf;

pub const CONTROL_SCHEMA: &str = "hub_control";
/// The cluster every tenant lives on until a directory of clusters is configured.
pub const PRIMARY_CLUSTER: &str = "primary";

#[derive(Debug, Clone)]
pub enum StorageConfig {
    Postgres {
        /// The primary cluster: control plane, and tenants placed on `primary`.
        url: String,
        /// Connections per cluster for tenant work, split evenly over the lanes.
        max_connections: u32,
        /// How many lanes (small pools) each cluster's connections are split into.
        lanes: u32,
        /// Further clusters by name, for tenant schemas only.
        clusters: Vec<(String, String)>,
        /// Where new tenants go unless the operator names a cluster.
        default_cluster: String,
    },
    Sqlite {
        data_dir: PathBuf,
    },
}

/// A valid cluster name: short, lower-case, usable in logs and configuration keys.
pub fn is_valid_cluster_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
