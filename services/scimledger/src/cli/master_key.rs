//! `scimledger master-key generate|status|rotate`: the master keys of the key file against the
//! data keys they wrap (docs/operations.md, Master keys).

use std::io::IsTerminal;

use clap::Subcommand;
use domain::master_key::{MasterKeyId, Rotation};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use store::shred::master::KeyFile;
use store::shred::rotate::{self, Pace};
use store::{Actor, Store};

use super::connection::print_json;
use crate::api::provenance::Provenance;

#[derive(Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key: a line to put first in the key file.
    Generate,
    /// How many users' data keys each master key wraps, and which of them the key file holds.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-wrap every data key not under the key file's newest (first) master key; resumable:
    /// run it again after a stop, and it does what is left.
    Rotate {
        /// Data keys read and re-wrapped per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch: u32,
        /// Stop after re-wrapping this many (to pace a large table over several runs).
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

/// How often, in keys re-wrapped, a progress line is printed when stderr is no terminal.
const LINE_EVERY: u64 = 10_000;

pub async fn run(store: &dyn Store, keys: &KeyFile, command: MasterKeyCommand) -> anyhow::Result<()> {
    match command {
        MasterKeyCommand::Generate => unreachable!("needs no store: main prints it"),
        MasterKeyCommand::Status { json } => status(store, keys, json).await?,
        MasterKeyCommand::Rotate { batch, limit, json } => rotate(store, keys, Pace { batch, limit }, json).await?,
    }
    Ok(())
}

/// What `status --json` prints.
#[derive(Serialize)]
struct Status {
    file: String,
    /// The file's keys, newest first.
    file_keys: Vec<MasterKeyId>,
    /// The master key the canary is wrapped under.
    canary: Option<MasterKeyId>,
    wrapped: Vec<Wrapped>,
    /// Data keys under any master key but the newest: while some are, the older keys stay.
    under_older_keys: u64,
}

#[derive(Serialize)]
struct Wrapped {
    /// `null`: wrapped before master keys had ids, under the deployment's first master key.
    master_key: Option<MasterKeyId>,
    keys: u64,
    /// `null` for keys without an id: they open with whichever key of the file wrapped them.
    in_file: Option<bool>,
}

async fn status(store: &dyn Store, keys: &KeyFile, json: bool) -> anyhow::Result<()> {
    let ring = keys.ring();
    let file_keys: Vec<MasterKeyId> = ring.ids().cloned().collect();
    let table = store.key_table();
    let wrapped: Vec<Wrapped> = table
        .wrapped_counts()
        .await?
        .into_iter()
        .map(|count| {
            let in_file = count.master_key.as_ref().map(|id| file_keys.contains(id));
            Wrapped { master_key: count.master_key, keys: count.keys, in_file }
        })
        .collect();
    let newest = ring.newest().id();
    let under_older_keys = wrapped.iter().filter(|w| w.master_key.as_ref() != Some(newest)).map(|w| w.keys).sum();
    let status = Status {
        file: keys.path().display().to_string(),
        canary: table.canary().await?.and_then(|canary| canary.master_key),
        file_keys,
        wrapped,
        under_older_keys,
    };
    if json {
        print_json(&status);
        return Ok(());
    }
    println!("master key file {}: {} key(s), newest {newest}", status.file, status.file_keys.len());
    for w in &status.wrapped {
        let (id, note) = match &w.master_key {
            Some(id) if id == newest => (id.to_string(), "newest"),
            Some(id) if w.in_file == Some(true) => (id.to_string(), "older, in the file"),
            Some(id) => (id.to_string(), "NOT in the file: these keys cannot be read"),
            None => ("(no id)".to_owned(), "wrapped before master keys had ids: under the first master key"),
        };
        println!("{id:<16}  {:>10} data keys  {note}", w.keys);
    }
    match status.under_older_keys {
        0 if status.file_keys.len() == 1 => println!("every data key is under the file's one master key"),
        0 => println!("every data key is under the newest master key: the older keys may be removed from the file"),
        n => println!("{n} data keys are under older master keys: run `scimledger master-key rotate`"),
    }
    Ok(())
}

async fn rotate(store: &dyn Store, keys: &KeyFile, pace: Pace, json: bool) -> anyhow::Result<()> {
    let bar = std::io::stderr().is_terminal().then(ProgressBar::new_spinner);
    if let Some(bar) = &bar {
        bar.set_style(ProgressStyle::with_template("{spinner} {pos} data keys re-wrapped ({per_sec})")?);
    }
    let last_line = std::sync::atomic::AtomicU64::new(0);
    let progress = |rewrapped: u64| match &bar {
        Some(bar) => bar.set_position(rewrapped),
        None if rewrapped >= last_line.load(std::sync::atomic::Ordering::Relaxed) + LINE_EVERY => {
            last_line.store(rewrapped, std::sync::atomic::Ordering::Relaxed);
            eprintln!("master-key rotate: {rewrapped} data keys re-wrapped");
        }
        None => {}
    };
    let rotation = rotate::rotate(store.key_table(), keys, pace, &progress).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Recorded before it is reported: an operator who sees the counts can find them in the log.
    rotate::record(store, rotation.clone(), Provenance::default().metadata(Actor::Operator("cli".into()))).await?;
    if json {
        print_json(&rotation);
    } else {
        report(&rotation, keys);
    }
    Ok(())
}

fn report(rotation: &Rotation, keys: &KeyFile) {
    eprintln!("master-key rotate: {} data keys re-wrapped under master key {}", rotation.rewrapped, rotation.to);
    let remaining: u64 = rotation.remaining.iter().map(|count| count.keys).sum();
    match remaining {
        0 => println!(
            "every data key is under master key {}: the older keys may be removed from {} once every process reads it",
            rotation.to,
            keys.path().display()
        ),
        n => println!(
            "{n} data keys remain under older master keys: run `scimledger master-key rotate` again (a process not yet restarted \
             with the new key file still wraps new keys under the older key)"
        ),
    }
}
