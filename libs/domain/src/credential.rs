//! A set of secrets that stand for one principal (a connection, an access token), each known
//! by id and by when it stops working: rotation with a grace period and revocation, decided
//! and applied the same way for every kind of principal (ADR 0020, docs/adr/0077).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::DomainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: Uuid,
    /// When it stops (or stopped) working; `None` while it is the newest and nothing retired it.
    pub expires_at: Option<OffsetDateTime>,
}

impl Credential {
    pub fn live_at(&self, at: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| end > at)
    }
}

/// An older secret a rotation retires, and when it stops working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retiring {
    pub credential_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What rotating to a new secret at `at` does to `credentials`: each one still working
/// `grace` later stops then (at once for zero).
pub fn rotation(credentials: &[Credential], grace: Duration, at: OffsetDateTime) -> Result<Vec<Retiring>, DomainError> {
    if grace.is_negative() {
        return Err(DomainError::invalid("a grace period cannot be negative"));
    }
    let end = at + grace;
    Ok(credentials
        .iter()
        .filter(|c| c.expires_at.is_none_or(|e| e > end))
        .map(|c| Retiring { credential_id: c.id, expires_at: end })
        .collect())
}

/// Applies a rotation: the retiring secrets get their end, the new one is the newest.
pub fn rotate(credentials: &mut Vec<Credential>, new: Uuid, retiring: &[Retiring]) {
    for retire in retiring {
        if let Some(c) = credentials.iter_mut().find(|c| c.id == retire.credential_id) {
            c.expires_at = Some(retire.expires_at);
        }
    }
    credentials.push(Credential { id: new, expires_at: None });
}

/// The ids of `credentials` still working at `at`: what a revocation then ends.
pub fn live(credentials: &[Credential], at: OffsetDateTime) -> Vec<Uuid> {
    credentials.iter().filter(|c| c.live_at(at)).map(|c| c.id).collect()
}

/// Applies a revocation: the named secrets stop at `at`.
pub fn revoke(credentials: &mut [Credential], ids: &[Uuid], at: OffsetDateTime) {
    for c in credentials.iter_mut().filter(|c| ids.contains(&c.id)) {
        c.expires_at = Some(at);
    }
}

/// The secrets whose end changed between `before` and `after` (a rotation's grace, a
/// revocation), with their new end: what the credentials table must be told.
pub fn ended(before: &[Credential], after: &[Credential]) -> Vec<(Uuid, OffsetDateTime)> {
    after
        .iter()
        .filter_map(|c| {
            let end = c.expires_at?;
            let was = before.iter().find(|b| b.id == c.id).and_then(|b| b.expires_at);
            (was != Some(end)).then_some((c.id, end))
        })
        .collect()
}
