//! The audit operations (docs/audit.md), one copy for `/admin/v1/tenants/{t}/audit` and
//! `scimledger audit`: the log filtered and paged by position, a resource's history with what
//! each event changed, a resource as of an instant, the whole log for export, and the seals:
//! the newest one, and verifying the log against them. None records an event: they read the
//! log, and sealing only derives from it. And erasure, which records its events like any
//! operator's change.

use domain::device::{Cause, Device, DeviceCommand};
use domain::names::fold_case;
use domain::user::{User, UserCommand};
use domain::{DomainError, Principal, ResourceId, StreamKind, TenantSlug};
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::Value;
use store::audit::{self, ActorFilter, AuditQuery, Instant};
use store::commands::{self, CommandError, Expect};
use store::seal;
use store::{RecordedEvent, Store};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit_model::*;
use super::error::AdminError;
use super::ops::Admin;
use crate::api::render::{self, Parts};

/// The kinds of stream a resource id may name, in the order they are tried.
const KINDS: [StreamKind; 3] = [StreamKind::User, StreamKind::Group, StreamKind::Connection];

/// An RFC 3339 time given as `name`.
fn time(name: &str, text: Option<&str>) -> Result<Option<OffsetDateTime>, AdminError> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|e| AdminError::InvalidValue(format!("{name} '{t}' is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

impl Admin<'_> {
    pub async fn audit_log(&self, tenant: &str, query: &LogQuery) -> Result<LogPage, AdminError> {
        let tenant = self.audited(tenant).await?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AdminError::InvalidValue(format!("limit must be from 1 to {MAX_PAGE}")));
        }
        let streams = match (&query.resource, &query.login) {
            (Some(_), Some(_)) => return Err(AdminError::InvalidValue("give a resource or a login, not both".into())),
            (Some(id), None) => Some(vec![resource_id(id)?]),
            (None, Some(login)) => Some(self.store.users_by_login(&tenant, &fold_case(login)).await?),
            (None, None) => None,
        };
        let actor = match &query.actor {
            Some(actor) => Some(self.actor_filter(&tenant, actor).await?),
            None => None,
        };
        let audit_query = AuditQuery {
            tenant,
            streams,
            event_type: query.event_type.clone(),
            actor,
            since: time("since", query.since.as_deref())?,
            until: time("until", query.until.as_deref())?,
            after_position: query.after.unwrap_or(0),
            limit,
        };
        let events = self.store.audit_log(&audit_query).await?;
        let next = (events.len() == limit as usize).then(|| events.last().map(|e| e.position)).flatten();
        Ok(LogPage { events: events.iter().map(AuditEvent::of).collect(), next })
    }

    /// The tenant an export reads, and its `since`, checked before the first line is written.
    pub async fn export_start(&self, tenant: &str, query: &ExportQuery) -> Result<(TenantSlug, Option<OffsetDateTime>), AdminError> {
        Ok((self.audited(tenant).await?, time("since", query.since.as_deref())?))
    }

    pub async fn history(&self, tenant: &str, resource: &str) -> Result<Vec<HistoryEntry>, AdminError> {
        let tenant = self.audited(tenant).await?;
        let (kind, events) = self.resource_stream(&tenant, resource).await?;
        // Folding a long stream is CPU work: off the async workers, as commands' is (ADR 0030).
        let steps = store::cpu::run(move || async move { audit::history(kind, events) }).await??;
        Ok(steps.into_iter().map(HistoryEntry::from).collect())
    }

    /// The SCIM representation the user or group had at the instant `query` names.
    pub async fn as_of(&self, tenant: &str, resource: &str, query: &AsOfQuery) -> Result<Value, AdminError> {
        let instant = match (time("at", query.at.as_deref())?, query.position) {
            (Some(at), None) => Instant::At(at),
            (None, Some(position)) => Instant::Position(position),
            _ => return Err(AdminError::InvalidValue("give either at (an RFC 3339 time) or position (a log position)".into())),
        };
        let tenant = self.audited(tenant).await?;
        let (kind, events) = self.resource_stream(&tenant, resource).await?;
        let resource_type = match kind {
            StreamKind::User => &USER_RESOURCE,
            StreamKind::Group => &GROUP_RESOURCE,
            _ => return Err(AdminError::InvalidValue(format!("'{resource}' is a {}; as-of answers for users and groups", kind.as_str()))),
        };
        let id = events[0].stream;
        // A user's groups then: from the streams of the groups that ever added it.
        let mut groups = Vec::new();
        if kind == StreamKind::User {
            for group in self.store.groups_naming(&tenant, id).await? {
                groups.push(self.store.stream(&tenant, StreamKind::Group, group).await?);
            }
        }
        let (snapshot, groups) = store::cpu::run(move || async move {
            Ok::<_, store::StoreError>((audit::as_of(kind, &events, instant)?, audit::groups_as_of(id, &groups, instant)?))
        })
        .await??;
        let Some(snapshot) = snapshot else {
            let then = match instant {
                Instant::At(at) => format!("at {}", crate::api_time(at)),
                Instant::Position(position) => format!("at log position {position}"),
            };
            return Err(AdminError::UnknownResource(format!("{} {id} did not exist {then} (not yet, or deleted)", kind.as_str())));
        };
        let base = format!("{}/scim/v2/{tenant}", self.origin);
        Ok(Value::Object(render::resource(Parts {
            resource: resource_type,
            base: &base,
            id,
            document: snapshot.document,
            version: snapshot.version,
            created: snapshot.created,
            last_modified: snapshot.last_modified,
            related: (kind == StreamKind::User).then_some(("groups", groups.as_slice())),
        })))
    }

    /// Erases a user (ADR 0068): deletes it if it is live (`user.deleted`, reason `erasure`),
    /// records `user.erased` and destroys its key in the same commit, by this operator. A user
    /// erased already is left as it is.
    pub async fn erase(&self, tenant: &str, user: &str) -> Result<ErasureView, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        let id = self.user_named(&tenant, user).await?;
        let outcome =
            commands::run::<User>(self.store, &tenant, id, UserCommand::Erase, &Principal::Operator, self.metadata(), Expect::Recorded)
                .await
                .map_err(|e| match e {
                    CommandError::Domain(DomainError::NotFound) => {
                        AdminError::UnknownResource(format!("no user '{user}' in tenant '{tenant}'"))
                    }
                    other => other.into(),
                })?;
        let unassigned = self.unassign_erased(&tenant, id).await?;
        Ok(ErasureView { tenant: tenant.to_string(), user: id.to_string(), erased: outcome.changed, version: outcome.version, unassigned })
    }

    /// Unassigns the erased user's devices, each by a command caused by the `user.erased`
    /// event, so that the registry's change is on the log with the operator as its actor.
    /// Erasing again finishes what a crash left undone: a device already unassigned for this
    /// cause records nothing.
    async fn unassign_erased(&self, tenant: &TenantSlug, user: ResourceId) -> Result<Vec<String>, AdminError> {
        let devices = self.store.devices(tenant, Some(user)).await?;
        if devices.is_empty() {
            return Ok(Vec::new());
        }
        let events = self.store.stream(tenant, StreamKind::User, user).await?;
        let Some(erasure) = events.iter().rev().find(|e| e.payload.event_type == "user.erased") else { return Ok(Vec::new()) };
        let cause = Cause { event: erasure.event_id, reason: "user_erased".into() };
        let mut unassigned = Vec::new();
        for device in devices {
            let command = DeviceCommand::Unassign { cause: Some(cause.clone()) };
            let id = Device::stream_id(tenant, &device.serial);
            let outcome =
                commands::run::<Device>(self.store, tenant, id, command, &Principal::Operator, self.metadata(), Expect::Existing).await;
            if outcome?.changed {
                unassigned.push(device.serial);
            }
        }
        Ok(unassigned)
    }

    /// The user an id or a login names: the one holding the login now, else the one user
    /// that ever had it.
    async fn user_named(&self, tenant: &TenantSlug, user: &str) -> Result<ResourceId, AdminError> {
        if let Ok(id) = Uuid::parse_str(user) {
            return Ok(ResourceId::from_uuid(id));
        }
        match self.store.users_by_login(tenant, &fold_case(user)).await?.as_slice() {
            [] => Err(AdminError::UnknownResource(format!("no user '{user}' in tenant '{tenant}'"))),
            [one] => Ok(*one),
            several => {
                let ids: Vec<String> = several.iter().map(ToString::to_string).collect();
                Err(AdminError::InvalidValue(format!("login '{user}' named several users over time ({}); give an id", ids.join(", "))))
            }
        }
    }

    /// The tenant an audit reads: one that exists, or the deployment's own log (`_deployment`:
    /// operators' events).
    async fn audited(&self, slug: &str) -> Result<TenantSlug, AdminError> {
        let deployment = TenantSlug::deployment();
        match slug == deployment.as_str() {
            true => Ok(deployment),
            false => self.existing_tenant(slug).await,
        }
    }

    /// The stream a resource id, or a login, names, and its kind.
    async fn resource_stream(&self, tenant: &TenantSlug, resource: &str) -> Result<(StreamKind, Vec<RecordedEvent>), AdminError> {
        let unknown = || AdminError::UnknownResource(format!("no user, group or connection '{resource}' in tenant '{tenant}'"));
        let id = match self.user_named(tenant, resource).await {
            Err(AdminError::UnknownResource(_)) => return Err(unknown()),
            other => other?,
        };
        for kind in KINDS {
            let events = self.store.stream(tenant, kind, id).await?;
            if !events.is_empty() {
                return Ok((kind, events));
            }
        }
        Err(unknown())
    }

    /// Whom `--actor` names: an explicit `kind:who`, else a connection of the tenant (by name
    /// or id), else an operator.
    async fn actor_filter(&self, tenant: &TenantSlug, actor: &str) -> Result<ActorFilter, AdminError> {
        match actor.split_once(':') {
            Some(("connection", id)) => Ok(ActorFilter::Connection(
                Uuid::parse_str(id).map_err(|_| AdminError::InvalidValue(format!("actor '{actor}': '{id}' is not a connection id")))?,
            )),
            Some(("operator", name)) => Ok(ActorFilter::Operator(name.to_owned())),
            Some(("system", what)) => Ok(ActorFilter::System(what.to_owned())),
            _ => match self.find(tenant, actor).await {
                Ok(connection) => Ok(ActorFilter::Connection(connection.id)),
                Err(AdminError::UnknownConnection { .. }) => Ok(ActorFilter::Operator(actor.to_owned())),
                Err(other) => Err(other),
            },
        }
    }
}

/// The next page of a tenant's whole log after position `after` (an export's step), oldest first.
pub async fn export_page(
    store: &dyn Store,
    tenant: &TenantSlug,
    since: Option<OffsetDateTime>,
    after: i64,
) -> Result<Vec<RecordedEvent>, AdminError> {
    let query = AuditQuery {
        tenant: tenant.clone(),
        streams: None,
        event_type: None,
        actor: None,
        since,
        until: None,
        after_position: after,
        limit: MAX_PAGE,
    };
    Ok(store.audit_log(&query).await?)
}

fn resource_id(text: &str) -> Result<ResourceId, AdminError> {
    Uuid::parse_str(text).map(ResourceId::from_uuid).map_err(|_| AdminError::InvalidValue(format!("resource '{text}' is not an id")))
}

impl Admin<'_> {
    /// Seals what the log has settled (what a running server's sealer does on its own), and
    /// answers with the tenant's newest seal.
    pub async fn seal(&self, tenant: &str) -> Result<SealView, AdminError> {
        let tenant = self.audited(tenant).await?;
        seal::seal_settled(self.store).await?;
        let link = self.store.seal_head(&tenant, i64::MAX).await?;
        let link = link.ok_or_else(|| AdminError::UnknownResource(format!("tenant '{tenant}' has no sealed event yet")))?;
        Ok(SealView {
            tenant: tenant.to_string(),
            algorithm: seal::ALGORITHM.into(),
            position: link.position,
            chain: hex::encode(link.chain),
            sealed_at: crate::api_time(link.sealed_at),
        })
    }

    /// Checks the tenant's events against their seals, and against `anchor` (a seal exported
    /// earlier) when given. Reads only.
    pub async fn verify(&self, tenant: &str, anchor: Option<&SealView>) -> Result<VerifyView, AdminError> {
        let tenant = self.audited(tenant).await?;
        let anchor = anchor.map(|a| exported(&tenant, a)).transpose()?;
        let verdict = seal::verify(self.store, &tenant, anchor.as_ref()).await?;
        Ok(VerifyView {
            tenant: tenant.to_string(),
            intact: verdict.problem.is_none(),
            verified: verdict.verified,
            sealed_through: verdict.sealed_through,
            unsealed: verdict.unsealed,
            problem: verdict.problem.map(|p| ProblemView { position: p.position, kind: p.kind.as_str().into(), detail: p.detail }),
        })
    }
}

/// An exported seal as the chain it vouches for, if it is one of this tenant's.
fn exported(tenant: &TenantSlug, view: &SealView) -> Result<seal::ExportedSeal, AdminError> {
    let invalid = |why: &str| AdminError::InvalidValue(format!("the exported seal {why}"));
    if view.tenant != tenant.as_str() {
        return Err(invalid(&format!("is tenant '{}''s, not '{tenant}''s", view.tenant)));
    }
    if view.algorithm != seal::ALGORITHM {
        return Err(invalid(&format!("uses '{}', not {}", view.algorithm, seal::ALGORITHM)));
    }
    let chain = hex::decode(&view.chain)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| invalid("has no 64-hex-digit chain"))?;
    let sealed_at = OffsetDateTime::parse(&view.sealed_at, &Rfc3339).map_err(|_| invalid("has no RFC 3339 sealed_at"))?;
    Ok(seal::ExportedSeal { tenant: tenant.clone(), position: view.position, chain, sealed_at })
}
