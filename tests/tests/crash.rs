//! Crashes lose nothing acknowledged and leave nothing half-done.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_es::Aggregate;
use domain::event::decode;
use domain::group::Group;
use domain::user::User;
use domain::{ResourceId, StreamKind};
use scimledger_e2e::{on_both_backends, Backend, Server};
use serde_json::{json, Value};

/// Folds the whole log, stream by stream, into the documents a fresh read model would hold.
async fn replay(backend: &Backend) -> BTreeMap<ResourceId, (Value, i64)> {
    let store = backend.open_store().await;
    let mut users: BTreeMap<ResourceId, (User, i64)> = BTreeMap::new();
    let mut groups: BTreeMap<ResourceId, (Group, i64)> = BTreeMap::new();
    for event in store.read_log(0, u32::MAX).await.unwrap() {
        match event.kind {
            StreamKind::User => {
                let (user, version) = users.entry(event.stream).or_default();
                user.apply(decode(&event.payload).unwrap());
                *version = event.stream_version;
            }
            StreamKind::Group => {
                let (group, version) = groups.entry(event.stream).or_default();
                group.apply(decode(&event.payload).unwrap());
                *version = event.stream_version;
            }
            // Tenants, connections, operators, roles, enrollments, devices, grants and master keys have no SCIM documents.
            StreamKind::Tenant
            | StreamKind::Connection
            | StreamKind::Operator
            | StreamKind::RolePolicy
            | StreamKind::RoleAssignment
            | StreamKind::AccessToken
            | StreamKind::Enrollment
            | StreamKind::Device
            | StreamKind::OauthGrant
            | StreamKind::MasterKey => {}
        }
    }
    users
        .into_iter()
        .filter_map(|(id, (user, version))| user.state().map(|s| (id, (Value::Object(s.document().into_map()), version))))
        .chain(groups.into_iter().filter_map(|(id, (group, version))| {
            group.state().map(|s| {
                let mut doc = s.document().into_map();
                doc.remove("members");
                (id, (Value::Object(doc), version))
            })
        }))
        .collect()
}

on_both_backends! {
    async fn kill_9_during_creates_loses_no_acknowledged_write(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (scim, acknowledged) = (scim.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        let name = format!("w{w}-u{n}@example.com");
                        let Ok(reply) = tokio::time::timeout(Duration::from_secs(5), scim.post_checked("/Users", &json!({"userName": name, "emails": [{"value": name}]}))).await else { break };
                        match reply {
                            Some(201) => acknowledged.lock().unwrap().push(name),
                            Some(_) => {}
                            None => break, // the server is gone
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill().await;
        for writer in writers {
            writer.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() > 20, "the writers made progress before the crash: {}", acknowledged.len());

        let server = Server::start(&backend).await;
        let scim = server.connect_reading_all("acme", "after-crash").await;
        let mut present = HashSet::new();
        let total = loop {
            let page = scim.get(&format!("/Users?count=1000&startIndex={}", present.len() + 1)).await.expect(200);
            let total = page["totalResults"].as_u64().unwrap();
            let resources = page["Resources"].as_array().unwrap();
            present.extend(resources.iter().map(|u| u["userName"].as_str().unwrap().to_owned()));
            if resources.is_empty() || present.len() as u64 >= total {
                break total;
            }
        };
        for name in &acknowledged {
            assert!(present.contains(name), "{name} got a 201 and must survive the crash");
        }

        // The read model is exactly what replaying the log gives: nothing half-written.
        let replayed = replay(&backend).await;
        let store = backend.open_store().await;
        let tenant = domain::TenantSlug::parse("acme").unwrap();
        assert_eq!(replayed.len() as u64, total);
        for (id, (document, version)) in &replayed {
            let record = store.user(&tenant, *id).await.unwrap().expect("every replayed user is in the read model");
            assert_eq!((&record.document, record.version), (document, *version), "{id}");
        }
    }
}
