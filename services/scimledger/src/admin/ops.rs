//! The admin operations, one copy for the admin API and the CLI: each parses its input into
//! domain values, runs one command (the actor is the operator, or `cli`), and answers in the
//! admin model.

use domain::connection::{AuthMode, Connection as ConnectionAggregate, ConnectionCommand, ConnectionName, Settings};
use domain::enrollment::template::EnrollmentTemplate;
use domain::operator::{Operator, OperatorCommand, OperatorName};
use domain::routing::{RoutingRule, UserRouting};
use domain::secret::NewSecret;
use domain::{Principal, ResourceId, TenantSlug};
use store::commands::{self, Expect};
use store::{Actor, Connection, EventMetadata, Store};
use uuid::Uuid;

use super::error::AdminError;
use super::model::*;
use crate::api::provenance::Provenance;
use crate::{api_time, token};

/// The operations, on one store, for one actor.
pub struct Admin<'a> {
    pub store: &'a dyn Store,
    /// `https://scim.example.com`: where base URLs and token URLs point.
    pub origin: String,
    pub actor: Actor,
    /// What the events record about the request (nothing at the command line).
    pub provenance: Provenance,
}

impl Admin<'_> {
    pub(super) fn metadata(&self) -> EventMetadata {
        self.provenance.metadata(self.actor.clone())
    }

    pub async fn create_tenant(&self, input: &CreateTenant) -> Result<TenantView, AdminError> {
        let slug = TenantSlug::parse(&input.slug)?;
        let parent = match &input.parent {
            None => None,
            Some(parent) => {
                // One level of parents: a sub-tenant's own connections write into it, it routes nothing.
                if self.tenant(parent).await?.parent.is_some() {
                    return Err(AdminError::InvalidValue(format!("tenant '{parent}' is a sub-tenant; a parent must be none")));
                }
                Some(TenantSlug::parse(parent)?)
            }
        };
        store::directory::create_tenant(self.store, &slug, parent, self.metadata()).await?;
        self.tenant(&input.slug).await
    }

    pub async fn tenants(&self) -> Result<Vec<TenantView>, AdminError> {
        let tenants = self.store.tenants().await?;
        Ok(tenants
            .into_iter()
            .map(|t| TenantView { slug: t.slug.to_string(), created: api_time(t.created), parent: t.parent.map(|p| p.to_string()) })
            .collect())
    }

    /// Sets how a parent routes what its connections push; every target must be one of its
    /// sub-tenants. Setting the same rule again records nothing.
    pub async fn set_routing(&self, tenant: &str, input: &RoutingInput) -> Result<RoutingView, AdminError> {
        let parent = self.existing_tenant(tenant).await?;
        let subs: Vec<String> = self.tenants().await?.into_iter().filter(|t| t.parent.as_deref() == Some(tenant)).map(|t| t.slug).collect();
        let target = |slug: &String| -> Result<TenantSlug, AdminError> {
            match subs.contains(slug) {
                true => Ok(TenantSlug::parse(slug)?),
                false => Err(AdminError::InvalidValue(format!("'{slug}' is no sub-tenant of '{tenant}'"))),
            }
        };
        let map = input.map.iter().map(|(value, slug)| Ok((value.clone(), target(slug)?))).collect::<Result<_, AdminError>>()?;
        let group_map = input.group_map.iter().map(|(name, slug)| Ok((name.clone(), target(slug)?))).collect::<Result<_, AdminError>>()?;
        let waiting = input.users_wait_in.as_ref().map(target).transpose()?;
        let rule = RoutingRule::new(input.attribute.clone(), map, waiting, group_map)?;
        store::directory::set_routing(self.store, &parent, rule, self.metadata()).await?;
        self.routing(tenant).await
    }

    /// A parent's routing rule.
    pub async fn routing(&self, tenant: &str) -> Result<RoutingView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let state = store::directory::tenant(self.store, &slug).await?.ok_or_else(|| AdminError::UnknownTenant(tenant.to_owned()))?;
        let rule = state.routing().ok_or_else(|| AdminError::UnknownResource(format!("tenant '{tenant}' routes nothing")))?;
        let slugs = |map: &std::collections::BTreeMap<String, TenantSlug>| map.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        let (attribute, map) = match &rule.users {
            UserRouting::Attribute { attribute, map } => (Some(attribute.clone()), slugs(map)),
            UserRouting::Groups { .. } => (None, Default::default()),
        };
        Ok(RoutingView {
            tenant: tenant.to_owned(),
            attribute,
            map,
            users_wait_in: rule.users_wait_in().map(ToString::to_string),
            group_map: slugs(&rule.group_map),
            refused: None,
        })
    }

    pub async fn tenant(&self, slug: &str) -> Result<TenantView, AdminError> {
        self.tenants().await?.into_iter().find(|t| t.slug == slug).ok_or_else(|| AdminError::UnknownTenant(slug.to_owned()))
    }

    /// Sets the tenant's enrollment email; setting the same one again records nothing.
    pub async fn set_enrollment(&self, tenant: &str, input: &EnrollmentInput) -> Result<EnrollmentView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        let template = EnrollmentTemplate::new(input.url.clone(), input.subject.clone(), input.text.clone(), input.html.clone())?;
        store::directory::configure_enrollment(self.store, &slug, template.clone(), self.metadata()).await?;
        let EnrollmentTemplate { url, subject, text, html } = template;
        Ok(EnrollmentView { tenant: slug.to_string(), url, subject, text, html })
    }

    /// Deletes a tenant none of whose connections is enabled: its read models go, its events
    /// stay, and its slug is never used again.
    pub async fn delete_tenant(&self, slug: &str) -> Result<TenantView, AdminError> {
        let tenant = self.existing_tenant(slug).await?;
        let view = self.tenant(slug).await?;
        let enabled: Vec<String> =
            self.store.connections(&tenant).await?.into_iter().filter(|c| c.disabled.is_none()).map(|c| c.name).collect();
        if !enabled.is_empty() {
            return Err(AdminError::TenantInUse(format!(
                "tenant '{slug}' has enabled connections ({}); disable them first",
                enabled.join(", ")
            )));
        }
        store::directory::delete_tenant(self.store, &tenant, self.metadata()).await?;
        Ok(view)
    }

    /// A tenant that exists.
    pub(super) async fn existing_tenant(&self, slug: &str) -> Result<TenantSlug, AdminError> {
        let parsed = TenantSlug::parse(slug).map_err(|_| AdminError::UnknownTenant(slug.to_owned()))?;
        self.tenant(slug).await?;
        Ok(parsed)
    }

    pub async fn create_connection(&self, tenant: &str, input: &CreateConnection) -> Result<Issued, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        let name = ConnectionName::parse(&input.name)?;
        let auth = input.auth()?;
        let (settings, _) = Settings::default().with(&input.settings.change()?)?;
        let login = match auth {
            AuthMode::Basic => Some(token::login("scim")),
            AuthMode::Oauth => Some(token::login("scimledger-client")),
            AuthMode::Bearer | AuthMode::Header => None,
        };
        let secret = token::generate();
        let command = ConnectionCommand::Create { name, auth, login, settings, secret: NewSecret::new(token::hash(&secret)) };
        let outcome = commands::create::<ConnectionAggregate>(self.store, &tenant, command, self.metadata()).await?;
        let connection = self.find(&tenant, &outcome.id.to_string()).await?;
        self.issued(connection, secret).await
    }

    pub async fn connections(&self, tenant: &str) -> Result<Vec<ConnectionView>, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        let connections = self.store.connections(&tenant).await?;
        self.views(&tenant, connections).await
    }

    pub async fn connection(&self, tenant: &str, connection: &str) -> Result<ConnectionView, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        let found = self.find(&tenant, connection).await?;
        self.view(found).await
    }

    pub async fn update(&self, tenant: &str, connection: &str, input: &SettingsInput) -> Result<ConnectionView, AdminError> {
        let change = input.change()?;
        let changed = self.change(tenant, connection, ConnectionCommand::ChangeSettings(change)).await?;
        self.view(changed).await
    }

    pub async fn rotate(&self, tenant: &str, connection: &str, input: &Rotate) -> Result<Issued, AdminError> {
        let grace = grace(input.grace.as_deref().unwrap_or(DEFAULT_GRACE))?;
        let secret = token::generate();
        let command = ConnectionCommand::Rotate { secret: NewSecret::new(token::hash(&secret)), grace, at: store::now() };
        let connection = self.change(tenant, connection, command).await?;
        self.issued(connection, secret).await
    }

    pub async fn revoke(&self, tenant: &str, connection: &str) -> Result<ConnectionView, AdminError> {
        let revoked = self.change(tenant, connection, ConnectionCommand::Revoke { at: store::now() }).await?;
        self.view(revoked).await
    }

    /// Disables the connection; with `purge`, its row is marked for the purge, which the
    /// caller runs ([`store::purge::purge`] on the tenant and id returned) or leaves to `serve`
    /// to resume.
    pub async fn disable(&self, tenant: &str, connection: &str, purge: bool) -> Result<(ConnectionView, TenantSlug, Uuid), AdminError> {
        let disabled = self.change(tenant, connection, ConnectionCommand::Disable { purge }).await?;
        let (tenant, id) = (disabled.tenant.clone(), disabled.id);
        Ok((self.view(disabled).await?, tenant, id))
    }

    pub async fn create_operator(&self, name: &str) -> Result<OperatorIssued, AdminError> {
        let name = OperatorName::parse(name)?;
        let secret = token::generate();
        let command = OperatorCommand::Create { name: name.clone(), secret: NewSecret::new(token::hash(&secret)) };
        commands::run::<Operator>(
            self.store,
            &TenantSlug::deployment(),
            ResourceId::new(),
            command,
            &Principal::Operator,
            self.metadata(),
            Expect::New,
        )
        .await?;
        Ok(OperatorIssued { name: name.to_string(), token: secret })
    }

    /// Runs `command` on an enabled connection and answers with the connection after it.
    async fn change(&self, tenant: &str, connection: &str, command: ConnectionCommand) -> Result<Connection, AdminError> {
        let tenant = self.existing_tenant(tenant).await?;
        let found = self.find(&tenant, connection).await?;
        if found.disabled.is_some() && !matches!(command, ConnectionCommand::Disable { .. }) {
            return Err(AdminError::Disabled(format!("connection '{}' is disabled; create a new one", found.name)));
        }
        let id = ResourceId::from_uuid(found.id);
        commands::change::<ConnectionAggregate>(self.store, &tenant, id, command, &Principal::Operator, self.metadata(), None).await?;
        self.find(&tenant, &found.id.to_string()).await
    }

    /// A connection of the tenant, by id or by name.
    pub(super) async fn find(&self, tenant: &TenantSlug, connection: &str) -> Result<Connection, AdminError> {
        self.store
            .connections(tenant)
            .await?
            .into_iter()
            .find(|c| c.id.to_string() == connection || c.name == connection)
            .ok_or_else(|| AdminError::UnknownConnection { tenant: tenant.to_string(), connection: connection.to_owned() })
    }

    async fn view(&self, connection: Connection) -> Result<ConnectionView, AdminError> {
        let tenant = connection.tenant.clone();
        Ok(self.views(&tenant, vec![connection]).await?.remove(0))
    }

    /// The connections of `tenant` with their credentials, read once for all of them.
    async fn views(&self, tenant: &TenantSlug, connections: Vec<Connection>) -> Result<Vec<ConnectionView>, AdminError> {
        let credentials = self.store.credentials(tenant).await?;
        let now = store::now();
        Ok(connections
            .into_iter()
            .map(|c| {
                let own = credentials.iter().filter(|k| k.connection == c.id).map(|k| CredentialView {
                    credential_id: k.id.to_string(),
                    created: api_time(k.created_at),
                    expires: k.expires_at.map(api_time),
                    live: c.disabled.is_none() && k.expires_at.is_none_or(|at| at > now),
                });
                let own = own.collect();
                self.view_with(c, own)
            })
            .collect())
    }

    fn view_with(&self, c: Connection, credentials: Vec<CredentialView>) -> ConnectionView {
        ConnectionView {
            base_url: format!("{}/scim/v2/{}", self.origin, c.tenant),
            tenant: c.tenant.to_string(),
            connection_id: c.id.to_string(),
            name: c.name,
            auth: c.auth.as_str().to_owned(),
            login: c.login,
            settings: SettingsView::from(&c.settings),
            created: api_time(c.created),
            disabled: c.disabled.map(api_time),
            credentials,
        }
    }

    /// The connection with `secret` in the fields of its auth mode.
    async fn issued(&self, connection: Connection, secret: String) -> Result<Issued, AdminError> {
        let (auth, login, tenant) = (connection.auth, connection.login.clone(), connection.tenant.clone());
        let mut issued = Issued {
            connection: self.view(connection).await?,
            token: None,
            username: None,
            password: None,
            client_id: None,
            client_secret: None,
            token_url: None,
            authorize_url: None,
        };
        match auth {
            AuthMode::Bearer | AuthMode::Header => issued.token = Some(secret),
            AuthMode::Basic => (issued.username, issued.password) = (login, Some(secret)),
            AuthMode::Oauth => {
                (issued.client_id, issued.client_secret) = (login, Some(secret));
                issued.token_url = Some(format!("{}/oauth/{tenant}/token", self.origin));
                issued.authorize_url = Some(format!("{}/oauth/{tenant}/authorize", self.origin));
            }
        }
        Ok(issued)
    }
}
