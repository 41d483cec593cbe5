#!/usr/bin/env python3
"""The parts of scripts/bench-subscribers.sh that speak HTTP or write markdown (issue 12).

  import BASE TOKEN ORIGIN USERS PARALLEL OUT   seeds USERS users (bench_lookups.py's) while
                                                sampling the mailer's lag (GET /healthz/subscribers)
  wait-mails SINK_DIR USERS                     waits for USERS emails in the SMTP sink
  mails SINK_DIR OUT LOG_TSV                    each email's commit-to-accept: the sink's acceptance
                                                time less its user.provisioned's commit, found by
                                                Message-ID (LOG_TSV: message_id, recorded_at epoch,
                                                from each enrollment.sent and its cause)
  devices ADMIN_BASE OPERATOR_TOKEN USERS       registers two devices for each of the first USERS users
  deactivate BASE TOKEN USERS                   PATCHes those users to active false
  actions LOG_TSV OUT                           device actions from the log (deactivation, action times)
  report DIR                                    the markdown section of docs/benchmarks.md
"""
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True
from bench_lookups import Client, seed  # noqa: E402
from bench_scale import pct  # noqa: E402


def login(i):
    return f"bench.user{i}@example.com"


def import_users(base, token, origin, users, parallel, out):
    samples, done = [], threading.Event()

    def sample():
        client = Client(origin, "")
        while not done.is_set():
            status, text = client.send("GET", "/healthz/subscribers")
            if status == 200:
                for s in json.loads(text)["subscribers"]:
                    if s["name"] == "mailer" and s["active"]:
                        samples.append(s["behind"])
            time.sleep(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    seed(base, token, users, parallel, out + ".seed")
    done.set()
    sampler.join()
    seeded = json.load(open(out + ".seed"))
    json.dump({"users": users, "import_s": seeded["seconds"], "lag_peak": max(samples or [0]),
               "lag_mean": statistics.mean(samples or [0])}, open(out, "w"))


def wait_mails(sink, users):
    deadline = time.monotonic() + 3600
    while len([f for f in os.listdir(sink) if not f.startswith(".")]) < users:
        if time.monotonic() > deadline:
            sys.exit("bench-subscribers: the emails did not all arrive within an hour")
        time.sleep(1)


def mails(sink, out, log_tsv):
    # Matched by Message-ID, which the log keeps in clear: the userName and the address are
    # encrypted in the events (ADR 0068), so a payload's user_name reads as NULL in SQL.
    committed = {}
    for line in open(log_tsv):
        message_id, at = line.rstrip("\n").split("\t")
        committed[message_id] = float(at)
    latencies, accepted = [], []
    for f in os.listdir(sink):
        if f.startswith("."):
            continue
        at = int(f.split("-")[0]) / 1e9
        record = json.load(open(os.path.join(sink, f)))
        latencies.append((at - committed[record["message_id"]]) * 1000)
        accepted.append(at)
    span = max(accepted) - min(committed.values())
    json.dump({"emails": len(accepted), "per_s": len(accepted) / span, "p50_ms": statistics.median(latencies),
               "p99_ms": pct(latencies, 0.99)}, open(out, "w"))


def devices(admin_base, token, users):
    def register(i):
        client = Client(admin_base, token)
        for d in range(2):
            client.request("POST", "/devices", {"serial": f"SN-{i}-{d}", "kind": "laptop", "assign": login(i)})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(register, range(users)))


def deactivate(base, token, users):
    def one(i):
        client = Client(base, token)
        found = client.get("/Users", {"filter": f'userName eq "{login(i)}"', "attributes": "id"})["Resources"][0]["id"]
        client.request("PATCH", f"/Users/{found}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                    "Operations": [{"op": "replace", "path": "active", "value": False}]})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(users)))


def actions(log_tsv, out):
    """LOG_TSV lines: deactivation epoch, action epoch (one line per device action)."""
    pairs = [tuple(map(float, line.split("\t"))) for line in open(log_tsv) if line.strip()]
    latencies = [(a - d) * 1000 for d, a in pairs]
    span = max(a for _, a in pairs) - min(d for d, _ in pairs)
    json.dump({"actions": len(pairs), "per_s": len(pairs) / span, "p50_ms": statistics.median(latencies),
               "p99_ms": pct(latencies, 0.99)}, open(out, "w"))


def report(directory):
    i = json.load(open(f"{directory}/subscribers-import.json"))
    m = json.load(open(f"{directory}/subscribers-mails.json"))
    a = json.load(open(f"{directory}/subscribers-actions.json"))
    print("\n## Subscribers (issue 12)\n")
    print("scripts/bench-subscribers.sh on PostgreSQL, the release build, a real SMTP server (aiosmtpd, "
          "tests/support/smtp_sink.py) on the same machine. Commit times are the events' `recorded_at`; "
          "acceptance is when the SMTP server answered 250.\n")
    print("| what | count | per second | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    print(f"| enrollment emails, commit → SMTP accept | {m['emails']:,} | {m['per_s']:.1f} | {m['p50_ms']:,.0f} | {m['p99_ms']:,.0f} |")
    print(f"| device actions (unassign, 2 per user), deactivation commit → action commit | {a['actions']:,} | {a['per_s']:.1f} | {a['p50_ms']:,.0f} | {a['p99_ms']:,.0f} |")
    print(f"\nWhile {i['users']:,} users were imported through `/Bulk` ({i['import_s']:.1f} s), the mailer was at most "
          f"{i['lag_peak']:,} events behind the log (mean {i['lag_mean']:,.0f}); latencies above include that queue: the "
          "mailer has at most 8 emails in an SMTP transaction at once.")


if __name__ == "__main__":
    c, a = sys.argv[1], sys.argv[2:]
    if c == "import":
        import_users(a[0], a[1], a[2], int(a[3]), int(a[4]), a[5])
    elif c == "wait-mails":
        wait_mails(a[0], int(a[1]))
    elif c == "mails":
        mails(a[0], a[1], a[2])
    elif c == "devices":
        devices(a[0], a[1], int(a[2]))
    elif c == "deactivate":
        deactivate(a[0], a[1], int(a[2]))
    elif c == "actions":
        actions(a[0], a[1])
    elif c == "report":
        report(a[0])
    else:
        sys.exit(__doc__)
