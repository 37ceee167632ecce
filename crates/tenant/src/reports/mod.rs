//! De-identified reporting (C7): the rules every report's content obeys before it leaves
//! the hub. [`suppression`] hides small cells of an aggregate table, and hides enough other
//! cells that no hidden value can be worked out from what is shown.

pub mod suppression;
