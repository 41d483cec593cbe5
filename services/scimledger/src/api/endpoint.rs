//! What differs between /Users and /Groups.

use std::collections::HashMap;
use std::future::Future;

use domain::group::{Group, GroupCommand};
use domain::routing::{RoutingRule, Unroutable};
use domain::user::{User, UserCommand};
use domain::{Owner, ResourceId, TenantSlug};
use scim::document::Document;
use scim::list::ListQuery;
use scim::patch::PatchRequest;
use scim::schema::{ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use store::query::Target;
use store::{Page, Reference, ResourceRecord, Scope, Store, StoreResult};

use domain::ownership::Owned;
use store::commands::ScimResource;

pub trait Endpoint: ScimResource + Owned + Send + Sync + 'static {
    const RESOURCE: &'static ResourceType;
    /// The attribute derived from memberships: a user's `groups`, a group's `members`.
    const RELATED: &'static str;
    /// Whether a PATCH may answer 204 when the request names no attributes (RFC 7644 §3.5.2):
    /// a group's answer would list every member (ADR 0031).
    const PATCH_MAY_ANSWER_NO_CONTENT: bool;
    /// The read model a parent's union reads span (ADR 0074).
    const TARGET: Target;

    /// The sub-tenant a parent's `rule` sends this resource to.
    fn route<'r>(rule: &'r RoutingRule, resource: &Document) -> Result<&'r TenantSlug, Unroutable>;
    /// Whether a change to the resource routes it again: a user under a rule routing users by
    /// membership stays where it is until a group names it.
    fn rerouted_by_change(rule: &RoutingRule) -> bool;
    /// The users and groups `command` puts into this resource (a group's members).
    fn joining(command: &Self::Command) -> Vec<ResourceId>;

    fn create(resource: Document, owner: Owner) -> Self::Command;
    fn replace(resource: Document) -> Self::Command;
    fn patch(request: PatchRequest) -> Self::Command;

    fn read(
        store: &dyn Store,
        tenant: &TenantSlug,
        scope: Scope,
        id: ResourceId,
    ) -> impl Future<Output = StoreResult<Option<ResourceRecord>>> + Send;
    /// A page; with `with_related`, the derived attribute too where the store can read it with
    /// the page (`Page::groups`).
    fn list(
        store: &dyn Store,
        tenant: &TenantSlug,
        scope: Scope,
        query: &ListQuery,
        with_related: bool,
    ) -> impl Future<Output = StoreResult<Page>> + Send;
    fn related(
        store: &dyn Store,
        tenant: &TenantSlug,
        ids: &[ResourceId],
    ) -> impl Future<Output = StoreResult<HashMap<ResourceId, Vec<Reference>>>> + Send;
}

impl Endpoint for User {
    const RESOURCE: &'static ResourceType = &USER_RESOURCE;
    const RELATED: &'static str = "groups";
    const PATCH_MAY_ANSWER_NO_CONTENT: bool = false;
    const TARGET: Target = Target::Users;

    fn route<'r>(rule: &'r RoutingRule, resource: &Document) -> Result<&'r TenantSlug, Unroutable> {
        rule.route_user(resource)
    }

    fn rerouted_by_change(rule: &RoutingRule) -> bool {
        rule.routes_users_by_attribute()
    }

    fn joining(_: &UserCommand) -> Vec<ResourceId> {
        Vec::new()
    }

    fn create(resource: Document, owner: Owner) -> UserCommand {
        UserCommand::Provision { resource, owner }
    }
    fn replace(resource: Document) -> UserCommand {
        UserCommand::Replace { resource }
    }
    fn patch(request: PatchRequest) -> UserCommand {
        UserCommand::Patch { request }
    }
    async fn read(store: &dyn Store, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        store.user_in(tenant, scope, id).await
    }
    async fn list(store: &dyn Store, tenant: &TenantSlug, scope: Scope, query: &ListQuery, with_related: bool) -> StoreResult<Page> {
        store.users_in(tenant, scope, query, with_related).await
    }
    async fn related(store: &dyn Store, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        store.groups_of(tenant, ids).await
    }
}

impl Endpoint for Group {
    const RESOURCE: &'static ResourceType = &GROUP_RESOURCE;
    const RELATED: &'static str = "members";
    const PATCH_MAY_ANSWER_NO_CONTENT: bool = true;
    const TARGET: Target = Target::Groups;

    fn route<'r>(rule: &'r RoutingRule, resource: &Document) -> Result<&'r TenantSlug, Unroutable> {
        rule.route_group(resource)
    }

    /// A rename that routes a group elsewhere is refused rather than moving it.
    fn rerouted_by_change(_: &RoutingRule) -> bool {
        true
    }

    fn joining(command: &GroupCommand) -> Vec<ResourceId> {
        command.joining()
    }

    fn create(resource: Document, owner: Owner) -> GroupCommand {
        GroupCommand::Create { resource, owner }
    }
    fn replace(resource: Document) -> GroupCommand {
        GroupCommand::Replace { resource }
    }
    fn patch(request: PatchRequest) -> GroupCommand {
        GroupCommand::Patch { request }
    }
    async fn read(store: &dyn Store, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        store.group_in(tenant, scope, id).await
    }
    /// Members are read on their own: a group's can run to many thousands.
    async fn list(store: &dyn Store, tenant: &TenantSlug, scope: Scope, query: &ListQuery, _with_related: bool) -> StoreResult<Page> {
        store.groups_in(tenant, scope, query).await
    }
    async fn related(store: &dyn Store, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        store.members_of(tenant, ids).await
    }
}
