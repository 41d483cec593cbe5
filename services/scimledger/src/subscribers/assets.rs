//! The assets subscriber: on `user.deactivated` and `user.deleted`, applies the owning
//! connection's `on_deactivate` to the user's devices, or to the user (docs/subscribers.md,
//! ADR 0058). Each action is a command whose event names the causing event (`cause`) and says
//! why (`reason`); the NATS relay carries them to the MDM or ITAM.
//!
//! Applying an event twice changes nothing: a device ignores a command naming a cause it has
//! applied, and a deleted user cannot be deleted again.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use bus::{Envelope, Subscriber};
use cqrs_es::Aggregate;
use domain::connection::OnDeactivate;
use domain::device::{Cause, Device, DeviceCommand};
use domain::user::{User, UserCommand, UserState};
use domain::{DomainError, Owner, Principal, ResourceId, StreamKind, TenantSlug};
use store::commands::{self, CommandError, Expect, Resource};
use store::{Actor, EventMetadata, Store};
use uuid::Uuid;

/// The subscriber's name: its checkpoint and lease.
pub const NAME: &str = "assets";
const DEACTIVATED: &str = "scimledger.user.deactivated.v1";
const DELETED: &str = "scimledger.user.deleted.v1";

pub struct Assets {
    store: Arc<dyn Store>,
}

/// What the subscriber needs of a `user.deactivated` or `user.deleted` envelope.
struct Departure {
    tenant: TenantSlug,
    user: ResourceId,
    cause: Uuid,
    /// The user's stream version of the event: the user as it was before is folded from the
    /// events below it (a deleted user's owner and manager).
    version: i64,
    /// `user_deactivated` or `user_deleted`: the reason device events give.
    reason: &'static str,
}

impl Departure {
    fn of(envelope: &Envelope) -> anyhow::Result<Self> {
        let json = &envelope.json;
        let reason = if json["type"] == DELETED { "user_deleted" } else { "user_deactivated" };
        Ok(Self {
            tenant: TenantSlug::from_log(json["tenant"].as_str().context("no tenant")?)?,
            user: json["data"]["id"].as_str().context("no user id")?.parse()?,
            cause: envelope.id.parse()?,
            version: json["resourceversion"].as_i64().context("no resourceversion")?,
            reason,
        })
    }

    fn cause(&self, reason: &str) -> Option<Cause> {
        Some(Cause { event: self.cause, reason: reason.to_owned() })
    }
}

impl Assets {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The user as its stream held it before `version` (all of it when `None`).
    async fn user(&self, tenant: &TenantSlug, id: ResourceId, before: Option<i64>) -> anyhow::Result<Option<UserState>> {
        let events = self.store.stream(tenant, StreamKind::User, id).await?;
        let mut user = User::default();
        for event in events.iter().filter(|e| before.is_none_or(|v| e.stream_version < v)) {
            user.apply(event.decode()?);
        }
        Ok(user.state().cloned())
    }

    /// The owning connection's policy and device policy, as set now; `nothing` for a user no
    /// connection owns.
    async fn policy(&self, tenant: &TenantSlug, owner: Owner) -> anyhow::Result<(OnDeactivate, Option<domain::names::PolicyName>)> {
        let Owner::Connection(id) = owner else { return Ok((OnDeactivate::Nothing, None)) };
        let connections = self.store.connections(tenant).await?;
        Ok(connections
            .into_iter()
            .find(|c| c.id == id)
            .map_or((OnDeactivate::Nothing, None), |c| (c.settings.on_deactivate, c.settings.device_policy)))
    }

    /// The manager to reassign devices to, or why there is none (the unassignment's reason).
    async fn manager(&self, tenant: &TenantSlug, manager: Option<String>) -> anyhow::Result<Result<ResourceId, &'static str>> {
        let Some(manager) = manager else { return Ok(Err("no_manager")) };
        let Ok(id) = manager.parse::<ResourceId>() else { return Ok(Err("manager_not_found")) };
        Ok(match self.user(tenant, id, None).await? {
            Some(state) if state.is_active() => Ok(id),
            Some(_) => Err("manager_inactive"),
            None => Err("manager_not_found"),
        })
    }

    async fn depart(&self, departure: Departure) -> anyhow::Result<()> {
        let tenant = &departure.tenant;
        let Some(before) = self.user(tenant, departure.user, Some(departure.version)).await? else {
            return Ok(()); // the event found no live user: nothing of it to act on
        };
        let (policy, device_policy) = self.policy(tenant, before.owner).await?;
        // What each of the user's devices gets.
        let action = match policy {
            OnDeactivate::Nothing | OnDeactivate::RemoveUser => None,
            OnDeactivate::UnassignDevices => Some(DeviceCommand::Unassign { cause: departure.cause(departure.reason) }),
            OnDeactivate::ReassignDevicesToManager => Some(match self.manager(tenant, before.manager()).await? {
                Ok(manager) => DeviceCommand::Assign { user: manager, cause: departure.cause("reassigned_to_manager") },
                Err(why) => DeviceCommand::Unassign { cause: departure.cause(why) },
            }),
            OnDeactivate::ChangeDevicePolicy => match device_policy {
                Some(policy) => Some(DeviceCommand::ChangePolicy { policy, cause: departure.cause(departure.reason) }),
                // The connection's settings refuse this combination; an old row could hold it.
                None => {
                    tracing::warn!(%tenant, "assets: change_device_policy without a device_policy; devices left as they are");
                    None
                }
            },
            OnDeactivate::RemoveUserAndDevices => Some(DeviceCommand::Remove { cause: departure.cause(departure.reason) }),
        };
        if let Some(action) = action {
            for device in self.store.devices(tenant, Some(departure.user)).await? {
                self.run::<Device>(tenant, Device::stream_id(tenant, &device.serial), action.clone()).await?;
            }
        }
        if matches!(policy, OnDeactivate::RemoveUser | OnDeactivate::RemoveUserAndDevices) {
            let reason = format!("on_deactivate {}", policy.as_str());
            self.run::<User>(tenant, departure.user, UserCommand::Remove { reason, cause: departure.cause }).await?;
        }
        Ok(())
    }

    /// Runs one action; a stream that is gone (a device removed, a user deleted meanwhile) has
    /// nothing left to act on.
    async fn run<A: Resource>(&self, tenant: &TenantSlug, id: ResourceId, command: A::Command) -> anyhow::Result<()> {
        let metadata = EventMetadata::by(Actor::System(NAME.into()));
        match commands::run::<A>(&*self.store, tenant, id, command, &Principal::Operator, metadata, Expect::Existing).await {
            Ok(_) | Err(CommandError::Domain(DomainError::NotFound)) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("applying on_deactivate")),
        }
    }
}

#[async_trait]
impl Subscriber for Assets {
    fn name(&self) -> &str {
        NAME
    }

    async fn handle(&self, envelope: &Envelope, _: store::LogCursor) -> anyhow::Result<()> {
        if envelope.json["type"] != DEACTIVATED && envelope.json["type"] != DELETED {
            return Ok(());
        }
        match Departure::of(envelope) {
            Ok(departure) => self.depart(departure).await,
            Err(e) => {
                // Retrying cannot fix an event the log holds: say so and go on.
                tracing::error!(event = %envelope.id, error = %format!("{e:#}"), "assets: cannot read the event; skipping it");
                Ok(())
            }
        }
    }
}
