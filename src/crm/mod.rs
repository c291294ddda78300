//! Deal sources: the CSV importer today (Salesforce joins later) and data-quality checks.
pub mod csv_import;
pub mod dates;
pub mod report;
pub mod salesforce;
pub mod synthetic;
pub mod validate;

pub use csv_import::{ParsedFile, StructuralError, parse_csv_bytes, read_csv_file};
pub use report::QualityReport;
