//! What tenant, connection and operator commits write besides their events: their rows, the
//! unique names they reserve, and the ends of credentials. Shared by both backends.

use cqrs_es::Aggregate;
use domain::connection::Connection;
use domain::enrollment::template::EnrollmentTemplate;
use domain::operator::Operator;
use domain::routing::RoutingRule;
use domain::tenant::{Tenant, TenantCommand};
use domain::{Principal, StreamKind, TenantSlug};

use crate::api::{ConnectionRow, EventMetadata, ReadModelChange, Reservation, Store, StoreError, CONNECTION_NAME, OPERATOR_NAME, TENANT};
use crate::commands::{self, CommandError, Expect};

/// A tenant's creation claims its slug and adds its row, its deletion removes the row; its
/// enrollment template and routing rule live only in its stream, which the mailer and the SCIM
/// handler read (a changed rule tells the servers caching it, ADR 0074).
pub fn tenant_commit(before: &Tenant, after: &Tenant) -> (Vec<Reservation>, ReadModelChange) {
    if after.deleted() {
        return (Vec::new(), ReadModelChange::DeleteTenant);
    }
    match (before.slug(), after.slug()) {
        (None, Some(slug)) => {
            (vec![Reservation::Claim { kind: TENANT, key: slug.to_string() }], ReadModelChange::Tenant { parent: after.parent().cloned() })
        }
        _ if before.routing() != after.routing() => (Vec::new(), ReadModelChange::Routing),
        _ => (Vec::new(), ReadModelChange::Nothing),
    }
}

pub fn connection_commit(before: &Connection, after: &Connection) -> (Vec<Reservation>, ReadModelChange) {
    let state = after.state().expect("a connection commit leaves a connection");
    let reservations = match before.state() {
        None => vec![Reservation::Claim { kind: CONNECTION_NAME, key: state.name.to_string() }],
        Some(_) => Vec::new(),
    };
    let expiries = domain::credential::ended(before.state().map(|s| &s.credentials[..]).unwrap_or_default(), &state.credentials);
    let row = ConnectionRow {
        name: state.name.to_string(),
        auth: state.auth,
        login: state.login.clone(),
        settings: serde_json::to_value(&state.settings).expect("settings serialise"),
        disabled: state.disabled,
        purge: state.purge,
        expiries,
    };
    (reservations, ReadModelChange::Connection(row))
}

pub fn operator_commit(after: &Operator) -> (Vec<Reservation>, ReadModelChange) {
    let name = after.name().expect("an operator commit leaves an operator").to_string();
    (vec![Reservation::Claim { kind: OPERATOR_NAME, key: name.clone() }], ReadModelChange::Operator { name })
}

/// Sets the enrollment email of an existing tenant.
pub async fn configure_enrollment(
    store: &dyn Store,
    slug: &TenantSlug,
    template: EnrollmentTemplate,
    metadata: EventMetadata,
) -> Result<(), CommandError> {
    let command = TenantCommand::ConfigureEnrollment(template);
    commands::run::<Tenant>(store, slug, Tenant::stream_id(slug), command, &Principal::Operator, metadata, Expect::Existing)
        .await
        .map(|_| ())
}

/// Sets how a parent routes what its connections push (ADR 0074).
pub async fn set_routing(store: &dyn Store, slug: &TenantSlug, rule: RoutingRule, metadata: EventMetadata) -> Result<(), CommandError> {
    let command = TenantCommand::SetRouting(rule);
    commands::run::<Tenant>(store, slug, Tenant::stream_id(slug), command, &Principal::Operator, metadata, Expect::Existing)
        .await
        .map(|_| ())
}

/// The tenant as its stream holds it (its enrollment template), `None` if there is no such tenant.
pub async fn tenant(store: &dyn Store, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
    let events = store.stream(slug, StreamKind::Tenant, Tenant::stream_id(slug)).await?;
    let mut tenant = Tenant::default();
    for event in &events {
        tenant.apply(event.decode()?);
    }
    Ok(tenant.exists().then_some(tenant))
}

/// Creates a tenant on its stream (named by the slug), a sub-tenant of `parent` if given.
pub async fn create_tenant(
    store: &dyn Store,
    slug: &TenantSlug,
    parent: Option<TenantSlug>,
    metadata: EventMetadata,
) -> Result<(), CommandError> {
    let command = TenantCommand::Create { slug: slug.clone(), parent };
    commands::run::<Tenant>(store, slug, Tenant::stream_id(slug), command, &Principal::Operator, metadata, Expect::New).await.map(|_| ())
}

/// Deletes a tenant's read models and records `tenant.deleted`; its events stay in the log.
/// The caller checks that none of its connections is enabled.
pub async fn delete_tenant(store: &dyn Store, slug: &TenantSlug, metadata: EventMetadata) -> Result<(), CommandError> {
    let stream = Tenant::stream_id(slug);
    commands::run::<Tenant>(store, slug, stream, TenantCommand::Delete, &Principal::Operator, metadata, Expect::Existing).await.map(|_| ())
}
