//! Deal sources: the CSV importer (presets, mappings), Salesforce (a [`CrmSource`], the seam
//! the sync pipeline in `service::crm_sync` runs on), and data-quality checks.
pub mod columns;
pub mod csv_import;
pub mod dates;
pub mod mapping;
pub mod owners;
pub mod presets;
pub mod report;
pub mod salesforce;
pub mod source;
pub mod synthetic;
pub mod validate;

pub use csv_import::{
    ParsedFile, ReadOptions, StructuralError, parse_csv_bytes, parse_csv_with, read_csv_file,
    read_csv_file_with, read_header,
};
pub use mapping::ColumnMapping;
pub use report::QualityReport;
pub use source::CrmSource;
