//! The handlers /Users and /Groups share.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{HOST, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use domain::group::Group;
use domain::routing::RoutingRule;
use domain::user::User;
use domain::{ResourceId, TenantSlug};
use scim::document::Document;
use scim::list::{cursor_list_response, list_response, ListQuery, Paging};
use scim::patch::PatchRequest;
use scim::projection::Selection;
use scim::ScimError;
use serde_json::Value;
use store::query::Target;
use store::{Page, Reference, ResourceRecord};

use super::body::ScimBody;
use super::cursors;
use super::endpoint::Endpoint;
use super::group_body;
use super::render::{self, Parts};
use super::reply::{etag, EntityTags, ScimReply};
use super::routing;
use super::{ApiState, Caller};
use crate::config::GroupPatchResponse;
use store::commands::{self, CommandError, Outcome};
use store::{moves, StoreError};

use super::errors::to_scim;

type Params = Query<Vec<(String, String)>>;
type Reply = Result<ScimReply, ScimReply>;

/// `https://host`: the configured public URL, else the Host the client used.
pub(crate) fn origin(state: &ApiState, headers: &HeaderMap) -> String {
    match &state.settings.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// `https://host/scim/v2/<tenant>`.
pub(super) fn base_url(state: &ApiState, headers: &HeaderMap, caller: &Caller) -> String {
    format!("{}/scim/v2/{}", origin(state, headers), caller.tenant)
}

pub(super) fn id_of<E: Endpoint>(text: &str) -> Result<ResourceId, ScimError> {
    text.parse().map_err(|_| ScimError::not_found(format!("{} {text} not found", E::RESOURCE.name)))
}

fn selection_of<E: Endpoint>(params: &[(String, String)]) -> Result<Selection, ScimError> {
    let pairs = params.iter().filter(|(k, _)| names_selection(k)).map(|(k, v)| (k.as_str(), v.as_str()));
    Ok(ListQuery::from_params(pairs, E::RESOURCE)?.selection)
}

/// `attributes` or `excludedAttributes`: the parameters that select what a response shows.
fn names_selection(parameter: &str) -> bool {
    parameter.eq_ignore_ascii_case("attributes") || parameter.eq_ignore_ascii_case("excludedAttributes")
}

fn failed<E: Endpoint>(error: CommandError, id: Option<ResourceId>) -> ScimError {
    to_scim(&error, E::RESOURCE.name, id)
}

/// The derived attribute of each resource, read from the tenants that hold them (the caller's
/// own, or a parent's sub-tenants), unless the selection leaves it out.
async fn related_for<E: Endpoint>(
    state: &ApiState,
    tenants: &[TenantSlug],
    selection: &Selection,
    ids: &[ResourceId],
) -> Result<Option<HashMap<ResourceId, Vec<Reference>>>, ScimError> {
    if ids.is_empty() || !selection.includes(E::RESOURCE, E::RELATED) {
        return Ok(None);
    }
    let mut related = HashMap::new();
    for tenant in tenants {
        related.extend(E::related(&*state.store, tenant, ids).await.map_err(|e| failed::<E>(e.into(), None))?);
    }
    Ok(Some(related))
}

fn render_record<E: Endpoint>(
    base: &str,
    record: ResourceRecord,
    related: Option<&HashMap<ResourceId, Vec<Reference>>>,
    selection: &Selection,
) -> Value {
    let Value::Object(document) = record.document else { unreachable!("read models hold JSON objects") };
    let references = related.map(|r| (E::RELATED, r.get(&record.id).map(Vec::as_slice).unwrap_or_default()));
    let resource = render::resource(Parts {
        resource: E::RESOURCE,
        base,
        id: record.id,
        document,
        version: record.version,
        created: record.created,
        last_modified: record.last_modified,
        related: references,
    });
    Value::Object(selection.apply(E::RESOURCE, resource))
}

/// One page of `E` rendered, and the total.
async fn rendered_page<E: Endpoint>(
    state: &ApiState,
    headers: &HeaderMap,
    caller: &Caller,
    query: &ListQuery,
) -> Result<(Page, Vec<Value>), ScimError> {
    let with_related = query.selection.includes(E::RESOURCE, E::RELATED);
    let scope = caller.access().scope;
    // A parent's page spans the union of its sub-tenants (ADR 0074).
    let (listed, tenants) = match *routing::rule_of(state, caller).await? {
        None => (E::list(&*state.store, &caller.tenant, scope, query, with_related).await, vec![caller.tenant.clone()]),
        Some(_) => (
            // Only a user's row carries its related attribute (its groups); members are read apart.
            state.store.routed_page(&caller.tenant, E::TARGET, scope, query, with_related && E::TARGET == Target::Users).await,
            routing::sub_tenants(state, &caller.tenant).await?,
        ),
    };
    let mut page = listed.map_err(|e| failed::<E>(e.into(), None))?;
    let related = match page.groups.take() {
        Some(groups) => Some(groups),
        None => related_for::<E>(state, &tenants, &query.selection, &page.records.iter().map(|r| r.id).collect::<Vec<_>>()).await?,
    };
    let base = base_url(state, headers, caller);
    let records = std::mem::take(&mut page.records);
    let resources = records.into_iter().map(|r| render_record::<E>(&base, r, related.as_ref(), &query.selection)).collect();
    Ok((page, resources))
}

async fn page<E: Endpoint>(state: &ApiState, headers: &HeaderMap, caller: &Caller, query: ListQuery) -> Reply {
    let (page, resources) = rendered_page::<E>(state, headers, caller, &query).await?;
    let body = match query.paging {
        Paging::Index { start_index } => list_response(page.total, start_index, resources),
        Paging::Cursor(_) => {
            let sealed = |position| cursors::seal(state, caller, &query.cursor(position));
            cursor_list_response(page.total, resources, page.next.map(sealed), page.previous.map(sealed))
        }
    };
    Ok(ScimReply::ok(body))
}

/// POST /.search: Users, then Groups, as one list. A filter naming attributes that only one
/// resource type has searches that type alone.
pub async fn search_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ScimBody(mut body): ScimBody,
) -> Reply {
    cursors::open_search(&state, &caller, &mut body)?;
    let users = ListQuery::from_search_request(&body, User::RESOURCE);
    let groups = ListQuery::from_search_request(&body, Group::RESOURCE);
    let (users, groups) = match (users, groups) {
        (Err(e), Err(_)) => return Err(e.into()),
        (users, groups) => (users.ok(), groups.ok()),
    };
    let (paging, count) = users.as_ref().or(groups.as_ref()).map(|q| (q.paging, q.count)).expect("one of the two parsed");
    let Paging::Index { start_index: start } = paging else {
        // A cursor names a place in one resource type's order; the root search spans two.
        return Err(ScimError::invalid_value("cursor pages are per resource type: search /Users/.search or /Groups/.search").into());
    };
    let mut resources = Vec::new();
    let mut total = 0;
    if let Some(query) = users {
        let (found, page) = rendered_page::<User>(&state, &headers, &caller, &query).await?;
        total += found.total;
        resources.extend(page);
    }
    if let Some(mut query) = groups {
        // The window continues into the groups where the users end.
        query.paging = Paging::Index { start_index: start.saturating_sub(total).max(1) };
        query.count = count.saturating_sub(resources.len() as u32);
        let (found, page) = rendered_page::<Group>(&state, &headers, &caller, &query).await?;
        total += found.total;
        resources.extend(page);
    }
    Ok(ScimReply::ok(list_response(total, start, resources)))
}

/// GET /Users, GET /Groups.
pub async fn list<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(mut params): Params,
) -> Reply {
    cursors::open_params(&state, &caller, &mut params)?;
    let query = ListQuery::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), E::RESOURCE)?;
    page::<E>(&state, &headers, &caller, query).await
}

/// POST /Users/.search, POST /Groups/.search.
pub async fn search<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ScimBody(mut body): ScimBody,
) -> Reply {
    cursors::open_search(&state, &caller, &mut body)?;
    let query = ListQuery::from_search_request(&body, E::RESOURCE)?;
    page::<E>(&state, &headers, &caller, query).await
}

/// GET /Users/{id}, GET /Groups/{id}.
pub async fn fetch<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(params): Params,
) -> Reply {
    let id = id_of::<E>(&id)?;
    let selection = selection_of::<E>(&params)?;
    let routed = routing::rule_of(&state, &caller).await?.is_some();
    if E::TARGET == Target::Groups && selection.includes(E::RESOURCE, E::RELATED) {
        return fetch_with_members::<E>(&state, &caller, &headers, id, selection, routed).await;
    }
    let (tenant, record) = match routed {
        true => routing::holder::<E>(&state, &caller, id).await?,
        false => (
            caller.tenant.clone(),
            E::read(&*state.store, &caller.tenant, caller.access().scope, id)
                .await
                .map_err(|e| failed::<E>(e.into(), Some(id)))?
                .ok_or_else(|| failed::<E>(domain::DomainError::NotFound.into(), Some(id)))?,
        ),
    };
    let version = record.version;
    if let Some(unchanged) = not_modified(&headers, version) {
        return Ok(unchanged);
    }
    let related = related_for::<E>(&state, &[tenant], &selection, &[id]).await?;
    let base = base_url(&state, &headers, &caller);
    Ok(ScimReply::ok(render_record::<E>(&base, record, related.as_ref(), &selection)).with_etag(etag(version)))
}

/// 304 when the client's If-None-Match names `version`.
fn not_modified(headers: &HeaderMap, version: i64) -> Option<ScimReply> {
    let seen = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok())?;
    EntityTags::parse(seen).names(version).then(|| ScimReply::status(StatusCode::NOT_MODIFIED).with_etag(etag(version)))
}

/// A group with its members, streamed from one snapshot of the tenant holding it (ADR 0076):
/// its members can run to hundreds of thousands.
async fn fetch_with_members<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    id: ResourceId,
    selection: Selection,
    routed: bool,
) -> Reply {
    let tenant = match routed {
        true => routing::holder::<E>(state, caller, id).await?.0,
        false => caller.tenant.clone(),
    };
    let (record, pages) = state
        .store
        .group_with_members(&tenant, caller.access().scope, id, group_body::MEMBER_PAGE)
        .await
        .map_err(|e| failed::<E>(e.into(), Some(id)))?
        .ok_or_else(|| failed::<E>(domain::DomainError::NotFound.into(), Some(id)))?;
    let version = record.version;
    if let Some(unchanged) = not_modified(headers, version) {
        return Ok(unchanged);
    }
    let base = base_url(state, headers, caller);
    // Rendered with no members, which then follow from the pages.
    let Value::Object(head) = render_record::<E>(&base, record, Some(&HashMap::new()), &selection) else {
        unreachable!("resources render as objects")
    };
    Ok(ScimReply::streamed(group_body::body(base, head, selection, pages)).with_etag(etag(version)))
}

/// A command's outcome as the response body.
async fn render_outcome<E: Endpoint>(
    state: &ApiState,
    headers: &HeaderMap,
    caller: &Caller,
    (tenant, outcome): (TenantSlug, Outcome<E>),
    selection: &Selection,
    fresh: bool,
) -> Result<Value, ScimError> {
    let document = outcome.aggregate.document().unwrap_or_default().into_map();
    let record = ResourceRecord {
        id: outcome.id,
        document: Value::Object(document),
        version: outcome.version,
        created: outcome.created,
        last_modified: outcome.last_modified,
    };
    // A resource created this instant belongs to no group yet; only a group's own members need loading.
    let related = if fresh && E::RELATED == "groups" { None } else { related_for::<E>(state, &[tenant], selection, &[outcome.id]).await? };
    Ok(render_record::<E>(&base_url(state, headers, caller), record, related.as_ref(), selection))
}

fn if_match(headers: &HeaderMap) -> Option<EntityTags> {
    headers.get(IF_MATCH).map(|v| EntityTags::parse(v.to_str().unwrap_or_default()))
}

/// The version a change must be decided on, from the client's If-Match: `None` for any.
async fn required_version<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    tenant: &TenantSlug,
    id: ResourceId,
    if_match: Option<EntityTags>,
) -> Result<Option<i64>, ScimError> {
    let stale = || ScimError::precondition_failed(format!("If-Match names no current version of {} {id}", E::RESOURCE.name));
    match if_match {
        None | Some(EntityTags::Any) => Ok(None),
        Some(EntityTags::Versions(versions)) => match versions.as_slice() {
            [] => Err(stale()),
            [one] => Ok(Some(*one)),
            // Several tags: the current version, if listed, is the one to be decided on.
            _ => match E::read(&*state.store, tenant, caller.access().scope, id).await.map_err(|e| failed::<E>(e.into(), Some(id)))? {
                Some(record) if versions.contains(&record.version) => Ok(Some(record.version)),
                Some(_) => Err(stale()),
                None => Err(failed::<E>(domain::DomainError::NotFound.into(), Some(id))),
            },
        },
    }
}

/// A write to one resource, from its own endpoint or from /Bulk.
pub(super) enum Write {
    Create(Value),
    Replace(ResourceId, Value),
    Patch(ResourceId, Value),
    Delete(ResourceId),
}

/// A POST or PUT body as a resource within the limits (a PATCH's result is checked as it is
/// decided, against the same limits).
fn resource_document<E: Endpoint>(state: &ApiState, body: &Value) -> Result<Document, ScimError> {
    let document = Document::parse(body, E::RESOURCE)?;
    state.settings.limits().check_size(&document)?;
    Ok(document)
}

/// Parses a write into its domain command and runs it: the one path every write takes.
/// `if_match` names the versions the client last saw. Answers the tenant written (a parent's
/// write goes to a sub-tenant, ADR 0074) and the outcome; a delete has no outcome to show.
pub(super) async fn write<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    write: Write,
    if_match: Option<EntityTags>,
) -> Result<(TenantSlug, Option<Outcome<E>>), ScimError> {
    let store = &*state.store;
    let access = caller.access();
    let routing = routing::rule_of(state, caller).await?;
    let rule = Option::as_ref(&routing);
    // A parent's write to an existing resource goes to the sub-tenant holding it.
    let (tenant, current) = match (&rule, &write) {
        (Some(_), Write::Replace(id, _) | Write::Patch(id, _) | Write::Delete(id)) => {
            let (holder, record) = routing::holder_for_write::<E>(state, caller, *id).await?;
            (holder, Some(record))
        }
        _ => (caller.tenant.clone(), None),
    };
    let if_match = match &write {
        Write::Create(_) => None,
        Write::Replace(id, _) | Write::Patch(id, _) | Write::Delete(id) => {
            required_version::<E>(state, caller, &tenant, *id, if_match).await?
        }
    };
    match write {
        Write::Create(body) => {
            let document = resource_document::<E>(state, &body)?;
            let tenant = match &rule {
                Some(rule) => routing::route::<E>(state, caller, rule, &document)?,
                None => tenant,
            };
            let command = E::create(document, access.principal.owner());
            if let Some(rule) = &rule {
                routing::gather::<E>(state, caller, rule, &tenant, &command).await?;
            }
            let outcome = commands::create::<E>(store, &tenant, command, caller.metadata()).await.map_err(|e| failed::<E>(e, None))?;
            Ok((tenant, Some(outcome)))
        }
        Write::Replace(id, body) => {
            let document = resource_document::<E>(state, &body)?;
            let to = match &rule {
                Some(rule) => routing::destination::<E>(state, caller, rule, &tenant, &document)?,
                None => None,
            };
            change_or_move::<E>(state, caller, rule, (tenant, to), id, E::replace(document), if_match).await
        }
        Write::Patch(id, body) => {
            let request = PatchRequest::parse(&body)?.with_limits(state.settings.limits());
            // The patch is decided again by the command; here it only tells where it would route.
            let mut to = None;
            if let (Some(rule), Some(record)) = (&rule, current) {
                let Value::Object(stored) = record.document else { unreachable!("read models hold JSON objects") };
                if let Ok(patched) = Document::from_edited(stored, E::RESOURCE).and_then(|d| request.apply(&d, E::RESOURCE)) {
                    to = routing::destination::<E>(state, caller, rule, &tenant, &patched)?;
                }
            }
            change_or_move::<E>(state, caller, rule, (tenant, to), id, E::patch(request), if_match).await
        }
        Write::Delete(id) => {
            commands::change::<E>(store, &tenant, id, E::delete(), &access.principal, caller.metadata(), if_match)
                .await
                .map_err(|e| failed::<E>(e, Some(id)))?;
            Ok((tenant, None))
        }
    }
}

/// A change to the resource `id` of `holder`; when the change routes it to another of the
/// parent's sub-tenants (`to`), it moves there with the change made (ADR 0074). A change made
/// where it is first gathers the users it takes in under the parent's `rule`. Answers the
/// tenant that holds it after.
async fn change_or_move<E: Endpoint>(
    state: &ApiState,
    caller: &Caller,
    rule: Option<&RoutingRule>,
    (holder, to): (TenantSlug, Option<TenantSlug>),
    id: ResourceId,
    command: E::Command,
    if_match: Option<i64>,
) -> Result<(TenantSlug, Option<Outcome<E>>), ScimError> {
    let (store, principal) = (&*state.store, &caller.access().principal);
    let Some(to) = to else {
        if let Some(rule) = rule {
            routing::gather::<E>(state, caller, rule, &holder, &command).await?;
        }
        let outcome = commands::change::<E>(store, &holder, id, command, principal, caller.metadata(), if_match).await;
        return Ok((holder, Some(outcome.map_err(|e| failed::<E>(e, Some(id)))?)));
    };
    match moves::relocate::<E>(store, &holder, &to, id, command, principal, caller.metadata(), if_match).await {
        Ok(outcome) => Ok((to, Some(outcome))),
        Err(CommandError::Store(StoreError::Uniqueness { value, .. })) => Err(ScimError::uniqueness(format!(
            "this change moves the {} from sub-tenant '{holder}' to '{to}', where '{value}' is already the userName or an alias of another user; nothing was moved",
            E::RESOURCE.name
        ))),
        Err(e) => Err(failed::<E>(e, Some(id))),
    }
}

/// POST /Users, POST /Groups.
pub async fn create<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Reply {
    let selection = selection_of::<E>(&params)?;
    let (tenant, outcome) = write::<E>(&state, &caller, Write::Create(body), None).await?;
    let outcome = outcome.expect("a create has an outcome");
    let (id, version) = (outcome.id, outcome.version);
    let body = render_outcome::<E>(&state, &headers, &caller, (tenant, outcome), &selection, true).await?;
    let location = format!("{}{}/{id}", base_url(&state, &headers, &caller), E::RESOURCE.endpoint);
    Ok(ScimReply::created(body, location).with_etag(etag(version)))
}

/// PUT or PATCH: answered 200 with the resource.
async fn change<E: Endpoint>(state: &ApiState, caller: &Caller, headers: &HeaderMap, params: &[(String, String)], change: Write) -> Reply {
    let selection = selection_of::<E>(params)?;
    let (tenant, outcome) = write::<E>(state, caller, change, if_match(headers)).await?;
    let outcome = outcome.expect("a change has an outcome");
    let version = outcome.version;
    let body = render_outcome::<E>(state, headers, caller, (tenant, outcome), &selection, false).await?;
    Ok(ScimReply::ok(body).with_etag(etag(version)))
}

/// PUT /Users/{id}, PUT /Groups/{id}.
pub async fn replace<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Reply {
    let id = id_of::<E>(&id)?;
    change::<E>(&state, &caller, &headers, &params, Write::Replace(id, body)).await
}

/// PATCH /Users/{id}, PATCH /Groups/{id}: answered 200 with the resource, or 204 for a group
/// unless the request names attributes (`attributes` or `excludedAttributes`) or the settings
/// say `group_patch_response = "resource"`.
pub async fn patch<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Reply {
    let id = id_of::<E>(&id)?;
    let no_content = E::PATCH_MAY_ANSWER_NO_CONTENT && state.settings.group_patch_response == GroupPatchResponse::NoContent;
    if !no_content || params.iter().any(|(k, _)| names_selection(k)) {
        return change::<E>(&state, &caller, &headers, &params, Write::Patch(id, body)).await;
    }
    let (_, outcome) = write::<E>(&state, &caller, Write::Patch(id, body), if_match(&headers)).await?;
    Ok(ScimReply::status(StatusCode::NO_CONTENT).with_etag(etag(outcome.expect("a change has an outcome").version)))
}

/// DELETE /Users/{id}, DELETE /Groups/{id}.
pub async fn remove<E: Endpoint>(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let id = id_of::<E>(&id)?;
    write::<E>(&state, &caller, Write::Delete(id), if_match(&headers)).await?;
    Ok(ScimReply::status(StatusCode::NO_CONTENT))
}
