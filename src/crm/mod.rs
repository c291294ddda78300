//! Deal sources: the CSV importer today (Salesforce joins later) and data-quality checks.
