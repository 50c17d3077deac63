//! What commands write for people and programs: the comparison table, figures, and JSON
//! files written atomically.

pub mod compare_table;
pub mod figures;
pub mod json_out;
