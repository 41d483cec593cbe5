#!/usr/bin/env python3
"""The parts of scripts/bench-access.sh that speak HTTP or write markdown (issue 11).

  groups BASE TOKEN USERS PER_GROUP     puts the seeded users in groups of PER_GROUP (group-N)
  paths USERS COUNT TENANT OUT          look-up paths of COUNT random seeded logins
  ready ORIGIN                          waits until /access/v1/status says ready; prints seconds
  lag BASE_A TOKEN ORIGIN_B ACCESS_TOKEN TENANT USERS N OUT
                                        N times: a SCIM write through server A, then B's look-up
                                        polled until it shows it; the milliseconds between
  report DIR                            the markdown section of docs/benchmarks.md
"""
import json
import random
import statistics
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
from bench_lookups import Client  # noqa: E402
from bench_scale import pct, user_ids  # noqa: E402


def login(i):
    return f"bench.user{i}@example.com"


def groups(base, token, users, per_group):
    client = Client(base, token)
    ids = user_ids(client, users)
    for g in range(0, users, per_group):
        members = [{"value": i} for i in ids[g:g + per_group]]
        client.request("POST", "/Groups", {"displayName": f"group-{g // per_group}", "members": members})


def paths(users, count, tenant, out):
    rng = random.Random(11)
    with open(out, "w") as f:
        for _ in range(count):
            f.write(f"/access/v1/{tenant}/logins/{urllib.parse.quote(login(rng.randrange(users)))}\n")


def ready(origin):
    client = Client(origin, "")
    began = time.monotonic()
    while True:
        try:
            status, text = client.send("GET", "/access/v1/status")
            if status == 200 and json.loads(text).get("ready"):
                print(f"{time.monotonic() - began:.2f}")
                return
        except OSError:
            client = Client(origin, "")
        time.sleep(0.05)


def lag(base_a, token, origin_b, access_token, tenant, users, n, out):
    writer = Client(base_a, token)
    reader = Client(origin_b, access_token)
    rng = random.Random(5)
    samples = []
    for k in range(n):
        name = login(rng.randrange(users))
        found = writer.get("/Users", {"filter": f'userName eq "{name}"', "attributes": "id"})["Resources"][0]["id"]
        title = f"lag-probe-{k}"
        writer.request("PATCH", f"/Users/{found}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                     "Operations": [{"op": "replace", "path": "title", "value": title}]})
        written = time.perf_counter()
        version = writer.request("GET", f"/Users/{found}")["meta"]["version"]
        want = int(version.strip('W/"'))
        while True:
            status, text = reader.send("GET", f"/access/v1/{tenant}/logins/{urllib.parse.quote(name)}")
            if status == 200 and json.loads(text)["version"] >= want:
                break
            time.sleep(0.002)
        samples.append((time.perf_counter() - written) * 1000)
    json.dump({"n": n, "p50_ms": statistics.median(samples), "p99_ms": pct(samples, 0.99), "max_ms": max(samples)},
              open(out, "w"))


def report(directory):
    c = json.load(open(f"{directory}/access-config.json"))
    runs = {name: json.load(open(f"{directory}/access-{name}.json")) for name in
            ("healthz-c32", "lookup-c32", "healthz-c8", "lookup-c8")}
    rate = lambda r: r["requests"] / (r["duration_us"] / 1e6)  # noqa: E731
    lag_figures = json.load(open(f"{directory}/access-lag.json"))
    h32, l32 = rate(runs["healthz-c32"]), rate(runs["lookup-c32"])
    p99_h8, p99_l8 = runs["healthz-c8"]["p99_us"] / 1000, runs["lookup-c8"]["p99_us"] / 1000
    errors = sum(runs[k]["socket_errors"] + runs[k]["status_errors"] + runs[k]["timeouts"] for k in runs)
    print("\n## The access look-up (issue 11)\n")
    print(f"scripts/bench-access.sh on PostgreSQL: {c['users']:,} users seeded through `/Bulk`, in groups of "
          f"{c['per_group']:,}, two of them mapped to roles; `GET /access/v1/bench/logins/{{login}}` for random "
          f"logins with an access token, by wrk ({c['seconds']} s per run, {c['threads']} threads) on the same machine, "
          "and `GET /healthz` the same way in the same minute as this machine's ceiling.\n")
    print("| | concurrency 32 req/s | % of /healthz | concurrency 8 p99 ms | ÷ /healthz p99 | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| /healthz | {h32:,.0f} | 100% | {p99_h8:.2f} | 1.00 | |")
    print(f"| look-up | {l32:,.0f} | {100 * l32 / h32:.0f}% | {p99_l8:.2f} | {p99_l8 / p99_h8:.2f} | {errors} |")
    print(f"\n- server RSS with the projection loaded (target ≤ 400 MB at 1,000,000 users): **{c['rss_mb']:.0f} MB** in the server "
          f"that seeded the users and answered the look-ups; **{c['rss_restarted_mb']:.0f} MB** in a server restarted on the "
          "same database, once its projection is loaded and it has answered a round of look-ups")
    print(f"- start-up to a ready projection (restart on the same database): **{c['startup_s']:.1f} s**")
    print(f"- look-up lag from a SCIM write on another process: p50 **{lag_figures['p50_ms']:.0f} ms**, "
          f"p99 {lag_figures['p99_ms']:.0f} ms, max {lag_figures['max_ms']:.0f} ms ({lag_figures['n']} writes)")
    print("\n| target (issue 11) | measured | status |")
    print("|---|---:|---|")
    for target, measured, met in [
        ("look-ups at concurrency 32 ≥ 20,000/s", f"{l32:,.0f}/s", l32 >= 20000),
        ("look-ups at concurrency 32 ≥ 60% of /healthz", f"{100 * l32 / h32:.0f}%", l32 >= 0.6 * h32),
        ("look-up p99 at concurrency 8 within 1.5× of /healthz's", f"{p99_l8 / p99_h8:.2f}×", p99_l8 <= 1.5 * p99_h8),
        ("RSS ≤ 400 MB, the server that seeded", f"{c['rss_mb']:.0f} MB", c["rss_mb"] <= 400),
        ("RSS ≤ 400 MB, a restarted server", f"{c['rss_restarted_mb']:.0f} MB", c["rss_restarted_mb"] <= 400),
    ]:
        print(f"| {target} | {measured} | {'met' if met else 'not met'} |")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "groups":
        groups(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "paths":
        paths(int(args[0]), int(args[1]), args[2], args[3])
    elif command == "ready":
        ready(args[0])
    elif command == "lag":
        lag(args[0], args[1], args[2], args[3], args[4], int(args[5]), int(args[6]), args[7])
    elif command == "report":
        report(args[0])
    else:
        sys.exit(__doc__)
