//! `--map COLUMN=HEADER` (repeatable) and `--mapping FILE.toml`, shared by import, backtest
//! and `score --csv` so every command reads an export the same way.
use crate::crm::ColumnMapping;
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MapArgs {
    /// Read a column of the file as one of ours: --map created_date="Engage Date" (repeatable;
    /// beats --mapping). Columns: deal_id, created_date, closed_date, deal_stage, deal_amount,
    /// outcome, industry, region, product_type, lead_source, owner_email, owner_name, ...
    #[arg(long = "map", value_name = "COLUMN=HEADER")]
    pub map: Vec<String>,
    /// A TOML file of `column = "Header"` lines (or `column = ["Won time", "Lost time"]`).
    #[arg(long, value_name = "FILE", value_parser = super::existing_file)]
    pub mapping: Option<PathBuf>,
}

impl MapArgs {
    /// The explicit mapping the flags give (empty when none).
    pub fn load(&self) -> anyhow::Result<ColumnMapping> {
        let file = match &self.mapping {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read {}", path.display()))?;
                ColumnMapping::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => ColumnMapping::default(),
        };
        let flags = ColumnMapping::from_args(&self.map)?;
        Ok(file.overlay(flags))
    }
}
