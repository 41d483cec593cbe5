//! The device operations of [`Admin`]: each one command on the device's stream.

use domain::device::{Device, DeviceCommand};
use domain::names::PolicyName;
use domain::{DomainError, Principal, StreamKind, TenantSlug};
use store::commands::{self, CommandError, Expect};

use super::device_model::*;
use super::error::AdminError;
use super::ops::Admin;

impl Admin<'_> {
    pub async fn register_device(&self, tenant: &str, input: &RegisterDevice) -> Result<DeviceView, AdminError> {
        let assign = match &input.assign {
            Some(user) => Some(self.user_id(tenant, user).await?.1),
            None => None,
        };
        let slug = self.existing_tenant(tenant).await?;
        let policy = input.policy.as_deref().map(PolicyName::parse).transpose()?;
        let serial = input.serial.trim().to_owned();
        let id = Device::stream_id(&slug, &serial);
        // A removed device's serial continues its stream.
        let expect = match self.store.stream(&slug, StreamKind::Device, id).await?.is_empty() {
            true => Expect::New,
            false => Expect::Existing,
        };
        let command =
            DeviceCommand::Register { serial: serial.clone(), name: input.name.clone(), kind: input.kind.clone(), policy, assign };
        self.run_device(&slug, &serial, command, expect).await
    }

    pub async fn devices(&self, tenant: &str, filter: &DeviceFilter) -> Result<Vec<DeviceView>, AdminError> {
        let user = match &filter.user {
            Some(user) => Some(self.user_id(tenant, user).await?.1),
            None => None,
        };
        let slug = self.existing_tenant(tenant).await?;
        Ok(self.store.devices(&slug, user).await?.into_iter().map(|row| DeviceView::of(tenant, row)).collect())
    }

    pub async fn assign_device(&self, tenant: &str, serial: &str, input: &AssignDevice) -> Result<DeviceView, AdminError> {
        let (slug, user) = self.user_id(tenant, &input.user).await?;
        self.run_device(&slug, serial, DeviceCommand::Assign { user, cause: None }, Expect::Existing).await
    }

    pub async fn unassign_device(&self, tenant: &str, serial: &str) -> Result<DeviceView, AdminError> {
        let slug = self.existing_tenant(tenant).await?;
        self.run_device(&slug, serial, DeviceCommand::Unassign { cause: None }, Expect::Existing).await
    }

    async fn run_device(&self, slug: &TenantSlug, serial: &str, command: DeviceCommand, expect: Expect) -> Result<DeviceView, AdminError> {
        let id = Device::stream_id(slug, serial);
        let outcome = commands::run::<Device>(self.store, slug, id, command, &Principal::Operator, self.metadata(), expect).await;
        let unknown = || AdminError::UnknownResource(format!("device '{serial}' is not registered in tenant '{slug}'"));
        let device = outcome.map_err(|e| match e {
            CommandError::Domain(DomainError::NotFound) => unknown(),
            CommandError::Domain(DomainError::AlreadyExists) => {
                AdminError::AlreadyExists(format!("device '{serial}' is registered in tenant '{slug}' already"))
            }
            other => other.into(),
        })?;
        let state = device.aggregate.state().ok_or_else(unknown)?;
        Ok(DeviceView::of(slug.as_str(), store::DeviceRow::of(state)))
    }
}
