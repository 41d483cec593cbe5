//! The role operations of [`Admin`]: each one command on the tenant's role policy stream.

use cqrs_es::Aggregate;
use domain::access_token::{AccessToken, AccessTokenCommand, AccessTokenName};
use domain::role::{RoleName, RolePolicy, RolePolicyCommand};
use domain::secret::NewSecret;
use domain::{DomainError, Principal, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use scim::schema::USER_RESOURCE;
use store::commands::{self, CommandError, Expect};

use super::error::AdminError;
use super::ops::Admin;
use super::role_model::*;
use crate::token;

/// The longest role description.
const MAX_DESCRIPTION: usize = 1_000;

impl Admin<'_> {
    pub async fn roles(&self, tenant: &str) -> Result<RolesView, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        Ok(RolesView::from(&self.policy(&tenant).await?))
    }

    pub async fn create_role(&self, tenant: &str, input: &CreateRole) -> Result<RoleView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let name = RoleName::parse(&input.name)?;
        if input.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(AdminError::InvalidValue(format!("a role description is at most {MAX_DESCRIPTION} characters")));
        }
        let command = RolePolicyCommand::Define { name: name.clone(), description: input.description.clone() };
        self.run(&slug, command).await.map_err(|e| match e {
            CommandError::Domain(DomainError::AlreadyExists) => {
                AdminError::AlreadyExists(format!("role '{name}' exists with another description"))
            }
            other => other.into(),
        })?;
        Ok(RoleView { name: name.to_string(), description: input.description.clone() })
    }

    pub async fn map_role(&self, tenant: &str, input: &MapRole) -> Result<MappingView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let mapping = input.mapping()?;
        let view = MappingView::from(&mapping);
        self.run(&slug, RolePolicyCommand::Map(mapping)).await?;
        Ok(view)
    }

    pub async fn unmap_role(&self, tenant: &str, group: &GroupSelector) -> Result<RolesView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let group = group.group_ref()?;
        let policy = self.run(&slug, RolePolicyCommand::Unmap { group }).await.map_err(|e| match e {
            CommandError::Domain(DomainError::NotFound) => AdminError::UnknownMapping,
            other => other.into(),
        })?;
        Ok(RolesView::from(&policy))
    }

    pub async fn role_settings(&self, tenant: &str) -> Result<RoleSettings, AdminError> {
        Ok(RoleSettings { default_role: self.roles(tenant).await?.default_role })
    }

    pub async fn set_default_role(&self, tenant: &str, input: &RoleSettings) -> Result<RoleSettings, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let role = input.default_role.as_deref().map(RoleName::parse).transpose()?;
        let policy = self.run(&slug, RolePolicyCommand::SetDefault { role }).await?;
        Ok(RoleSettings { default_role: policy.default_role().map(ToString::to_string) })
    }

    /// Pins `user` (an id, a userName or an alias) to a role.
    pub async fn lock_role(&self, tenant: &str, user: &str, input: &LockRole) -> Result<LockView, AdminError> {
        let (slug, id) = self.user_id(tenant, user).await?;
        let role = RoleName::parse(&input.role)?;
        self.run(&slug, RolePolicyCommand::Lock { user: id, role: role.clone() }).await?;
        Ok(LockView { user_id: id.to_string(), role: Some(role.to_string()) })
    }

    pub async fn unlock_role(&self, tenant: &str, user: &str) -> Result<LockView, AdminError> {
        let (slug, id) = self.user_id(tenant, user).await?;
        self.run(&slug, RolePolicyCommand::Unlock { user: id }).await?;
        Ok(LockView { user_id: id.to_string(), role: None })
    }

    pub async fn role_lock(&self, tenant: &str, user: &str) -> Result<LockView, AdminError> {
        let (slug, id) = self.user_id(tenant, user).await?;
        let policy = self.policy(&slug).await?;
        Ok(LockView { user_id: id.to_string(), role: policy.lock(id).map(ToString::to_string) })
    }

    /// A token for the tenant's access look-up, shown this once (ADR 0063).
    pub async fn create_access_token(&self, tenant: &str, input: &CreateAccessToken) -> Result<AccessTokenIssued, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let name = AccessTokenName::parse(&input.name)?;
        let secret = token::generate();
        let command = AccessTokenCommand::Create { name: name.clone(), secret: NewSecret::new(token::hash(&secret)) };
        commands::create::<AccessToken>(self.store, &slug, command, self.metadata()).await?;
        Ok(AccessTokenIssued {
            tenant: slug.to_string(),
            name: name.to_string(),
            access_url: format!("{}/access/v1/{slug}", self.origin),
            token: secret,
        })
    }

    /// The tenant's role policy, folded from its stream.
    async fn policy(&self, tenant: &TenantSlug) -> Result<RolePolicy, AdminError> {
        let mut policy = RolePolicy::default();
        for event in self.store.stream(tenant, StreamKind::RolePolicy, RolePolicy::stream_id(tenant)).await? {
            policy.apply(event.decode()?);
        }
        Ok(policy)
    }

    async fn run(&self, tenant: &TenantSlug, command: RolePolicyCommand) -> Result<RolePolicy, CommandError> {
        let stream = RolePolicy::stream_id(tenant);
        let outcome =
            commands::run::<RolePolicy>(self.store, tenant, stream, command, &Principal::Operator, self.metadata(), Expect::Existing)
                .await?;
        Ok(outcome.aggregate)
    }

    /// The tenant, and the user `user` names in it: its id, userName or an alias.
    pub(super) async fn user_id(&self, tenant: &str, user: &str) -> Result<(TenantSlug, ResourceId), AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let unknown = || AdminError::UnknownUser { tenant: tenant.to_owned(), user: user.to_owned() };
        if let Ok(id) = user.parse::<ResourceId>() {
            return match self.store.user(&slug, id).await? {
                Some(_) => Ok((slug, id)),
                None => Err(unknown()),
            };
        }
        let quoted = serde_json::to_string(user).expect("a string serialises");
        let filter = format!("userName eq {quoted} or aliases.value eq {quoted}");
        let query = ListQuery::from_params([("filter", filter.as_str()), ("count", "1")], &USER_RESOURCE).map_err(|_| unknown())?;
        let page = self.store.users(&slug, &query, false).await?;
        let id = page.records.first().map(|r| r.id).ok_or_else(unknown)?;
        Ok((slug, id))
    }
}
