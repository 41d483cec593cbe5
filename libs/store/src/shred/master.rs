//! The master keys' file: one key a line, 64 hex digits each, newest first, readable by its
//! owner alone (blank lines and `#` comments are skipped). The newest wraps every new data key;
//! the older ones still open what they wrapped until a rotation re-wraps it
//! (docs/operations.md, Master keys). The embedded default makes a file of one key beside the
//! database the first time; a deployment of several servers names one file they all share.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use domain::master_key::MasterKeyId;

use crate::api::{StoreError, StoreResult};

use super::cipher::{KeyRing, MasterKey};

/// The file made beside the embedded database when no other is configured.
pub const DEFAULT_FILE: &str = "master.key";

/// The keys of one file, as last read: read again when a key names a master key the process
/// has not read yet (another process's file gained a newer one before this process restarted).
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    ring: RwLock<Arc<KeyRing>>,
}

impl KeyFile {
    /// Reads the keys of `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(Self { path: path.to_owned(), ring: RwLock::new(Arc::new(read(path)?)) })
    }

    /// Reads the keys of `path`, first writing a new random one there (mode 0600) if the file
    /// does not exist. Two processes starting together agree: the file is created exclusively,
    /// and the one that loses reads the winner's.
    pub fn open_or_create(path: &Path) -> StoreResult<Self> {
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
                let ring = KeyRing::new(vec![MasterKey::from_bytes(&key)]).expect("one key");
                Ok(Self { path: path.to_owned(), ring: RwLock::new(Arc::new(ring)) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::open(path),
            Err(e) => Err(StoreError::Config(format!("creating the master key {}: {e}", path.display()))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys as last read.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The keys, read again if those last read lack `id`; a file that does not read (an editor
    /// midway through writing it) leaves the keys last read.
    pub fn ring_with(&self, id: &MasterKeyId) -> Arc<KeyRing> {
        let ring = self.ring();
        if ring.ids().any(|known| known == id) {
            return ring;
        }
        match read(&self.path) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.ring.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&fresh);
                tracing::info!(path = %self.path.display(), newest = %fresh.newest().id(), "read the master keys again");
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the master keys again");
                ring
            }
        }
    }
}

fn read(path: &Path) -> StoreResult<KeyRing> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::Config(format!("reading the master key {}: {e}", path.display())))?;
    parse(&text).map_err(|reason| StoreError::Config(format!("the master key file {}: {reason}", path.display())))
}

fn parse(text: &str) -> Result<KeyRing, String> {
    let mut keys: Vec<MasterKey> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = MasterKey::from_bytes(&key_bytes(line).ok_or_else(|| format!("line {}: a key must be 64 hex digits", n + 1))?);
        if keys.iter().any(|known| known.id() == key.id()) {
            return Err(format!("line {}: the key {} is there twice", n + 1, key.id()));
        }
        keys.push(key);
    }
    KeyRing::new(keys).ok_or_else(|| "it holds no key".to_owned())
}

fn key_bytes(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// A fresh key as a line of the file (`scimledger keys generate`).
pub fn generate() -> String {
    hex(&rand::random::<[u8; 32]>())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_master_key_is_written_once_for_its_owner_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let made = KeyFile::open_or_create(&path).unwrap().ring();
        let read = KeyFile::open_or_create(&path).unwrap().ring();
        assert_eq!(read.ids().collect::<Vec<_>>(), vec![made.newest().id()], "the same key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(KeyFile::open(&path), Err(StoreError::Config(_))));
    }

    #[test]
    fn a_file_holds_its_keys_newest_first_and_refuses_bad_lines() {
        let (old, new) = (generate(), generate());
        let ring = parse(&format!("# rotated on 2026-12-03\n{new}\n\n  {old}  \n")).unwrap();
        let ids: Vec<MasterKeyId> = ring.ids().cloned().collect();
        let expected = [&new, &old].map(|k| MasterKey::from_bytes(&key_bytes(k).unwrap()).id().clone());
        assert_eq!(ids, expected);
        assert!(parse(&format!("{old}\n")).is_ok(), "a single key, as files were before rotation");
        assert_eq!(parse(&format!("{new}\n{old}x\n")).err().unwrap(), "line 2: a key must be 64 hex digits");
        assert!(parse(&format!("{old}\n{old}\n")).err().unwrap().contains("twice"));
        assert_eq!(parse("# none\n").err().unwrap(), "it holds no key");
    }

    #[test]
    fn a_key_the_file_gained_is_read_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let file = KeyFile::open_or_create(&path).unwrap();
        let old = std::fs::read_to_string(&path).unwrap();
        let new = generate();
        std::fs::write(&path, format!("{new}\n{old}")).unwrap();
        let new_id = MasterKey::from_bytes(&key_bytes(&new).unwrap()).id().clone();
        assert_eq!(file.ring().ids().count(), 1, "read once");
        assert_eq!(file.ring_with(&new_id).newest().id(), &new_id);
        assert_eq!(file.ring().ids().count(), 2);
    }
}
