//! `scimledger rebuild [--verify]`: the read models rebuilt from the log, swapped in while
//! servers keep serving, or compared with the live ones (docs/operations.md).

use std::io::IsTerminal;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use store::rebuild::{self, Report};
use store::Store;

/// How often, in events read, a progress line is printed when stderr is no terminal.
const LINE_EVERY: i64 = 100_000;

pub async fn run(store: &dyn Store, verify: bool) -> anyhow::Result<()> {
    let head = store.head().await?.max(0);
    let bar = std::io::stderr().is_terminal().then(|| ProgressBar::new(head as u64));
    if let Some(bar) = &bar {
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, {eta})")?);
    }
    let progress = |events: i64| match &bar {
        Some(bar) => bar.set_position(events as u64),
        None if events % LINE_EVERY < 1000 => eprintln!("rebuild: {events} of about {head} events read"),
        None => {}
    };
    let started = std::time::Instant::now();
    let report = rebuild::rebuild(store, store.shadow(), verify, &progress).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let rate = report.events as f64 / started.elapsed().as_secs_f64().max(1e-3);
    let phases = report.phases;
    eprintln!(
        "rebuild: read {:.1?}, folded {:.1?}, written {:.1?}, {} {:.1?}",
        phases.read,
        phases.fold,
        phases.write,
        if verify { "compared" } else { "swapped in" },
        phases.finish
    );
    eprintln!("rebuild: {} events read in {:.1?} ({rate:.0} events/s)", report.events, started.elapsed());
    print(&report);
    if !report.differences.is_empty() {
        let mut tables = std::collections::BTreeMap::<&str, usize>::new();
        for d in &report.differences {
            *tables.entry(d.table).or_default() += 1;
        }
        let counts: Vec<String> = tables.iter().map(|(table, n)| format!("{table}: {n}")).collect();
        bail!(
            "{} rows differ between the live read models and their rebuild from the log ({})",
            report.differences.len(),
            counts.join(", ")
        );
    }
    Ok(())
}

fn print(report: &Report) {
    for d in &report.differences {
        let side = if d.live_only { "live only" } else { "rebuilt only" };
        println!("{}\t{side}\t{}", d.table, d.row);
    }
    if report.swapped {
        println!("rebuilt read models swapped in ({} events)", report.events);
    } else if report.differences.is_empty() {
        println!("the read models equal their rebuild from the log ({} events)", report.events);
    }
}
