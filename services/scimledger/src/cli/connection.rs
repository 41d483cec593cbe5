//! `scimledger connection …` and `scimledger operator create`: the admin operations at the
//! command line, as the actor `cli`, printing the admin model (`--json`) or lines for people.

use clap::{Args, Subcommand};
use serde::Serialize;
use store::{Actor, Store};

use crate::admin::error::AdminError;
use crate::admin::model::{ConnectionView, CreateConnection, Issued, Rotate, SettingsInput, DEFAULT_GRACE};
use crate::admin::ops::Admin;
use crate::api::provenance::Provenance;
use crate::config::Settings;

/// The settings flags `create` and `update` share.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsFlags {
    /// Send new users an enrollment email (`--send-enrollment-email=false` turns it off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub send_enrollment_email: Option<bool>,
    /// The role new users get (`none` clears it).
    #[arg(long)]
    pub on_create_role: Option<String>,
    /// nothing, unassign_devices, reassign_devices_to_manager, change_device_policy,
    /// remove_user or remove_user_and_devices.
    #[arg(long)]
    pub on_deactivate: Option<String>,
    /// The policy change_device_policy applies (`none` clears it).
    #[arg(long)]
    pub device_policy: Option<String>,
    /// Writes to manually provisioned users and groups take them over.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub claim_manual: Option<bool>,
    /// own or all.
    #[arg(long)]
    pub read_scope: Option<String>,
    /// Where the OAuth authorize endpoint may send codes (oauth connections; repeat for
    /// several; replaces the set; `none` clears it). Matched exactly; https, or http on
    /// 127.0.0.1 / localhost.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
}

impl SettingsFlags {
    fn input(&self) -> SettingsInput {
        let clearable = |v: &Option<String>| v.as_ref().map(|v| Some(v.clone()).filter(|v| v != "none"));
        SettingsInput {
            send_enrollment_email: self.send_enrollment_email,
            on_create_role: clearable(&self.on_create_role),
            on_deactivate: self.on_deactivate.clone(),
            device_policy: clearable(&self.device_policy),
            claim_manual: self.claim_manual,
            read_scope: self.read_scope.clone(),
            redirect_uris: match self.redirect_uris.as_slice() {
                [] => None,
                [none] if none == "none" => Some(Vec::new()),
                uris => Some(uris.to_vec()),
            },
        }
    }
}

#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// Create a connection and print its base URL and secrets (shown once).
    Create {
        tenant: String,
        #[arg(long)]
        name: String,
        /// bearer, header, basic or oauth.
        #[arg(long, default_value = "bearer")]
        auth: String,
        #[command(flatten)]
        settings: SettingsFlags,
        #[arg(long)]
        json: bool,
    },
    /// The tenant's connections, disabled ones too.
    List {
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// One connection, by name or id.
    Show {
        tenant: String,
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Change settings (each one an event).
    Update {
        tenant: String,
        connection: String,
        #[command(flatten)]
        settings: SettingsFlags,
        #[arg(long)]
        json: bool,
    },
    /// A new secret; the ones in use keep working for the grace period (`0`, `90s`, `24h`).
    Rotate {
        tenant: String,
        connection: String,
        #[arg(long, default_value = DEFAULT_GRACE)]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// End at once every secret of the connection but the newest.
    Revoke {
        tenant: String,
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse every request with the connection's credentials, at once and for good.
    Disable {
        tenant: String,
        connection: String,
        /// Also delete every user and group the connection owns, before returning (a purge
        /// this run does not finish, `serve` resumes).
        #[arg(long)]
        purge: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn admin<'a>(store: &'a dyn Store, settings: &Settings) -> Admin<'a> {
    Admin { store, origin: settings.public_origin(), actor: Actor::Operator("cli".into()), provenance: Provenance::default() }
}

pub async fn run(store: &dyn Store, settings: &Settings, command: ConnectionCommand) -> Result<(), AdminError> {
    let admin = admin(store, settings);
    match command {
        ConnectionCommand::Create { tenant, name, auth, settings, json } => {
            let input = CreateConnection { name, auth: Some(auth), settings: settings.input() };
            print_issued(&admin.create_connection(&tenant, &input).await?, json);
        }
        ConnectionCommand::List { tenant, json } => {
            let all = admin.connections(&tenant).await?;
            if json {
                print_json(&all);
            } else {
                for c in all {
                    let state = if c.disabled.is_some() { "disabled" } else { "enabled" };
                    println!("{}\t{}\t{}\t{state}\t{}", c.connection_id, c.name, c.auth, c.created);
                }
            }
        }
        ConnectionCommand::Show { tenant, connection, json } => print_view(&admin.connection(&tenant, &connection).await?, json),
        ConnectionCommand::Update { tenant, connection, settings, json } => {
            print_view(&admin.update(&tenant, &connection, &settings.input()).await?, json)
        }
        ConnectionCommand::Rotate { tenant, connection, grace, json } => {
            print_issued(&admin.rotate(&tenant, &connection, &Rotate { grace: Some(grace) }).await?, json)
        }
        ConnectionCommand::Revoke { tenant, connection, json } => print_view(&admin.revoke(&tenant, &connection).await?, json),
        ConnectionCommand::Disable { tenant, connection, purge, json } => {
            let (view, slug, id) = admin.disable(&tenant, &connection, purge).await?;
            if purge {
                let purged = store::purge::purge(store, &slug, id).await?;
                // On stderr, so that `--json` still prints one JSON document.
                eprintln!("purged {} users and {} groups", purged.users, purged.groups);
            }
            print_view(&view, json)
        }
    }
    Ok(())
}

pub fn print_json(value: &impl Serialize) {
    println!("{}", serde_json::to_string(value).expect("the admin model serialises"));
}

fn print_view(c: &ConnectionView, json: bool) {
    if json {
        return print_json(c);
    }
    println!("connection {} of tenant {} ({})", c.name, c.tenant, c.connection_id);
    println!("  SCIM base URL: {}", c.base_url);
    println!("  auth:          {}{}", c.auth, c.login.as_ref().map(|l| format!(" (login {l})")).unwrap_or_default());
    println!("  settings:      {}", serde_json::to_string(&c.settings).expect("settings serialise"));
    if let Some(at) = &c.disabled {
        println!("  disabled at:   {at}");
    }
    for k in &c.credentials {
        let state = match (&k.expires, k.live) {
            (None, true) => "live".to_owned(),
            (Some(at), true) => format!("live until {at}"),
            (Some(at), false) => format!("ended {at}"),
            (None, false) => "ended with the connection".to_owned(),
        };
        println!("  credential:    {} created {}, {state}", k.credential_id, k.created);
    }
}

fn print_issued(issued: &Issued, json: bool) {
    if json {
        return print_json(issued);
    }
    print_view(&issued.connection, false);
    let secrets = [
        ("bearer token", &issued.token),
        ("username", &issued.username),
        ("password", &issued.password),
        ("client id", &issued.client_id),
        ("client secret", &issued.client_secret),
        ("token URL", &issued.token_url),
        ("authorize URL", &issued.authorize_url),
    ];
    for (label, value) in secrets {
        if let Some(value) = value {
            println!("  {label:<14} {value}");
        }
    }
    println!("The secret is shown this once; scimledger keeps only its SHA-256 hash.");
}
