//! Fixtures for the cross-backend suite: a fresh store (see `store::testing`) with a tenant.

use std::sync::Arc;

use domain::group::{Group, GroupCommand};
use domain::user::{User, UserCommand};
use domain::{ResourceId, TenantSlug};
use scim::document::Document;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::Value;
use store::commands::{self, CommandError};
use store::{Actor, EventMetadata, Store};

/// A store under test, and what keeps its database alive.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub tenant: TenantSlug,
    _dir: Option<tempfile::TempDir>,
}

pub async fn postgres() -> Fixture {
    with_tenant(store::testing::postgres().await, None).await
}

pub async fn sqlite() -> Fixture {
    let (store, dir) = store::testing::sqlite().await;
    with_tenant(store, Some(dir)).await
}

pub async fn with_tenant(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> Fixture {
    let tenant = TenantSlug::parse("acme").unwrap();
    Fixture { store, tenant, _dir: dir }
}

/// Another tenant on the same store as `fixture`.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub async fn with_tenant_named(fixture: &Fixture, slug: &str) -> Fixture {
    let tenant = TenantSlug::parse(slug).unwrap();
    Fixture { store: fixture.store.clone(), tenant, _dir: None }
}

/// Runs one async test body against each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($fixture:ident: Fixture) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($fixture: support::Fixture) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    body(support::postgres().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    body(support::sqlite().await).await
                }
            }
        )*
    };
}

pub fn operator() -> EventMetadata {
    EventMetadata::by(Actor::Operator("test".into()))
}

pub fn user_doc(value: Value) -> Document {
    Document::parse(&value, &USER_RESOURCE).expect("a valid user")
}

#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn group_doc(value: Value) -> Document {
    Document::parse(&value, &GROUP_RESOURCE).expect("a valid group")
}

impl Fixture {
    pub async fn provision(&self, user: Value) -> Result<ResourceId, CommandError> {
        let outcome = commands::create::<User>(
            &*self.store,
            &self.tenant,
            UserCommand::Provision { resource: user_doc(user), owner: domain::Owner::Operator },
            operator(),
        )
        .await?;
        Ok(outcome.id)
    }

    #[allow(dead_code)] // Not every test binary that includes this module uses it.
    pub async fn create_group(&self, group: Value) -> Result<ResourceId, CommandError> {
        let outcome = commands::create::<Group>(
            &*self.store,
            &self.tenant,
            GroupCommand::Create { resource: group_doc(group), owner: domain::Owner::Operator },
            operator(),
        )
        .await?;
        Ok(outcome.id)
    }

    #[allow(dead_code)] // Not every test binary that includes this module uses it.
    pub async fn event_count(&self) -> usize {
        self.store.read_log(0, u32::MAX).await.expect("reading the log").len()
    }
}

impl Fixture {
    /// A bearer connection of the tenant, made by an operator, with the secret `hash`.
    #[allow(dead_code)] // Not every test binary that includes this module uses it.
    pub async fn create_connection(&self, name: &str, hash: [u8; 32]) -> Result<uuid::Uuid, CommandError> {
        use domain::connection::{AuthMode, Connection, ConnectionCommand, ConnectionName, Settings};
        let command = ConnectionCommand::Create {
            name: ConnectionName::parse(name).unwrap(),
            auth: AuthMode::Bearer,
            login: None,
            settings: Settings::default(),
            secret: domain::secret::NewSecret::new(hash),
        };
        let outcome = commands::create::<Connection>(&*self.store, &self.tenant, command, operator()).await?;
        Ok(outcome.id.as_uuid())
    }
}
