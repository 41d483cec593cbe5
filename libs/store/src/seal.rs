//! Tamper evidence (docs/adr/0052-the-log-is-sealed-in-a-hash-chain-per-tenant.md): each
//! tenant's events are sealed, in log order, into a SHA-256 hash chain, one link per event, by a
//! sealer that follows the log behind the appends (so an append pays nothing for it); verifying
//! walks a tenant's events and links together and names the first position where they part.
//!
//! A link holds the hash of its event (every stored field but the position) and the chain's
//! hash through it: `chain = SHA-256(previous chain ‖ position ‖ event hash)`, the first
//! `previous` being the tenant's genesis. What the event hash covers is written in a canonical
//! form (JSON with sorted keys, times as fixed-width UTC), so the same log hashes the same on
//! either backend.

use std::collections::{HashMap, VecDeque};

use domain::TenantSlug;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::api::{LogCursor, RecordedEvent, Store, StoreResult};
use crate::audit::AuditQuery;

/// The checkpoint where the sealer records the log position it has sealed through.
pub const SEALER: &str = "sealer";
/// Events sealed (or verified) per round trip.
const BATCH: u32 = 1000;
/// The name of the construction, in exported seals: a new one gets a new name.
pub const ALGORITHM: &str = "sha256-chain-v1";

pub type Hash = [u8; 32];

/// One event's link in its tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealLink {
    pub tenant: TenantSlug,
    pub position: i64,
    /// The hash of the event.
    pub event: Hash,
    /// The chain's hash through this event.
    pub chain: Hash,
    pub sealed_at: OffsetDateTime,
}

/// Where a tenant's chain starts.
pub fn genesis(tenant: &TenantSlug) -> Hash {
    let mut h = Sha256::new();
    h.update(ALGORITHM.as_bytes());
    h.update([0]);
    h.update(tenant.as_str().as_bytes());
    h.finalize().into()
}

/// The hash of an event's stored fields but its position (which the chain covers): each field
/// length-prefixed, so that no two events write the same bytes.
pub fn event_hash(event: &RecordedEvent) -> Hash {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(event.event_id.as_bytes());
    field(event.tenant.as_str().as_bytes());
    field(event.kind.as_str().as_bytes());
    field(event.stream.as_uuid().as_bytes());
    field(&event.stream_version.to_be_bytes());
    field(event.payload.event_type.as_bytes());
    field(&event.payload.type_version.to_be_bytes());
    field(canonical(&event.payload.data).as_bytes());
    field(canonical(&event.metadata).as_bytes());
    field(&event.recorded_at.unix_timestamp_nanos().to_be_bytes());
    h.finalize().into()
}

/// The chain through the event at `position` after `previous`.
pub fn chain(previous: &Hash, position: i64, event: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(position.to_be_bytes());
    h.update(event);
    h.finalize().into()
}

/// JSON with every object's keys sorted: the same value writes the same text whatever order a
/// database keeps its keys in (PostgreSQL's jsonb reorders them).
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Seals every event that can no longer be joined by an earlier one (`Store::settled`) and is
/// not sealed yet; returns the position sealed through. Sealing is deterministic: two sealers
/// (a server and the CLI) write the same links, and a link already written is kept.
pub async fn seal_settled(store: &dyn Store) -> StoreResult<i64> {
    // What is stored, encrypted personal fields and all: a key destroyed later changes nothing
    // the chain covers (docs/adr/0068).
    let store = store.stored();
    let settled = store.settled().await?;
    let mut after = store.checkpoint(SEALER).await?.position;
    // Each tenant's chain head as of `after`, read once per pass.
    let mut heads: HashMap<TenantSlug, Hash> = HashMap::new();
    while after < settled {
        let mut events = store.read_log(after, BATCH).await?;
        events.retain(|e| e.position <= settled);
        let Some(last) = events.last().map(|e| e.position) else { break };
        let sealed_at = crate::api::now();
        let mut links = Vec::with_capacity(events.len());
        for event in &events {
            let previous = match heads.get(&event.tenant) {
                Some(head) => *head,
                None => store.seal_head(&event.tenant, after).await?.map_or_else(|| genesis(&event.tenant), |link| link.chain),
            };
            let hash = event_hash(event);
            let next = chain(&previous, event.position, &hash);
            heads.insert(event.tenant.clone(), next);
            links.push(SealLink { tenant: event.tenant.clone(), position: event.position, event: hash, chain: next, sealed_at });
        }
        store.write_seals(links, LogCursor { transaction: last, position: last }).await?;
        after = last;
    }
    Ok(after)
}

/// Seals the log for as long as this process holds the sealer's lease (one sealer per
/// database), standing by while another does and taking over when it goes; until dropped.
pub async fn run_sealer(store: std::sync::Arc<dyn Store>) {
    loop {
        match store.try_lease(SEALER).await {
            Ok(Some(mut lease)) => {
                tokio::select! {
                    () = follow(&*store) => {}
                    () = lease.lost() => tracing::warn!("sealer: lost the lease; standing by"),
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "sealer: cannot take the lease; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Seals what settles, woken by this process's appends, and once a second for other processes'.
async fn follow(store: &dyn Store) {
    let mut appended = store.appended();
    loop {
        if let Err(error) = seal_settled(store).await {
            tracing::warn!(%error, "sealing the log failed; retrying");
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), appended.changed()).await;
    }
}

/// The newest seal of a tenant: what an auditor keeps elsewhere, to check later that the log
/// was not rewritten before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSeal {
    pub tenant: TenantSlug,
    pub position: i64,
    pub chain: Hash,
    pub sealed_at: OffsetDateTime,
}

/// What is wrong at the first bad position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tampering {
    /// The event there is not the one sealed.
    Edited,
    /// A sealed event is gone.
    Deleted,
    /// An event with no seal sits among sealed ones.
    Inserted,
    /// The event there was sealed at another position.
    Reordered,
    /// The seal there does not follow from the events (or from the seal exported earlier).
    SealMismatch,
}

impl Tampering {
    pub fn as_str(self) -> &'static str {
        match self {
            Tampering::Edited => "edited",
            Tampering::Deleted => "deleted",
            Tampering::Inserted => "inserted",
            Tampering::Reordered => "reordered",
            Tampering::SealMismatch => "seal_mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub position: i64,
    pub kind: Tampering,
    pub detail: String,
}

/// What verifying a tenant's log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Sealed events checked and found intact, up to the first problem.
    pub verified: u64,
    /// The position of the last link: everything at or before it was sealed.
    pub sealed_through: i64,
    /// Events after the last link, not sealed yet (the sealer's lag).
    pub unsealed: u64,
    pub problem: Option<Problem>,
}

/// Pages of one tenant's events, or of its links, read ahead one page at a time.
struct Pages<T> {
    buffer: VecDeque<T>,
    after: i64,
    done: bool,
}

impl<T> Pages<T> {
    fn new() -> Self {
        Self { buffer: VecDeque::new(), after: 0, done: false }
    }
}

impl Pages<RecordedEvent> {
    async fn peek(&mut self, store: &dyn Store, tenant: &TenantSlug) -> StoreResult<Option<&RecordedEvent>> {
        if self.buffer.is_empty() && !self.done {
            let query = AuditQuery {
                tenant: tenant.clone(),
                streams: None,
                event_type: None,
                actor: None,
                since: None,
                until: None,
                after_position: self.after,
                limit: BATCH,
            };
            self.buffer.extend(store.audit_log(&query).await?);
            self.done = self.buffer.is_empty();
            self.after = self.buffer.back().map_or(self.after, |e| e.position);
        }
        Ok(self.buffer.front())
    }
}

impl Pages<SealLink> {
    async fn peek(&mut self, store: &dyn Store, tenant: &TenantSlug) -> StoreResult<Option<&SealLink>> {
        if self.buffer.is_empty() && !self.done {
            self.buffer.extend(store.seal_links(tenant, self.after, BATCH).await?);
            self.done = self.buffer.is_empty();
            self.after = self.buffer.back().map_or(self.after, |l| l.position);
        }
        Ok(self.buffer.front())
    }
}

/// Walks the tenant's events and links together, in log order, in constant memory, and stops
/// at the first position where they disagree; with `anchor`, the chain must also pass through
/// that exported seal.
pub async fn verify(store: &dyn Store, tenant: &TenantSlug, anchor: Option<&ExportedSeal>) -> StoreResult<Verdict> {
    let store = store.stored();
    let sealed_through = store.seal_head(tenant, i64::MAX).await?.map_or(0, |link| link.position);
    let mut verdict = Verdict { verified: 0, sealed_through, unsealed: 0, problem: None };
    let (mut events, mut links) = (Pages::<RecordedEvent>::new(), Pages::<SealLink>::new());
    let mut head = genesis(tenant);
    let mut anchored = false;
    let problem = |position, kind, detail: String| Some(Problem { position, kind, detail });
    let deleted = |position| problem(position, Tampering::Deleted, "the sealed event is gone".into());
    loop {
        let event = events.peek(store, tenant).await?.cloned();
        let link = links.peek(store, tenant).await?.cloned();
        match (event, link) {
            (None, None) => break,
            (Some(event), Some(link)) if event.position == link.position => {
                let hash = event_hash(&event);
                if hash != link.event {
                    let elsewhere = sealed_position_of(store, tenant, &hash, event.position).await?;
                    verdict.problem = match elsewhere {
                        Some(at) => problem(event.position, Tampering::Reordered, format!("the event here was sealed at position {at}")),
                        None => problem(event.position, Tampering::Edited, "the event differs from the one sealed".into()),
                    };
                    break;
                }
                let next = chain(&head, event.position, &hash);
                if next != link.chain {
                    verdict.problem =
                        problem(link.position, Tampering::SealMismatch, "the seal does not follow from the seals before it".into());
                    break;
                }
                if let Some(anchor) = anchor.filter(|a| a.position == link.position) {
                    anchored = true;
                    if anchor.chain != next {
                        verdict.problem = problem(
                            link.position,
                            Tampering::SealMismatch,
                            "the exported seal does not match: history up to it was rewritten".into(),
                        );
                        break;
                    }
                }
                head = next;
                verdict.verified += 1;
                events.buffer.pop_front();
                links.buffer.pop_front();
            }
            (Some(event), Some(link)) if link.position < event.position => {
                verdict.problem = deleted(link.position);
                break;
            }
            (None, Some(link)) => {
                verdict.problem = deleted(link.position);
                break;
            }
            (Some(event), _) => {
                if event.position < sealed_through {
                    verdict.problem =
                        problem(event.position, Tampering::Inserted, "an event that was never sealed sits among sealed ones".into());
                    break;
                }
                verdict.unsealed += 1;
                events.buffer.pop_front();
            }
        }
    }
    if let (Some(anchor), None, false) = (anchor, &verdict.problem, anchored) {
        verdict.problem = problem(anchor.position, Tampering::SealMismatch, "the log has no seal at the exported seal's position".into());
    }
    Ok(verdict)
}

/// Another position whose link holds `hash`: where an event found at `position` was sealed.
async fn sealed_position_of(store: &dyn Store, tenant: &TenantSlug, hash: &Hash, position: i64) -> StoreResult<Option<i64>> {
    let mut links = Pages::<SealLink>::new();
    while let Some(link) = links.peek(store, tenant).await? {
        if &link.event == hash && link.position != position {
            return Ok(Some(link.position));
        }
        links.buffer.pop_front();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{EventPayload, ResourceId, StreamKind};
    use serde_json::json;

    fn event(position: i64, data: Value) -> RecordedEvent {
        RecordedEvent {
            position,
            event_id: uuid::Uuid::from_u128(position as u128),
            tenant: TenantSlug::parse("acme").unwrap(),
            kind: StreamKind::User,
            stream: ResourceId::from_uuid(uuid::Uuid::from_u128(7)),
            stream_version: position,
            payload: EventPayload { event_type: "user.renamed".into(), type_version: 1, data },
            metadata: json!({"operator": "cli"}),
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_event_hashes_the_same_whatever_order_its_keys_are_kept_in_and_differently_when_anything_changes() {
        let a = event(1, json!({"from": "a", "to": "b", "x": {"k": 1, "j": [2, {"z": 1, "y": 2}]}}));
        let reordered = event(1, json!({"x": {"j": [2, {"y": 2, "z": 1}], "k": 1}, "to": "b", "from": "a"}));
        assert_eq!(event_hash(&a), event_hash(&reordered));
        let mut edited = a.clone();
        edited.payload.data["to"] = json!("c");
        assert_ne!(event_hash(&a), event_hash(&edited));
        let mut moved = a.clone();
        moved.position = 2;
        assert_eq!(event_hash(&a), event_hash(&moved), "the position is the chain's");
        let mut later = a.clone();
        later.recorded_at += time::Duration::microseconds(1);
        assert_ne!(event_hash(&a), event_hash(&later));
    }

    #[test]
    fn the_chain_depends_on_every_link_before_it_and_the_tenant() {
        let acme = TenantSlug::parse("acme").unwrap();
        let (e1, e2) = (event_hash(&event(1, json!({}))), event_hash(&event(2, json!({}))));
        let one = chain(&chain(&genesis(&acme), 1, &e1), 2, &e2);
        assert_ne!(one, chain(&chain(&genesis(&acme), 2, &e2), 1, &e1), "order matters");
        assert_ne!(one, chain(&chain(&genesis(&acme), 1, &e1), 3, &e2), "positions matter");
        assert_ne!(one, chain(&chain(&genesis(&TenantSlug::parse("beta").unwrap()), 1, &e1), 2, &e2), "tenants differ");
    }
}
