#!/usr/bin/env python3
"""Writes docs/benchmarks.md from scimload's JSON results (scripts/bench.sh)."""
import datetime
import json
import os
import platform
import subprocess
import sys


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}"


def revision():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def op(result, name):
    return next((o for o in result["ops"] if o["op"] == name), None)


# (backend, what, measured from a result, comparison, bar): the bars of issues 2 and 3.
TARGETS = [
    ("postgres", "import users/s", lambda r: r["summary"]["import_users_per_s"], ">=", 1500),
    ("postgres", "look-up user p99 ms", lambda r: (op(r, "lookup.user") or {}).get("p99_ms", 0), "<", 10),
    ("sqlite", "import users/s", lambda r: r["summary"]["import_users_per_s"], ">=", 1500),
    ("sqlite", "look-up user p99 ms", lambda r: (op(r, "lookup.user") or {}).get("p99_ms", 0), "<", 5),
]


def targets(results):
    print("\n## Against the targets (issues 2 and 3, concurrency 32)\n")
    print("| backend | measure | bar | measured | status |")
    print("|---|---|---:|---:|---|")
    for backend, what, measure, cmp, bar in TARGETS:
        if backend not in results:
            continue
        value = measure(results[backend])
        met = value >= bar if cmp == ">=" else value < bar
        print(f"| {backend} | {what} | {cmp} {bar:,} | {value:,.2f} | {'met' if met else 'not met'} |")


def main():
    out_dir, backends = sys.argv[1], sys.argv[2:]
    results = {b: json.load(open(os.path.join(out_dir, f"{b}.json"))) for b in backends}
    first = next(iter(results.values()))["config"]
    print("# Benchmarks\n")
    print("Measured by `make bench` (scripts/bench.sh): the release build of scimledger, and "
          "../shared/scimload playing an IdP, on the same machine. Numbers are from one run; "
          "expect a few percent of noise.\n")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine()}")
    print(f"- revision: {revision()}")
    print(f"- load: {first['users']} users, {first['groups']} groups, concurrency {first['concurrency']}, "
          f"{first['lookups']} look-ups; scimload and the server share the machine\n")
    print("## Summary\n")
    print("| backend | import users/s | look-up user p50 ms | look-up user p99 ms | look-ups/s | errors | list check |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for backend, r in results.items():
        lookup = op(r, "lookup.user") or {}
        lookups = [o for o in r["ops"] if o["op"].startswith("lookup.")]
        rate = sum(o["ok_per_s"] for o in lookups)
        check = r["list_check"]
        ok = check["missing"] == 0 and check["duplicates"] == 0 and check["groups_mismatched"] == 0
        print(f"| {backend} | {r['summary']['import_users_per_s']:.0f} | {lookup.get('p50_ms', 0):.2f} | "
              f"{lookup.get('p99_ms', 0):.2f} | {rate:.0f} | {r['summary']['errors']} | {'ok' if ok else json.dumps(check)} |")
    for backend, r in results.items():
        print(f"\n## {backend}: every operation\n")
        print("| op | ok | errors | ok/s | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for o in r["ops"]:
            print(f"| {o['op']} | {o['ok']} | {o['errors']} | {o['ok_per_s']:.0f} | {o['p50_ms']:.2f} | "
                  f"{o['p90_ms']:.2f} | {o['p99_ms']:.2f} | {o['max_ms']:.2f} |")
        print("\n" + ", ".join(f"{p['phase']} {p['wall_s']:.1f} s" for p in r["phases"]))
    targets(results)
    notes = os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks-notes.md")
    if os.path.exists(notes):
        print("\n" + open(notes).read().strip())


if __name__ == "__main__":
    main()
