//! scimledger: the server (`serve`) and the operator CLI, in one binary.
//!
//! - `config`: settings from defaults, a file and the environment.
//! - `api`: the SCIM HTTP API.
//! - `access`: roles derived from the log and the in-memory access look-up.
//! - `admin`: the admin model and operations, shared by `/admin/v1` and the CLI.
//! - `cli`: tenants, connections, operators, the audit, and the events on NATS.
//! - `serve`: the server's life cycle, and a worker's.
//! - `subscribers`: the enrollment mailer, and which subscribers a process runs.
//! - `scrape`: `/metrics` on a listener of its own.
//! - `token`: generated secrets and logins.

mod access;
mod admin;
mod api;
mod cli;
mod config;
mod console;
mod scrape;
mod serve;
mod subscribers;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use time::format_description::well_known::Rfc3339;

use crate::config::{LogFormat, Settings};

/// Requests allocate many small, short-lived JSON values from two worker threads; mimalloc
/// serves that pattern with less contention than the system allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "scimledger", version, about = "Event-sourced SCIM 2.0 provisioning server")]
struct Cli {
    /// A TOML settings file (also SCIMLEDGER_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SCIM server.
    Serve {
        /// Create a `demo` tenant if missing and print a fresh connection's URL and token.
        #[arg(long)]
        demo: bool,
        /// Run no subscriber in this process (run them with `scimledger worker NAME`).
        #[arg(long)]
        no_workers: bool,
    },
    /// Subscribers: run one alone, or see how far behind the log each is.
    Worker {
        #[command(subcommand)]
        command: WorkerCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage provisioning connections (one per IdP app; each with its auth mode and settings).
    Connection {
        #[command(subcommand)]
        command: cli::connection::ConnectionCommand,
    },
    /// Manage roles: the catalogue, group mappings, the default role and locks.
    Role {
        #[command(subcommand)]
        command: cli::role::RoleCommand,
    },
    /// Manage the device registry: register, list, assign, unassign.
    Device {
        #[command(subcommand)]
        command: cli::device::DeviceCommand,
    },
    /// Tokens for the access look-up (`/access/v1`), one tenant each.
    AccessToken {
        #[command(subcommand)]
        command: AccessTokenCommand,
    },
    /// Manage operators (who may use the admin API).
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Ask the log: who changed what, when, from where; a resource's history and its state at
    /// any instant; the whole log as JSON Lines (docs/audit.md).
    Audit {
        #[command(subcommand)]
        command: cli::audit::AuditCommand,
    },
    /// The master keys that wrap users' data keys: generate one, see what each wraps, rotate.
    MasterKey {
        #[command(subcommand)]
        command: cli::master_key::MasterKeyCommand,
    },
    /// Rebuild every read model from the log and swap it in while servers keep serving.
    Rebuild {
        /// Rebuild beside the live read models and report every row that differs (exit status
        /// 1 when any), swapping nothing.
        #[arg(long)]
        verify: bool,
    },
    /// Copy the embedded database to FILE, consistently, while servers keep running (on
    /// PostgreSQL, back up with pg_dump or the server's own tooling: docs/operations.md).
    Backup {
        /// A new file for the copy.
        file: PathBuf,
    },
    /// Identity events on NATS JetStream (needs SCIMLEDGER_NATS_URL).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Follow the live stream and print each event as one line of JSON (its CloudEvents envelope).
    Tail {
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// Only events of this type, e.g. user.deactivated.
        #[arg(long = "type")]
        event_type: Option<String>,
    },
    /// Publish the log again from a position; consumers and JetStream dedupe on the event id.
    Republish {
        /// The first log position to publish (an envelope's `position`).
        #[arg(long)]
        from: i64,
        /// The last position to publish (default: the end of the log).
        #[arg(long)]
        to: Option<i64>,
    },
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// The enrollment mailer (needs SCIMLEDGER_SMTP_URL).
    Mailer,
    /// The assets subscriber: connections' on_deactivate on devices and users.
    Assets,
    /// Each subscriber's checkpoint and lag (events behind the log's head).
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant: lower-case letters, digits and dashes; with --parent, a sub-tenant the
    /// parent's connections may route into (docs/adr/0074).
    Create {
        slug: String,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set how a parent routes pushed users (by an attribute's value, or by the groups that name
    /// them) and groups (by displayName) into its sub-tenants.
    Routing {
        slug: String,
        #[command(flatten)]
        rule: cli::tenant::Rule,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a tenant's enrollment email (docs/operations.md#enrollment-emails).
    Update {
        slug: String,
        #[command(flatten)]
        enrollment: cli::tenant::Enrollment,
        #[arg(long)]
        json: bool,
    },
    /// Delete a tenant whose connections are all disabled: its users, groups and connections
    /// leave the read models; its events stay in the log, and its slug is never used again.
    Delete {
        slug: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AccessTokenCommand {
    /// Create a token for policy services of the tenant and print it (shown once).
    Create {
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's access tokens: names, ids, which secrets still work (never a secret).
    List {
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an access token: it stops working at once, on every server.
    Revoke {
        tenant: String,
        /// Its name or id.
        token: String,
        #[arg(long)]
        json: bool,
    },
    /// Give an access token a new secret (shown once); the old one works for the grace period.
    Rotate {
        tenant: String,
        /// Its name or id.
        token: String,
        /// How long the old secret keeps working: 0, 90s, 15m, 24h, 7d (default 24h).
        #[arg(long)]
        grace: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator and print its admin API token (shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn api_time(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scimledger: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    let format = match settings.log_format {
        LogFormat::Text => telemetry::Format::Text,
        LogFormat::Json => telemetry::Format::Json,
    };
    let telemetry = telemetry::init(format, "scimledger");
    match cli.command {
        Command::Serve { demo, no_workers } => return serve::run(settings, demo, !no_workers, telemetry.scrape()).await,
        Command::Worker { command: WorkerCommand::Mailer } => return serve::worker(settings, subscribers::mailer::NAME).await,
        Command::Worker { command: WorkerCommand::Assets } => return serve::worker(settings, subscribers::assets::NAME).await,
        // Tailing reads NATS only: no database needed.
        Command::Events { command: EventsCommand::Tail { tenant, event_type } } => {
            return cli::events::tail(&settings, tenant.as_deref(), event_type.as_deref()).await
        }
        // A copy of the file, not a store: opening one would migrate the file first.
        Command::Backup { file } => return cli::backup::run(&settings, &file),
        Command::MasterKey { command: cli::master_key::MasterKeyCommand::Generate } => {
            println!("{}", store::shred::master::generate());
            return Ok(());
        }
        // The key file is the command's subject: it keeps it beside the store.
        Command::MasterKey { command } => {
            let keys = settings.master_keys()?;
            let store = settings.open_store_with(&store::Options::default(), std::sync::Arc::clone(&keys)).await?;
            return cli::master_key::run(&*store, &keys, command).await;
        }
        _ => {}
    }
    let store = settings.open_store(&store::Options::default()).await?;
    match cli.command {
        Command::Serve { .. }
        | Command::Events { command: EventsCommand::Tail { .. } }
        | Command::Backup { .. }
        | Command::MasterKey { .. }
        | Command::Worker { command: WorkerCommand::Mailer | WorkerCommand::Assets } => unreachable!("handled above"),
        Command::Worker { command: WorkerCommand::Status { json } } => subscribers::run::status(&*store, json).await,
        Command::Tenant { command: TenantCommand::Create { slug, parent, json } } => {
            Ok(cli::tenant::create(&*store, &settings, &slug, parent, json).await?)
        }
        Command::Tenant { command: TenantCommand::Routing { slug, rule, json } } => {
            Ok(cli::tenant::routing(&*store, &settings, &slug, rule, json).await?)
        }
        Command::Tenant { command: TenantCommand::List { json } } => Ok(cli::tenant::list(&*store, &settings, json).await?),
        Command::Tenant { command: TenantCommand::Update { slug, enrollment, json } } => {
            cli::tenant::update(&*store, &settings, &slug, enrollment, json).await
        }
        Command::Tenant { command: TenantCommand::Delete { slug, json } } => {
            Ok(cli::tenant::delete(&*store, &settings, &slug, json).await?)
        }
        Command::Operator { command: OperatorCommand::Create { name, json } } => {
            Ok(cli::tenant::create_operator(&*store, &settings, &name, json).await?)
        }
        Command::Connection { command } => Ok(cli::connection::run(&*store, &settings, command).await?),
        Command::Role { command } => Ok(cli::role::run(&*store, &settings, command).await?),
        Command::Device { command } => Ok(cli::device::run(&*store, &settings, command).await?),
        Command::AccessToken { command: AccessTokenCommand::Create { tenant, name, json } } => {
            Ok(cli::role::create_access_token(&*store, &settings, &tenant, &name, json).await?)
        }
        Command::AccessToken { command: AccessTokenCommand::List { tenant, json } } => {
            Ok(cli::role::list_access_tokens(&*store, &settings, &tenant, json).await?)
        }
        Command::AccessToken { command: AccessTokenCommand::Revoke { tenant, token, json } } => {
            Ok(cli::role::revoke_access_token(&*store, &settings, &tenant, &token, json).await?)
        }
        Command::AccessToken { command: AccessTokenCommand::Rotate { tenant, token, grace, json } } => {
            Ok(cli::role::rotate_access_token(&*store, &settings, &tenant, &token, grace, json).await?)
        }
        Command::Audit { command } => cli::audit::run(&*store, &settings, command).await,
        Command::Rebuild { verify } => cli::rebuild::run(&*store, verify).await,
        Command::Events { command: EventsCommand::Republish { from, to } } => cli::events::republish(&*store, &settings, from, to).await,
    }
}
