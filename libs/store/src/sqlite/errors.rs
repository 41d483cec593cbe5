//! rusqlite failures as store errors, by SQLite's result code: the one place the embedded
//! backend decides what a failure means.

use rusqlite::{ffi, ErrorCode};

use crate::api::{StoreError, Unstorable};

/// Maps a driver error. Constraint violations the caller expects (a taken login, a lost race
/// for a stream version) are told apart by the caller, through [`violation`].
pub(crate) fn backend(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            // Another process holds the lock past the busy timeout, or the disk failed or is
            // full: the file, not the request, is the trouble.
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::OperationInterrupted => StoreError::Unavailable(error.to_string()),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::corrupt("the database file", error),
            ErrorCode::TooBig => StoreError::Unstorable(Unstorable::TooLarge),
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => StoreError::Config(error.to_string()),
            _ => StoreError::Internal(error.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(_)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::corrupt("a stored value", error),
        _ => StoreError::Internal(error.to_string()),
    }
}

/// A constraint a failed statement violated. SQLite names a unique constraint (or a primary
/// key) by its columns, not by the name the schema gives it: `reservations.tenant,
/// reservations.kind, reservations.key`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Violation<'e> {
    Unique(&'e str),
    ForeignKey,
}

pub(crate) fn violation(error: &rusqlite::Error) -> Option<Violation<'_>> {
    let rusqlite::Error::SqliteFailure(failure, message) = error else { return None };
    match failure.extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            message.as_deref()?.strip_prefix("UNIQUE constraint failed: ").map(Violation::Unique)
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        _ => None,
    }
}
