#!/usr/bin/env python3
"""The parts of scripts/bench-purge.sh that speak HTTP or write markdown (issue 9).

  measure BASE OTHER_TOKEN USERS OUT -- PURGE_COMMAND...
      on a server whose tenant holds USERS users of the connection the command purges: gives
      the other connection users of its own, times its requests (a GET and a PATCH of its own
      users, one at a time) and GET /healthz alone, then runs the purge command and times the
      same requests until it exits; writes OUT (JSON)
  report DIR BACKEND...  the markdown section of docs/benchmarks.md

Every measurement is sequential (one request at a time, one keep-alive connection).
"""
import json
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
from bench_lookups import Client  # noqa: E402
from bench_scale import latencies, timed  # noqa: E402

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OWN_USERS = 200
BASELINE_REQUESTS = 400


def own_users(client):
    ids = []
    for i in range(OWN_USERS):
        body = {"userName": f"other.user{i}@example.com", "name": {"givenName": "Other", "familyName": f"User{i}"}}
        status, text, _ = timed(client, "POST", "/Users", body)
        if status != 201:
            sys.exit(f"bench-purge: creating the other connection's user answered {status}: {text[:300]!r}")
        ids.append(json.loads(text)["id"])
    return ids


def one_request(client, ids, n):
    """The other connection's n-th request: GET one of its users, or PATCH one (alternately)."""
    user = ids[n % len(ids)]
    if n % 2:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "displayName", "value": f"Other {n}"}]}
        status, _, ms = timed(client, "PATCH", f"/Users/{user}", body)
    else:
        status, _, ms = timed(client, "GET", f"/Users/{user}", None)
    if status != 200:
        sys.exit(f"bench-purge: the other connection's request {n} answered {status}")
    return ms


def healthz(base, reps):
    origin = urllib.parse.urlsplit(base)
    client = Client(f"{origin.scheme}://{origin.netloc}", "")
    ms = []
    for _ in range(reps):
        status, _, t = timed(client, "GET", "/healthz")
        if status != 200:
            sys.exit(f"bench-purge: /healthz answered {status}")
        ms.append(t)
    return latencies(ms)


def measure(base, token, users, out, command):
    client = Client(base, token)
    ids = own_users(client)
    before = [one_request(client, ids, n) for n in range(BASELINE_REQUESTS)]
    health = healthz(base, BASELINE_REQUESTS)
    began = time.monotonic()
    purge = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    during, n = [], 0
    while purge.poll() is None:
        during.append(one_request(client, ids, n))
        n += 1
    seconds = time.monotonic() - began
    if purge.returncode != 0:
        sys.exit(f"bench-purge: the purge failed: {purge.stderr.read().decode()[-2000:]}")
    remaining = Client(base, token).get("/Users", {"count": 0})["totalResults"]
    if remaining != OWN_USERS:
        sys.exit(f"bench-purge: the other connection has {remaining} users after the purge, not {OWN_USERS}")
    json.dump({"users": users, "seconds": seconds, "users_per_s": users / seconds, "healthz": health,
               "before": latencies(before), "during": latencies(during) if during else None}, open(out, "w"))


def report(directory, backends):
    rows = []
    for backend in backends:
        r = json.load(open(f"{directory}/purge-{backend}.json"))
        before, during, health = r["before"], r["during"], r["healthz"]
        cell = lambda d, k: f"{d[k]:.1f}" if d else "n/a"  # noqa: E731
        ratio = f"{during['p99_ms'] / before['p99_ms']:.1f}×" if during else "n/a"
        rows.append(f"| {backend} | {r['users']:,} | {r['seconds']:.1f} | {r['users_per_s']:,.0f} | "
                    f"{health['p50_ms']:.2f} | {cell(before, 'p50_ms')} / {cell(before, 'p99_ms')} | "
                    f"{cell(during, 'p50_ms')} / {cell(during, 'p99_ms')} | {ratio} | {during['n'] if during else 0} |")
    print("\n## Purge of a connection (issue 9)\n")
    print("`connection disable --purge` of a connection owning the users below (each deleted as an event,")
    print("ADR 0041), run by the CLI while another connection of the same tenant GETs and PATCHes its own")
    print("users one request at a time. The other connection's latency before and during the purge, with")
    print("`/healthz` through the same client as this machine's floor (`scripts/bench-purge.sh`).\n")
    print("| backend | users purged | seconds | users/s | /healthz p50 ms | other conn. before p50 / p99 ms "
          "| during p50 / p99 ms | p99 during ÷ before | requests during |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        dash = sys.argv.index("--")
        base, token, users, out = sys.argv[2:dash]
        measure(base, token, int(users), out, sys.argv[dash + 1:])
    elif sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
