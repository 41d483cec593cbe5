//! `scimledger backup FILE`: a consistent copy of the embedded database, taken while servers
//! run. PostgreSQL has its own tools for this (pg_dump, base backups with WAL archiving), which
//! do it better than a copy made through one connection could: the command says so.

use std::path::Path;

use anyhow::{bail, Context};
use store::sqlite::SqliteStore;

use crate::config::Settings;

pub fn run(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    match settings.backend()? {
        store::Backend::Sqlite { data_dir } => {
            let bytes = SqliteStore::backup(&data_dir, file).with_context(|| format!("backing up {}", data_dir.display()))?;
            println!("backed up {} to {} ({bytes} bytes)", data_dir.display(), file.display());
            Ok(())
        }
        store::Backend::Postgres { .. } => bail!(
            "on PostgreSQL, back up with pg_dump -Fc (or base backups with WAL archiving for point-in-time recovery): \
             see 'Backup and restore' in docs/operations.md"
        ),
    }
}
