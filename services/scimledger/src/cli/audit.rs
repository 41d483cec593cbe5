//! `scimledger audit …`: the audit operations at the command line (docs/audit.md), printing the
//! admin model (`--json`), JSON Lines (`export`), or lines for people. `verify` exits non-zero
//! when the log is not intact.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use store::Store;

use super::connection::{admin, print_json};
use crate::admin::audit::export_page;
use crate::admin::audit_http::lines;
use crate::admin::audit_model::{AsOfQuery, AuditEvent, ExportQuery, HistoryEntry, LogQuery, SealView};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The tenant's events that match, oldest first, a page at a time.
    Log {
        tenant: String,
        /// One resource's events (a user's, group's or connection's id).
        #[arg(long, conflicts_with = "login")]
        resource: Option<String>,
        /// The events of every user that had this login (userName or alias).
        #[arg(long)]
        login: Option<String>,
        /// An event type, e.g. user.deactivated.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// connection:<id>, operator:<name>, system:<what>, or a connection's name or id, else
        /// an operator's name.
        #[arg(long)]
        actor: Option<String>,
        /// RFC 3339: recorded at or after.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339: recorded before.
        #[arg(long)]
        until: Option<String>,
        /// Only events after this log position (the `next` of the page before).
        #[arg(long)]
        after: Option<i64>,
        /// At most this many events (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One resource's events, each with the attributes it changed.
    History {
        tenant: String,
        /// An id, or a user's login.
        resource: String,
        #[arg(long)]
        json: bool,
    },
    /// The SCIM representation a user or group had at an instant.
    AsOf {
        tenant: String,
        /// An id, or a user's login.
        resource: String,
        /// RFC 3339.
        #[arg(long, required_unless_present = "position", conflicts_with = "position")]
        at: Option<String>,
        /// A log position.
        #[arg(long)]
        position: Option<i64>,
        /// Accepted for symmetry: the answer is always the resource's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the tenant's log against its seals: exit status 0 when intact; otherwise the first
    /// bad position and what is wrong there (edited, deleted, inserted, reordered, seal_mismatch).
    Verify {
        tenant: String,
        /// A seal exported earlier (`audit seal --json`): the log must still pass through it.
        #[arg(long)]
        seal: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Seal what the log has settled and print the tenant's newest seal, to keep elsewhere.
    Seal {
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Erase a user's personal data: delete the user if it is live, record `user.erased` and
    /// destroy its key, so that its events' personal fields read as erased (docs/audit.md).
    Erase {
        tenant: String,
        /// The user's id, or its login.
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Every event of the tenant as JSON Lines on stdout, oldest first, in constant memory.
    Export {
        tenant: String,
        /// RFC 3339: only events recorded at or after.
        #[arg(long)]
        since: Option<String>,
    },
}

pub async fn run(store: &dyn Store, settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let admin = admin(store, settings);
    match command {
        AuditCommand::Log { tenant, resource, login, event_type, actor, since, until, after, limit, json } => {
            let query = LogQuery { resource, login, event_type, actor, since, until, after, limit: Some(limit) };
            let page = admin.audit_log(&tenant, &query).await?;
            if json {
                print_json(&page);
            } else {
                page.events.iter().for_each(print_event);
                if let Some(next) = page.next {
                    eprintln!("more: --after {next}");
                }
            }
        }
        AuditCommand::History { tenant, resource, json } => {
            let history = admin.history(&tenant, &resource).await?;
            if json {
                print_json(&history);
            } else {
                history.iter().for_each(print_entry);
            }
        }
        AuditCommand::AsOf { tenant, resource, at, position, json: _ } => {
            print_json(&admin.as_of(&tenant, &resource, &AsOfQuery { at, position }).await?);
        }
        AuditCommand::Verify { tenant, seal, json } => {
            let anchor: Option<SealView> = match seal {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        serde_json::from_str(&text)
                            .with_context(|| format!("{} is not a seal that `audit seal --json` printed", path.display()))?,
                    )
                }
                None => None,
            };
            let verdict = admin.verify(&tenant, anchor.as_ref()).await?;
            if json {
                print_json(&verdict);
            } else {
                println!(
                    "tenant {}: {} sealed events verified; sealed through position {}; {} events not sealed yet",
                    verdict.tenant, verdict.verified, verdict.sealed_through, verdict.unsealed
                );
            }
            if let Some(problem) = verdict.problem {
                bail!("the log of tenant {tenant} is not intact: position {}: {} ({})", problem.position, problem.kind, problem.detail);
            }
        }
        AuditCommand::Seal { tenant, json } => {
            let seal = admin.seal(&tenant).await?;
            if json {
                print_json(&seal);
            } else {
                println!(
                    "tenant {} sealed through position {} at {}: {} {}",
                    seal.tenant, seal.position, seal.sealed_at, seal.algorithm, seal.chain
                );
            }
        }
        AuditCommand::Erase { tenant, user, json } => {
            let erasure = admin.erase(&tenant, &user).await?;
            if json {
                print_json(&erasure);
            } else if erasure.erased {
                println!("tenant {}: user {} erased (version {})", erasure.tenant, erasure.user, erasure.version);
            } else {
                println!("tenant {}: user {} was erased already", erasure.tenant, erasure.user);
            }
        }
        AuditCommand::Export { tenant, since } => {
            let (tenant, since) = admin.export_start(&tenant, &ExportQuery { since }).await?;
            let progress = progress(store).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let (mut after, mut exported) = (0, 0u64);
            loop {
                let events = export_page(store, &tenant, since, after).await?;
                let Some(last) = events.last().map(|e| e.position) else { break };
                out.write_all(lines(&events).as_bytes())?;
                (after, exported) = (last, exported + events.len() as u64);
                if let Some(bar) = &progress {
                    bar.set_position(last.max(0) as u64);
                    bar.set_message(format!("{exported} events"));
                }
            }
            out.flush()?;
            if let Some(bar) = progress {
                bar.finish_with_message(format!("{exported} events"));
            }
        }
    }
    Ok(())
}

/// A bar on stderr over the log's positions, when stderr is a terminal (scripts get nothing).
async fn progress(store: &dyn Store) -> anyhow::Result<Option<ProgressBar>> {
    if !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let bar = ProgressBar::new(store.head().await?.max(0) as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} position {pos}/{len} {msg} ({eta})")?);
    Ok(Some(bar))
}

fn print_event(e: &AuditEvent) {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!(
        "{}\t{}\t{}\t{} {}\tv{}\t{}\trequest {}\ttrace {}\tfrom {}",
        e.position,
        e.time,
        e.event_type,
        e.resource_kind,
        e.resource_id,
        e.resource_version,
        dash(&e.actor),
        dash(&e.request_id),
        dash(&e.trace_id),
        dash(&e.source),
    );
}

fn print_entry(entry: &HistoryEntry) {
    print_event(&entry.event);
    for change in &entry.changes {
        println!("    {}: {} -> {}", change.attribute, change.from, change.to);
    }
}
