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
    rounds = range(1, c["rounds"] + 1)
    runs = {(name, conc, r): json.load(open(f"{directory}/access-{name}-c{conc}-r{r}.json"))
            for name in ("healthz", "lookup") for conc in (32, 8) for r in rounds}
    rate = lambda r: r["requests"] / (r["duration_us"] / 1e6)  # noqa: E731
    p99 = lambda r: r["p99_us"] / 1000  # noqa: E731
    lag_figures = json.load(open(f"{directory}/access-lag.json"))
    shares = [rate(runs["lookup", 32, r]) / rate(runs["healthz", 32, r]) for r in rounds]
    p99_ratios = [p99(runs["lookup", 8, r]) / p99(runs["healthz", 8, r]) for r in rounds]
    share, p99_ratio = statistics.median(shares), statistics.median(p99_ratios)
    l32 = statistics.median(rate(runs["lookup", 32, r]) for r in rounds)
    errors = sum(run["socket_errors"] + run["status_errors"] + run["timeouts"] for run in runs.values())
    print("\n## The access look-up (issue 11)\n")
    print(f"scripts/bench-access.sh on PostgreSQL: {c['users']:,} users seeded through `/Bulk`, in groups of "
          f"{c['per_group']:,}, two of them mapped to roles; `GET /access/v1/bench/logins/{{login}}` for random "
          f"logins with an access token, by wrk ({c['seconds']} s per run, {c['threads']} threads) on the same machine, "
          "and `GET /healthz` the same way as this machine's ceiling, once the server is idle after the seeding. "
          f"The two alternate, {c['rounds']} pairs at each concurrency (each pair in the other order than the last), "
          "and each look-up run is compared with its pair's /healthz: this machine's speed drifts by more than "
          "the difference measured.\n")
    print("| round | /healthz c32 req/s | look-up c32 req/s | % of /healthz | /healthz c8 p99 ms | look-up c8 p99 ms | ÷ /healthz p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r, s, q in zip(rounds, shares, p99_ratios):
        print(f"| {r} | {rate(runs['healthz', 32, r]):,.0f} | {rate(runs['lookup', 32, r]):,.0f} | {100 * s:.0f}% | "
              f"{p99(runs['healthz', 8, r]):.2f} | {p99(runs['lookup', 8, r]):.2f} | {q:.2f} |")
    print(f"| median | | {l32:,.0f} | **{100 * share:.0f}%** | | | **{p99_ratio:.2f}** |")
    print(f"\nErrors in all runs (socket, status, timeouts): {errors}.")
    print(f"\n- server RSS with the projection loaded (target ≤ 400 MB at 1,000,000 users): **{c['rss_mb']:.0f} MB** in the server "
          f"that seeded the users and answered the look-ups; **{c['rss_restarted_mb']:.0f} MB** in a server restarted on the "
          "same database, once its projection is loaded and it has answered a round of look-ups")
    print(f"- start-up to a ready projection (restart on the same database): **{c['startup_s']:.1f} s**")
    print(f"- look-up lag from a SCIM write on another process: p50 **{lag_figures['p50_ms']:.0f} ms**, "
          f"p99 {lag_figures['p99_ms']:.0f} ms, max {lag_figures['max_ms']:.0f} ms ({lag_figures['n']} writes)")
    print("\n| target (issue 11) | measured (median of the rounds) | status |")
    print("|---|---:|---|")
    for target, measured, met in [
        ("look-ups at concurrency 32 ≥ 20,000/s", f"{l32:,.0f}/s", l32 >= 20000),
        ("look-ups at concurrency 32 ≥ 60% of /healthz", f"{100 * share:.0f}%", share >= 0.6),
        ("look-up p99 at concurrency 8 within 1.5× of /healthz's", f"{p99_ratio:.2f}×", p99_ratio <= 1.5),
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
