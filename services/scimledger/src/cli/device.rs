//! `scimledger device …`: the device registry at the command line (issue 12 §3), as the actor
//! `cli`, printing the admin model (`--json`) or lines for people.

use clap::Subcommand;
use store::Store;

use super::connection::{admin, print_json};
use crate::admin::device_model::{AssignDevice, DeviceFilter, DeviceView, RegisterDevice};
use crate::admin::error::AdminError;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Register a device, assigned to a user (by userName, alias or id) with `--assign`.
    Register {
        tenant: String,
        #[arg(long)]
        serial: String,
        #[arg(long)]
        name: Option<String>,
        /// `laptop`, `phone`…
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        policy: Option<String>,
        #[arg(long)]
        assign: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The tenant's devices, or a user's (by userName, alias or id).
    List {
        tenant: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Assign a device to a user (by userName, alias or id).
    Assign {
        tenant: String,
        serial: String,
        user: String,
        #[arg(long)]
        json: bool,
    },
    Unassign {
        tenant: String,
        serial: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &dyn Store, settings: &Settings, command: DeviceCommand) -> Result<(), AdminError> {
    let admin = admin(store, settings);
    match command {
        DeviceCommand::Register { tenant, serial, name, kind, policy, assign, json } => {
            let device = admin.register_device(&tenant, &RegisterDevice { serial, name, kind, policy, assign }).await?;
            print(json, &device);
        }
        DeviceCommand::List { tenant, user, json } => {
            let devices = admin.devices(&tenant, &DeviceFilter { user }).await?;
            if json {
                print_json(&devices);
            } else {
                devices.iter().for_each(|d| println!("{}", line(d)));
            }
        }
        DeviceCommand::Assign { tenant, serial, user, json } => {
            print(json, &admin.assign_device(&tenant, &serial, &AssignDevice { user }).await?)
        }
        DeviceCommand::Unassign { tenant, serial, json } => print(json, &admin.unassign_device(&tenant, &serial).await?),
    }
    Ok(())
}

fn print(json: bool, device: &DeviceView) {
    if json {
        print_json(device);
    } else {
        println!("{}", line(device));
    }
}

/// `serial  name  kind  policy  user`, `-` for what is not set.
fn line(d: &DeviceView) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    [d.serial.clone(), or_dash(&d.name), or_dash(&d.kind), or_dash(&d.policy), or_dash(&d.assigned_user_id)].join("\t")
}
