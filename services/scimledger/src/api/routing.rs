//! A parent tenant's SCIM endpoint (ADR 0074): its writes go to the sub-tenant its routing rule
//! names, its reads span all its sub-tenants. A tenant without a rule reads and writes its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use domain::routing::RoutingRule;
use domain::user::User;
use domain::{ResourceId, TenantSlug};
use scim::document::Document;
use scim::ScimError;
use store::commands::CommandError;
use store::{moves, ResourceRecord, StoreError};

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
        refused::<E>(state, caller, format!("tenant '{}' routes by {}: {unroutable}", caller.tenant, unroutable.rule))
    })
}

/// A write the rule cannot route, counted: 400 invalidValue with `detail`.
fn refused<E: Endpoint>(state: &ApiState, caller: &Caller, detail: String) -> ScimError {
    telemetry::metrics::unroutable(caller.tenant.as_str(), E::RESOURCE.name);
    state.unroutable.count(&caller.tenant);
    ScimError::invalid_value(detail)
}

/// Before `command` runs on a resource of `tenant` under a rule routing users by membership:
/// the users it takes in as members (a group's write) go where the group is. A user waiting
/// for a group moves into `tenant` (`store::moves::transfer`, by the parent's connection, with
/// the request's metadata); a user another group has routed into another sub-tenant stays
/// there, and the write is refused (400 invalidValue, counted as unroutable) before anyone
/// moves. One look-up finds the holders of all the members named.
pub(super) async fn gather<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    rule: &RoutingRule,
    tenant: &TenantSlug,
    command: &E::Command,
) -> Result<(), ScimError> {
    let Some(waiting) = rule.users_wait_in() else { return Ok(()) };
    let joining = E::joining(command);
    if joining.is_empty() {
        return Ok(());
    }
    let store = &*state.store;
    let holders = store.user_holders(&caller.tenant, &joining).await.map_err(|e| to_scim(&e.into(), User::RESOURCE.name, None))?;
    let (mut waiting_here, mut seen) = (Vec::new(), HashSet::new());
    for id in joining.into_iter().filter(|id| seen.insert(*id)) {
        match holders.get(&id) {
            Some(holder) if holder == waiting => waiting_here.push(id),
            Some(holder) if holder != tenant => {
                return Err(refused::<E>(
                    state,
                    caller,
                    format!(
                        "member {id} is a user of sub-tenant '{holder}', where a group routed it, and this {} is in '{tenant}': tenant '{}' routes users by the groups that name them, and a routed user stays where it went; nothing was changed",
                        E::RESOURCE.name,
                        caller.tenant
                    ),
                ))
            }
            // A user of `tenant` already, or no user of the parent's (the command decides).
            _ => {}
        }
    }
    for id in waiting_here {
        match moves::transfer::<User>(store, waiting, tenant, id, caller.metadata()).await {
            Ok(_) => {}
            Err(CommandError::Store(StoreError::Uniqueness { value, .. })) => {
                return Err(ScimError::uniqueness(format!(
                    "member {id} would move from sub-tenant '{waiting}' to '{tenant}', where '{value}' is already the userName or an alias of another user; it was not moved"
                )))
            }
            Err(e) => return Err(to_scim(&e, User::RESOURCE.name, Some(id))),
        }
    }
    Ok(())
}

/// The resource `id` of one of the parent's sub-tenants as the caller sees it, with the
/// sub-tenant that holds it; 404 when none does. A user whose move stopped between its two
/// commits is in two: the newer holder, the move's destination, is the one read.
pub(super) async fn holder<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    id: ResourceId,
) -> Result<(TenantSlug, ResourceRecord), ScimError> {
    holders::<E>(state, caller, id).await?.into_iter().next().ok_or_else(|| not_found::<E>(id))
}

/// The holder of `id` as [`holder`] finds it, for a write: a move that stopped between its
/// commits is finished first, so the write goes to the one sub-tenant left holding it.
pub(super) async fn holder_for_write<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    id: ResourceId,
) -> Result<(TenantSlug, ResourceRecord), ScimError> {
    let mut holders = holders::<E>(state, caller, id).await?.into_iter();
    let (holder, record) = holders.next().ok_or_else(|| not_found::<E>(id))?;
    for (stale, _) in holders {
        moves::finish::<E>(&*state.store, &stale, &holder, id, caller.metadata())
            .await
            .map_err(|e| to_scim(&e, E::RESOURCE.name, Some(id)))?;
    }
    Ok((holder, record))
}

async fn holders<E: Endpoint>(state: &ApiState, caller: &Caller, id: ResourceId) -> Result<Vec<(TenantSlug, ResourceRecord)>, ScimError> {
    state
        .store
        .routed_one(&caller.tenant, E::TARGET, caller.access().scope, id)
        .await
        .map_err(|e| to_scim(&e.into(), E::RESOURCE.name, Some(id)))
}

fn not_found<E: Endpoint>(id: ResourceId) -> ScimError {
    to_scim(&domain::DomainError::NotFound.into(), E::RESOURCE.name, Some(id))
}

/// Where a change to a resource `holder` holds sends it, if elsewhere: a user then moves there
/// (`store::moves`); a resource the rule maps nowhere is refused as a new one would be.
pub(super) fn destination<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    rule: &RoutingRule,
    holder: &TenantSlug,
    changed: &Document,
) -> Result<Option<TenantSlug>, ScimError> {
    if !E::rerouted_by_change(rule) {
        return Ok(None);
    }
    let routed = route::<E>(state, caller, rule, changed)?;
    Ok((&routed != holder).then_some(routed))
}

/// The parent's sub-tenants, whose related attributes (members, groups) a union page reads.
pub(super) async fn sub_tenants(state: &ApiState, parent: &TenantSlug) -> Result<Vec<TenantSlug>, ScimError> {
    let tenants = state.store.tenants().await.map_err(|e| to_scim(&e.into(), "Tenant", None))?;
    Ok(tenants.into_iter().filter(|t| t.parent.as_ref() == Some(parent)).map(|t| t.slug).collect())
}
