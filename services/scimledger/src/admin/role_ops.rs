//! The role operations of [`Admin`]: each one command on the tenant's role policy stream.

use cqrs_es::Aggregate;
use domain::access_token::{AccessToken, AccessTokenCommand, AccessTokenEvent, AccessTokenName};
use domain::role::{RoleName, RolePolicy, RolePolicyCommand};
use domain::secret::NewSecret;
use domain::{DomainError, Principal, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use scim::schema::USER_RESOURCE;
use store::audit::AuditQuery;
use store::commands::{self, CommandError, Expect};

use super::error::AdminError;
use super::model::{grace, CredentialView, Rotate, DEFAULT_GRACE};
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

    /// The tenant's access tokens, oldest first, each with its secrets (never shown) and
    /// whether they still work, folded from their streams.
    pub async fn access_tokens(&self, tenant: &str) -> Result<Vec<AccessTokenView>, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let mut query = AuditQuery {
            tenant: slug.clone(),
            streams: None,
            event_type: Some("access_token.created".into()),
            actor: None,
            since: None,
            until: None,
            after_position: 0,
            limit: 1_000,
        };
        let mut views = Vec::new();
        loop {
            let page = self.store.audit_log(&query).await?;
            let Some(last) = page.last().map(|e| e.position) else { break };
            for created in page {
                views.push(self.access_token(&slug, created.stream).await?);
            }
            query.after_position = last;
        }
        Ok(views)
    }

    /// Revokes an access token (by name or id): every secret of it stops working at once, on
    /// every server (ADR 0077).
    pub async fn revoke_access_token(&self, tenant: &str, token: &str) -> Result<AccessTokenView, AdminError> {
        let (slug, id) = self.access_token_named(tenant, token).await?;
        self.run_access_token(&slug, id, token, AccessTokenCommand::Revoke { at: store::now() }).await?;
        self.access_token(&slug, id).await
    }

    /// A new secret for an access token, shown this once; the old ones keep working for the
    /// grace period (`0`: they stop at once), as a connection's do.
    pub async fn rotate_access_token(&self, tenant: &str, token: &str, input: &Rotate) -> Result<AccessTokenIssued, AdminError> {
        let grace = grace(input.grace.as_deref().unwrap_or(DEFAULT_GRACE))?;
        let (slug, id) = self.access_token_named(tenant, token).await?;
        let secret = token::generate();
        let command = AccessTokenCommand::Rotate { secret: NewSecret::new(token::hash(&secret)), grace, at: store::now() };
        let rotated = self.run_access_token(&slug, id, token, command).await?;
        let name = rotated.name().map(ToString::to_string).unwrap_or_default();
        Ok(AccessTokenIssued { tenant: slug.to_string(), name, access_url: format!("{}/access/v1/{slug}", self.origin), token: secret })
    }

    /// The access token an id or a name names.
    async fn access_token_named(&self, tenant: &str, token: &str) -> Result<(TenantSlug, ResourceId), AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let found = self.access_tokens(tenant).await?.into_iter().find(|t| t.id == token || t.name == token);
        let found = found.ok_or_else(|| AdminError::UnknownResource(format!("no access token '{token}' in tenant '{slug}'")))?;
        let id = found.id.parse().map_err(|_| AdminError::UnknownResource(format!("no access token '{token}' in tenant '{slug}'")))?;
        Ok((slug, id))
    }

    async fn run_access_token(
        &self,
        slug: &TenantSlug,
        id: ResourceId,
        token: &str,
        command: AccessTokenCommand,
    ) -> Result<AccessToken, AdminError> {
        let outcome =
            commands::run::<AccessToken>(self.store, slug, id, command, &Principal::Operator, self.metadata(), Expect::Existing).await;
        outcome.map(|o| o.aggregate).map_err(|e| match e {
            CommandError::Domain(DomainError::NotFound) => {
                AdminError::UnknownResource(format!("no access token '{token}' in tenant '{slug}'"))
            }
            other => other.into(),
        })
    }

    /// One access token as its stream tells it: each secret made when the event bringing it
    /// was recorded.
    async fn access_token(&self, slug: &TenantSlug, id: ResourceId) -> Result<AccessTokenView, AdminError> {
        let mut token = AccessToken::default();
        let (mut made, mut created) = (Vec::new(), None);
        for event in self.store.stream(slug, StreamKind::AccessToken, id).await? {
            let decoded: AccessTokenEvent = event.decode()?;
            if let AccessTokenEvent::Created { credential_id, .. } | AccessTokenEvent::SecretRotated { credential_id, .. } = &decoded {
                made.push((*credential_id, event.recorded_at));
            }
            created.get_or_insert(event.recorded_at);
            token.apply(decoded);
        }
        let now = store::now();
        let credentials = token
            .credentials()
            .iter()
            .map(|c| CredentialView {
                credential_id: c.id.to_string(),
                created: made.iter().find(|(id, _)| *id == c.id).map(|(_, at)| crate::api_time(*at)).unwrap_or_default(),
                expires: c.expires_at.map(crate::api_time),
                live: c.live_at(now),
            })
            .collect();
        Ok(AccessTokenView {
            id: id.to_string(),
            name: token.name().map(ToString::to_string).unwrap_or_default(),
            created: created.map(crate::api_time).unwrap_or_default(),
            revoked: token.revoked(),
            credentials,
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
