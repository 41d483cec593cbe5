//! Driver and pool failures as store errors, by SQLSTATE and kind: the one place the
//! PostgreSQL backend decides what a failure means.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::api::{StoreError, Unstorable};

/// Maps a driver error. Constraint violations the caller expects (a taken login, a lost race
/// for a stream version) are told apart by the caller, by constraint name.
pub(crate) fn backend(error: tokio_postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        // No answer from the server: the connection broke, or never came up.
        if error.is_closed() || io_failure(&error) {
            return StoreError::Unavailable(error.to_string());
        }
        return StoreError::Internal(error.to_string());
    };
    let code = db.code();
    let class = &code.code()[..2];
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        StoreError::Conflict
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER {
        // 22021: a NUL byte (or bad UTF-8) in text; 22P05: `\u0000` in jsonb.
        StoreError::Unstorable(Unstorable::Character)
    } else if class == "54" {
        // Program limit exceeded: an index row too large, a statement too complex.
        StoreError::Unstorable(Unstorable::TooLarge)
    } else if matches!(class, "08" | "53" | "57" | "58") || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT {
        // Connection exception, insufficient resources, operator intervention (shutdown,
        // cancel, timeouts), system error (I/O): the server, not the request, is the trouble.
        StoreError::Unavailable(db.to_string())
    } else if matches!(class, "28" | "3D") {
        // Bad credentials, no such database.
        StoreError::Config(db.to_string())
    } else {
        StoreError::Internal(db.to_string())
    }
}

fn io_failure(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

/// Maps a failure to get a pooled connection.
pub(crate) fn pool(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(e) => backend(e),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(format!("no database connection: {error}")),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::Internal(error.to_string()),
    }
}

pub(crate) fn violated_constraint(error: &tokio_postgres::Error) -> Option<&str> {
    let db = error.as_db_error()?;
    (*db.code() == SqlState::UNIQUE_VIOLATION || *db.code() == SqlState::FOREIGN_KEY_VIOLATION).then(|| db.constraint()).flatten()
}
