//! `scimledger role …`: the role operations at the command line (issue 11 §1), as the actor
//! `cli`, printing the admin model (`--json`) or lines for people.

use clap::{Args, Subcommand};
use store::Store;

use super::connection::{admin, print_json};
use crate::admin::error::AdminError;
use crate::admin::model::Rotate;
use crate::admin::role_model::{AccessTokenView, CreateAccessToken, CreateRole, GroupSelector, LockRole, MapRole, RoleSettings, RolesView};
use crate::config::Settings;

/// The group of a mapping: by displayName (`--group`) or by id (`--group-id`).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct GroupFlags {
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    group_id: Option<String>,
}

impl From<GroupFlags> for GroupSelector {
    fn from(flags: GroupFlags) -> Self {
        GroupSelector { group: flags.group, group_id: flags.group_id }
    }
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Add a role to the tenant's catalogue.
    Create {
        tenant: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Map a group (by displayName, also one not pushed yet, or by id) to a role.
    Map {
        tenant: String,
        #[command(flatten)]
        group: GroupFlags,
        #[arg(long)]
        role: String,
        /// The lower wins (default 100).
        #[arg(long)]
        precedence: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a group's mapping.
    Unmap {
        tenant: String,
        #[command(flatten)]
        group: GroupFlags,
        #[arg(long)]
        json: bool,
    },
    /// Set the role of active users in no mapped group, or `--none`.
    Default {
        tenant: String,
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        name: Option<String>,
        #[arg(long)]
        none: bool,
        #[arg(long)]
        json: bool,
    },
    /// Pin a user (by userName, alias or id) to a role until unlocked.
    Lock {
        tenant: String,
        login: String,
        name: String,
        #[arg(long)]
        json: bool,
    },
    Unlock {
        tenant: String,
        login: String,
        #[arg(long)]
        json: bool,
    },
    /// The catalogue, the mappings (strongest first), the default role and the locks.
    List {
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &dyn Store, settings: &Settings, command: RoleCommand) -> Result<(), AdminError> {
    let admin = admin(store, settings);
    match command {
        RoleCommand::Create { tenant, name, description, json } => {
            let role = admin.create_role(&tenant, &CreateRole { name, description }).await?;
            print(json, &role, || format!("role {} of tenant {tenant}", role.name));
        }
        RoleCommand::Map { tenant, group, role, precedence, json } => {
            let GroupSelector { group, group_id } = group.into();
            let mapping = admin.map_role(&tenant, &MapRole { group, group_id, role, precedence }).await?;
            let group = mapping.group.clone().or(mapping.group_id.clone()).unwrap_or_default();
            print(json, &mapping, || format!("group {group} → role {} (precedence {})", mapping.role, mapping.precedence));
        }
        RoleCommand::Unmap { tenant, group, json } => {
            let roles = admin.unmap_role(&tenant, &group.into()).await?;
            print(json, &roles, || describe(&roles));
        }
        RoleCommand::Default { tenant, name, none: _, json } => {
            let set = admin.set_default_role(&tenant, &RoleSettings { default_role: name }).await?;
            print(json, &set, || format!("default role: {}", set.default_role.as_deref().unwrap_or("none")));
        }
        RoleCommand::Lock { tenant, login, name, json } => {
            let lock = admin.lock_role(&tenant, &login, &LockRole { role: name }).await?;
            print(json, &lock, || format!("user {} locked to role {}", lock.user_id, lock.role.as_deref().unwrap_or_default()));
        }
        RoleCommand::Unlock { tenant, login, json } => {
            let lock = admin.unlock_role(&tenant, &login).await?;
            print(json, &lock, || format!("user {} unlocked", lock.user_id));
        }
        RoleCommand::List { tenant, json } => {
            let roles = admin.roles(&tenant).await?;
            print(json, &roles, || describe(&roles));
        }
    }
    Ok(())
}

/// `scimledger access-token create TENANT --name NAME`.
pub async fn create_access_token(store: &dyn Store, settings: &Settings, tenant: &str, name: &str, json: bool) -> Result<(), AdminError> {
    let issued = admin(store, settings).create_access_token(tenant, &CreateAccessToken { name: name.to_owned() }).await?;
    print(json, &issued, || {
        format!(
            "access token {} of tenant {}\n  look-up URL: {}/logins/{{login}}\n  token:       {}\nThe token is shown this once; scimledger keeps only its SHA-256 hash.",
            issued.name, issued.tenant, issued.access_url, issued.token
        )
    });
    Ok(())
}

/// `scimledger access-token list TENANT`.
pub async fn list_access_tokens(store: &dyn Store, settings: &Settings, tenant: &str, json: bool) -> Result<(), AdminError> {
    let tokens = admin(store, settings).access_tokens(tenant).await?;
    print(json, &tokens, || tokens.iter().map(describe_access_token).collect::<Vec<_>>().join("\n"));
    Ok(())
}

/// `scimledger access-token revoke TENANT NAME_OR_ID`.
pub async fn revoke_access_token(store: &dyn Store, settings: &Settings, tenant: &str, token: &str, json: bool) -> Result<(), AdminError> {
    let revoked = admin(store, settings).revoke_access_token(tenant, token).await?;
    print(json, &revoked, || describe_access_token(&revoked));
    Ok(())
}

/// `scimledger access-token rotate TENANT NAME_OR_ID [--grace 24h]`.
pub async fn rotate_access_token(
    store: &dyn Store,
    settings: &Settings,
    tenant: &str,
    token: &str,
    grace: Option<String>,
    json: bool,
) -> Result<(), AdminError> {
    let issued = admin(store, settings).rotate_access_token(tenant, token, &Rotate { grace }).await?;
    print(json, &issued, || {
        format!(
            "access token {} of tenant {} rotated\n  token: {}\nThe new token is shown this once; the old one works until its grace period ends (`access-token list`).",
            issued.name, issued.tenant, issued.token
        )
    });
    Ok(())
}

fn describe_access_token(token: &AccessTokenView) -> String {
    let live = token.credentials.iter().filter(|c| c.live).count();
    let state = if token.revoked { "revoked".to_owned() } else { format!("{live} live secret(s)") };
    format!("{}\t{}\tcreated {}\t{state}", token.name, token.id, token.created)
}

fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        print_json(value);
    } else {
        println!("{}", text());
    }
}

fn describe(roles: &RolesView) -> String {
    let mut lines = Vec::new();
    for role in &roles.roles {
        lines.push(format!("role\t{}\t{}", role.name, role.description.as_deref().unwrap_or("")));
    }
    for m in &roles.mappings {
        let group = m.group.clone().unwrap_or_else(|| format!("id:{}", m.group_id.as_deref().unwrap_or_default()));
        lines.push(format!("map\t{group}\t{}\t{}", m.role, m.precedence));
    }
    lines.push(format!("default\t{}", roles.default_role.as_deref().unwrap_or("none")));
    for lock in &roles.locks {
        lines.push(format!("lock\t{}\t{}", lock.user_id, lock.role.as_deref().unwrap_or_default()));
    }
    lines.join("\n")
}
