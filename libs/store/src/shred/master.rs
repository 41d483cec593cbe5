//! The master key's file: 64 hex digits (and an optional newline), readable by its owner alone.
//! The embedded default makes one beside the database the first time; a deployment of several
//! servers names one file they all share (docs/operations.md, Master keys).

use std::io::Write;
use std::path::Path;

use crate::api::{StoreError, StoreResult};

use super::cipher::MasterKey;

/// The file made beside the embedded database when no other is configured.
pub const DEFAULT_FILE: &str = "master.key";

/// Reads the master key from `path`.
pub fn load(path: &Path) -> StoreResult<MasterKey> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::Config(format!("reading the master key {}: {e}", path.display())))?;
    parse(text.trim()).map_err(|reason| StoreError::Config(format!("the master key {}: {reason}", path.display())))
}

/// Reads the master key from `path`, first writing a new random one there (mode 0600) if the
/// file does not exist. Two processes starting together agree: the file is created exclusively,
/// and the one that loses reads the winner's.
pub fn load_or_create(path: &Path) -> StoreResult<MasterKey> {
    let key: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let text = format!("{}\n", hex(&key));
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| StoreError::Config(format!("writing the master key {}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "made a new master key: back it up with the database");
            Ok(MasterKey::from_bytes(&key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path),
        Err(e) => Err(StoreError::Config(format!("creating the master key {}: {e}", path.display()))),
    }
}

fn parse(text: &str) -> Result<MasterKey, &'static str> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("it must be 64 hex digits");
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| "it must be 64 hex digits")?;
    }
    Ok(MasterKey::from_bytes(&key))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_master_key_is_written_once_for_its_owner_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let made = load_or_create(&path).unwrap();
        let read = load_or_create(&path).unwrap();
        let (tenant, user) = (domain::TenantSlug::parse("acme").unwrap(), domain::ResourceId::new());
        let key = super::super::cipher::DataKey::random();
        assert!(read.unwrap(&made.wrap(&key, &tenant, user), &tenant, user).is_ok(), "the same key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Config(_))));
    }
}
