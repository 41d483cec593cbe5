//! The Tenant aggregate: an organisation, created once (`tenant.created`), with the enrollment
//! email its users get (`tenant.enrollment_configured`), and perhaps deleted (`tenant.deleted`),
//! after which its slug is never used again: its history stays in the log under that slug, and
//! a new tenant must not inherit it. A tenant may be created as a sub-tenant of a parent, and a
//! parent routes what its connections push into its sub-tenants (`tenant.routing_set`, ADR 0074).
//!
//! A tenant's stream id is derived from its slug ([`Tenant::stream_id`]), so the stream is
//! found from the URL without a look-up.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::enrollment::template::EnrollmentTemplate;
use crate::event::CURRENT_VERSION;
use crate::routing::RoutingRule;
use crate::{DomainError, ResourceId, TenantSlug};

#[derive(Debug, Clone)]
pub enum TenantCommand {
    /// With a `parent`, a sub-tenant: the parent's connections may route into it (ADR 0074).
    /// The caller has found the parent to be a tenant that is no sub-tenant itself.
    Create {
        slug: TenantSlug,
        parent: Option<TenantSlug>,
    },
    /// Sets how a parent routes what its connections push. The caller has found every
    /// sub-tenant the rule names to be a sub-tenant of this one.
    SetRouting(RoutingRule),
    /// Deletes the tenant. The caller has found none of its connections enabled (their SCIM
    /// clients would otherwise write into a tenant that is gone).
    Delete,
    ConfigureEnrollment(EnrollmentTemplate),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TenantEvent {
    #[serde(rename = "tenant.created")]
    Created {
        slug: TenantSlug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<TenantSlug>,
    },
    #[serde(rename = "tenant.routing_set")]
    RoutingSet(RoutingRule),
    #[serde(rename = "tenant.enrollment_configured")]
    EnrollmentConfigured(EnrollmentTemplate),
    #[serde(rename = "tenant.deleted")]
    Deleted { slug: TenantSlug },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    slug: Option<TenantSlug>,
    #[serde(default)]
    parent: Option<TenantSlug>,
    #[serde(default)]
    routing: Option<RoutingRule>,
    enrollment: Option<EnrollmentTemplate>,
    deleted: bool,
}

/// Names the tenant streams' UUIDs (version 5, from the slug).
const TENANT_NAMESPACE: Uuid = Uuid::from_u128(0x5c1d_1ed9_e7a4_4c40_9a52_7e6a_7d3c_0001);

impl Tenant {
    pub fn slug(&self) -> Option<&TenantSlug> {
        self.slug.as_ref()
    }

    /// The tenant this one is a sub-tenant of.
    pub fn parent(&self) -> Option<&TenantSlug> {
        self.parent.as_ref()
    }

    /// How this tenant, as a parent, routes what is pushed to it.
    pub fn routing(&self) -> Option<&RoutingRule> {
        self.routing.as_ref()
    }

    /// The enrollment email an operator set, if any (else the mailer's built-in one).
    pub fn enrollment(&self) -> Option<&EnrollmentTemplate> {
        self.enrollment.as_ref()
    }

    /// Whether the tenant was created and not deleted.
    pub fn exists(&self) -> bool {
        self.slug.is_some() && !self.deleted
    }

    pub fn deleted(&self) -> bool {
        self.deleted
    }

    pub fn stream_id(slug: &TenantSlug) -> ResourceId {
        ResourceId::from_uuid(Uuid::new_v5(&TENANT_NAMESPACE, slug.as_str().as_bytes()))
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: TenantCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        match command {
            // A deleted tenant's slug stays taken.
            TenantCommand::Create { .. } if self.slug.is_some() => Err(DomainError::AlreadyExists),
            TenantCommand::Create { slug, parent } => {
                sink.write(TenantEvent::Created { slug, parent }, self).await;
                Ok(())
            }
            TenantCommand::SetRouting(_) if !self.exists() => Err(DomainError::NotFound),
            // One level: a sub-tenant's own connections write into it, it routes nothing.
            TenantCommand::SetRouting(_) if self.parent.is_some() => {
                Err(DomainError::invalid("a sub-tenant routes nothing: set the routing on its parent"))
            }
            TenantCommand::SetRouting(rule) if self.routing.as_ref() == Some(&rule) => Ok(()),
            TenantCommand::SetRouting(rule) => {
                sink.write(TenantEvent::RoutingSet(rule), self).await;
                Ok(())
            }
            TenantCommand::ConfigureEnrollment(_) if !self.exists() => Err(DomainError::NotFound),
            TenantCommand::ConfigureEnrollment(template) if self.enrollment.as_ref() == Some(&template) => Ok(()),
            TenantCommand::ConfigureEnrollment(template) => {
                sink.write(TenantEvent::EnrollmentConfigured(template), self).await;
                Ok(())
            }
            TenantCommand::Delete => {
                let slug = self.slug.clone().filter(|_| !self.deleted).ok_or(DomainError::NotFound)?;
                sink.write(TenantEvent::Deleted { slug }, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: TenantEvent) {
        match event {
            TenantEvent::Created { slug, parent } => {
                self.slug = Some(slug);
                self.parent = parent;
            }
            TenantEvent::RoutingSet(rule) => self.routing = Some(rule),
            TenantEvent::EnrollmentConfigured(template) => self.enrollment = Some(template),
            TenantEvent::Deleted { .. } => self.deleted = true,
        }
    }
}
