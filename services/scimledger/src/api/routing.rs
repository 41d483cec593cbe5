//! A parent tenant's SCIM endpoint (ADR 0074): its writes go to the sub-tenant its routing rule
//! names, its reads span all its sub-tenants. A tenant without a rule reads and writes its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::routing::RoutingRule;
use domain::{ResourceId, TenantSlug};
use scim::document::Document;
use scim::ScimError;
use store::ResourceRecord;

use super::endpoint::Endpoint;
use super::errors::to_scim;
use super::{ApiState, Caller};

/// How many writes each parent refused as unroutable since the process started: what the
/// admin API shows beside the rule (the metric `scimledger.routing.unroutable` counts the same).
#[derive(Clone, Default)]
pub struct Refusals(Arc<Mutex<HashMap<TenantSlug, u64>>>);

impl Refusals {
    fn count(&self, parent: &TenantSlug) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(parent.clone()).or_default() += 1;
    }

    pub fn of(&self, parent: &TenantSlug) -> u64 {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(parent).copied().unwrap_or_default()
    }
}

/// The routing rule of the caller's tenant, if it is a parent that routes: asked by every SCIM
/// request, so kept in the tenant cache while no tenant commit says it changed.
pub(super) async fn rule_of(state: &ApiState, caller: &Caller) -> Result<Arc<Option<RoutingRule>>, ScimError> {
    state.tenants.routing(&*state.store, &caller.tenant).await.map_err(|e| to_scim(&e.into(), "Tenant", None))
}

/// The sub-tenant `rule` sends a new or replacing `resource` to; a resource it maps nowhere is
/// refused (400 invalidValue naming the rule and the value) and counted.
pub(super) fn route<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    rule: &RoutingRule,
    resource: &Document,
) -> Result<TenantSlug, ScimError> {
    E::route(rule, resource).cloned().map_err(|unroutable| {
        telemetry::metrics::unroutable(caller.tenant.as_str(), E::RESOURCE.name);
        state.unroutable.count(&caller.tenant);
        ScimError::invalid_value(format!("tenant '{}' routes by {}: {unroutable}", caller.tenant, unroutable.rule))
    })
}

/// The resource `id` of one of the parent's sub-tenants as the caller sees it, with the
/// sub-tenant that holds it; 404 when none does.
pub(super) async fn holder<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    id: ResourceId,
) -> Result<(TenantSlug, ResourceRecord), ScimError> {
    state
        .store
        .routed_one(&caller.tenant, E::TARGET, caller.access().scope, id)
        .await
        .map_err(|e| to_scim(&e.into(), E::RESOURCE.name, Some(id)))?
        .ok_or_else(|| to_scim(&domain::DomainError::NotFound.into(), E::RESOURCE.name, Some(id)))
}

/// Refuses a change that would route a resource out of the sub-tenant holding it: moving
/// between sub-tenants is not built (ADR 0074), and a silent move would split its history.
pub(super) fn stays<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    rule: &RoutingRule,
    holder: &TenantSlug,
    changed: &Document,
) -> Result<(), ScimError> {
    let routed = route::<E>(state, caller, rule, changed)?;
    match &routed == holder {
        true => Ok(()),
        false => Err(ScimError::invalid_value(format!(
            "this change routes the {} from sub-tenant '{holder}' to '{routed}'; moving between sub-tenants is not supported yet",
            E::RESOURCE.name
        ))),
    }
}

/// The parent's sub-tenants, whose related attributes (members, groups) a union page reads.
pub(super) async fn sub_tenants(state: &ApiState, parent: &TenantSlug) -> Result<Vec<TenantSlug>, ScimError> {
    let tenants = state.store.tenants().await.map_err(|e| to_scim(&e.into(), "Tenant", None))?;
    Ok(tenants.into_iter().filter(|t| t.parent.as_ref() == Some(parent)).map(|t| t.slug).collect())
}
