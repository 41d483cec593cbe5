//! The CloudEvents 1.0 envelope (JSON format) of an identity event.
//!
//! Besides the required attributes it carries extensions consumers need to order, dedupe and
//! attribute events: `position` (log position), `tenant`, `actor`, `resourceversion` (the
//! resource's version after the event), when the server acted on its own, `reason`
//! (`connection_disabled` for a purge), and, for an event written inside a W3C trace, the
//! Distributed Tracing extension's `traceparent` (the span that wrote it). `data` is the
//! event's payload plus the resource `id`
//! and the `connection` that caused it (null for an operator), enough to act without calling
//! back.

use serde_json::{json, Value};
use store::{RecordedEvent, StoreError};
use time::format_description::well_known::Rfc3339;

use crate::subject::subject;

pub const SPEC_VERSION: &str = "1.0";

#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `scimledger.<tenant>.<resource>.<event>`, where it is published on NATS.
    pub subject: String,
    /// The event id, which is also the deduplication id (`Nats-Msg-Id`).
    pub id: String,
    /// The `traceparent` the event was written under, if any.
    pub traceparent: Option<String>,
    pub json: Value,
}

impl Envelope {
    pub fn of(event: &RecordedEvent) -> Result<Self, StoreError> {
        let event_type = &event.payload.event_type;
        let collection = event.kind.collection();
        let mut data = match &event.payload.data {
            Value::Object(fields) => fields.clone(),
            _ => serde_json::Map::new(),
        };
        data.insert("id".into(), event.stream.to_string().into());
        data.insert("connection".into(), event.metadata.get("connection_id").cloned().unwrap_or(Value::Null));
        let time = event
            .recorded_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::corrupt(format!("the time of the event at position {}", event.position), e))?;
        let traceparent = event.metadata.get(telemetry::trace::TRACEPARENT).and_then(Value::as_str).map(str::to_owned);
        let mut json = json!({
            "specversion": SPEC_VERSION,
            "id": event.event_id.to_string(),
            "source": format!("/scimledger/tenants/{}", event.tenant),
            "type": format!("scimledger.{event_type}.v{}", event.payload.type_version),
            "subject": format!("{collection}/{}", event.stream),
            "time": time,
            "datacontenttype": "application/json",
            "position": event.position,
            "tenant": event.tenant.as_str(),
            "actor": actor(&event.metadata),
            "resourceversion": event.stream_version,
            "data": Value::Object(data),
        });
        if let Some(reason) = event.metadata.get("reason") {
            json["reason"] = reason.clone();
        }
        if let Some(traceparent) = &traceparent {
            json[telemetry::trace::TRACEPARENT] = traceparent.as_str().into();
        }
        Ok(Self { subject: subject(event.tenant.as_str(), event_type), id: event.event_id.to_string(), traceparent, json })
    }
}

/// `connection:<id>`, `operator:<name>` or `system:<what>`: who caused the event.
fn actor(metadata: &Value) -> Value {
    if let Some(id) = metadata.get("connection_id").and_then(Value::as_str) {
        return format!("connection:{id}").into();
    }
    if let Some(name) = metadata.get("operator").and_then(Value::as_str) {
        return format!("operator:{name}").into();
    }
    if let Some(what) = metadata.get("system").and_then(Value::as_str) {
        return format!("system:{what}").into();
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{EventPayload, ResourceId, StreamKind, TenantSlug};

    #[test]
    fn a_deactivation_carries_what_a_consumer_needs() {
        let stream = ResourceId::new();
        let event = RecordedEvent {
            position: 42,
            event_id: uuid::Uuid::now_v7(),
            tenant: TenantSlug::parse("acme").unwrap(),
            kind: StreamKind::User,
            stream,
            stream_version: 3,
            payload: EventPayload {
                event_type: "user.deactivated".into(),
                type_version: 1,
                data: json!({"user_name": "bjensen", "emails": ["b@example.com"], "manager": "m-1"}),
            },
            metadata: json!({"connection_id": "c-1", "request_id": "r-1"}),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let envelope = Envelope::of(&event).unwrap();
        assert_eq!(envelope.subject, "scimledger.acme.user.deactivated");
        assert_eq!(envelope.json["specversion"], "1.0");
        assert_eq!(envelope.json["type"], "scimledger.user.deactivated.v1");
        assert_eq!(envelope.json["subject"], format!("users/{stream}"));
        assert_eq!(envelope.json["time"], "1970-01-01T00:00:00Z");
        assert_eq!(envelope.json["actor"], "connection:c-1");
        assert_eq!((envelope.json["position"].clone(), envelope.json["resourceversion"].clone()), (json!(42), json!(3)));
        assert_eq!(envelope.json["data"]["id"], stream.to_string());
        assert_eq!(envelope.json["data"]["manager"], "m-1");
        assert_eq!(envelope.json["data"]["user_name"], "bjensen");
        assert_eq!(envelope.json["data"]["emails"], json!(["b@example.com"]));
        assert_eq!(envelope.json["data"]["connection"], "c-1");
        assert_eq!(envelope.id, event.event_id.to_string());
        assert_eq!(envelope.json.get("reason"), None);
        assert_eq!((envelope.traceparent, envelope.json.get("traceparent")), (None, None), "no trace, no traceparent");
    }

    #[test]
    fn a_purge_says_why_and_who() {
        let connection = uuid::Uuid::now_v7();
        let metadata = store::EventMetadata { actor: store::Actor::Purge { connection }, request_id: None, trace_id: None };
        let event = RecordedEvent {
            position: 7,
            event_id: uuid::Uuid::now_v7(),
            tenant: TenantSlug::parse("acme").unwrap(),
            kind: StreamKind::User,
            stream: ResourceId::new(),
            stream_version: 2,
            payload: EventPayload { event_type: "user.deleted".into(), type_version: 1, data: json!({"user_name": "bjensen"}) },
            metadata: metadata.to_json(),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let envelope = Envelope::of(&event).unwrap();
        assert_eq!(envelope.json["actor"], "system:purge");
        assert_eq!(envelope.json["reason"], store::CONNECTION_DISABLED);
        assert_eq!(envelope.json["data"]["connection"], Value::Null);
    }

    #[test]
    fn an_event_written_in_a_trace_carries_its_traceparent() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let event = RecordedEvent {
            position: 1,
            event_id: uuid::Uuid::now_v7(),
            tenant: TenantSlug::parse("acme").unwrap(),
            kind: StreamKind::User,
            stream: ResourceId::new(),
            stream_version: 1,
            payload: EventPayload { event_type: "user.provisioned".into(), type_version: 1, data: json!({}) },
            metadata: json!({"connection_id": "c-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "traceparent": traceparent}),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let envelope = Envelope::of(&event).unwrap();
        assert_eq!(envelope.traceparent.as_deref(), Some(traceparent));
        assert_eq!(envelope.json["traceparent"], traceparent);
    }
}
