#!/usr/bin/env python3
"""The parts of scripts/bench-lookups.sh that speak HTTP, read PostgreSQL's log or write markdown.

  seed BASE TOKEN USERS PARALLEL OUT     users through /Bulk; OUT gets the timing (JSON)
  paths BASE TOKEN USERS COUNT SLOW_MS DIR OUT
                                         DIR/paths-<kind>.txt for wrk, after checking that
                                         each kind of look-up finds exactly its user; OUT
                                         gets each kind's time alone; prints the kinds
                                         that take at most SLOW_MS alone
  settle BASE TOKEN ALONE                waits until the server answers about as fast as
                                         it did alone (ALONE: the OUT of paths)
  paging BASE TOKEN USERS REPS OUT [DEEP]
                                         index and cursor pages, shallow and deep (JSON); the
                                         deep page starts at DEEP (default 90% of USERS)
  plans BASE TOKEN USERS LOG DBURL OUT   one request of each kind with statement logging on:
                                         the statements from LOG, EXPLAIN ANALYZE of each (JSON)
  report DIR BACKEND...                  the markdown section of docs/benchmarks.md

BASE is the server's origin plus /scim/v2/<tenant>. User i (0-based) is the same in every
subcommand, so the look-ups always name users that exist.
"""
import concurrent.futures
import glob
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

KINDS = {
    "userName": lambda u: f'userName eq "{u["userName"]}"',
    "externalId": lambda u: f'externalId eq "{u["externalId"]}"',
    "emails": lambda u: f'emails[type eq "work"].value eq "{u["emails"][0]["value"]}"',
    "aliases": lambda u: f'aliases.value eq "{u["aliases"][0]["value"]}"',
}
TARGET_P99_MS = {32: 10.0, 8: 3.0}
PAGE_RATIO_TARGET = 3.0
PAGE = 100


def user(i):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"bench.user{i}@example.com",
        "externalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"scimledger-bench/{i}")),
        "name": {"givenName": "Bench", "familyName": f"User{i}"},
        "displayName": f"Bench User{i}",
        "active": True,
        "emails": [{"value": f"bench.user{i}@corp.example.com", "type": "work", "primary": True}],
        "aliases": [{"value": f"b.user{i}@alias.example.com", "type": "email"}],
    }


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, base, token):
        url = urllib.parse.urlsplit(base)
        self.prefix = url.path
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def send(self, method, path, body=None):
        """(status, body bytes), whatever the status."""
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, self.prefix + path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def request(self, method, path, body=None):
        status, text = self.send(method, path, body)
        if status >= 300:
            sys.exit(f"bench-lookups: {method} {path} answered {status}: {text[:500]!r}")
        return json.loads(text) if text else None

    def get(self, path, query):
        return self.request("GET", f"{path}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}")


def seed(base, token, users, parallel, out):
    batch = 1000

    def post(start):
        client = Client(base, token)
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user(i)}
               for i in range(start, min(start + batch, users))]
        answer = client.request("POST", "/Bulk", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
        failed = [o for o in answer["Operations"] if str(o.get("status")) != "201"]
        if len(answer["Operations"]) != len(ops) or failed:
            sys.exit(f"bench-lookups: bulk from user {start}: {len(failed)} failed, e.g. {failed[:1]}")

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(post, range(0, users, batch)))
    seconds = time.monotonic() - began
    total = Client(base, token).get("/Users", {"count": 0})["totalResults"]
    if total != users:
        sys.exit(f"bench-lookups: seeded {users} users but the server counts {total}")
    json.dump({"users": users, "parallel": parallel, "batch": batch, "seconds": seconds}, open(out, "w"))


def paths(base, token, users, count, slow_ms, directory, out):
    """Writes the paths, times each kind one request at a time, and prints the kinds fast enough
    to measure under load: a look-up that takes seconds alone would only time out under wrk and
    keep the server busy into the next run."""
    client = Client(base, token)
    rng = random.Random(4)
    chosen = [rng.randrange(users) for _ in range(count)]
    alone = {}
    for kind, condition in KINDS.items():
        times = []
        for i in (0, users - 1, *chosen[:5]):
            began = time.perf_counter()
            found = client.get("/Users", {"filter": condition(user(i))})
            times.append((time.perf_counter() - began) * 1000)
            names = [r["userName"] for r in found["Resources"]]
            if found["totalResults"] != 1 or names != [user(i)["userName"]]:
                sys.exit(f"bench-lookups: {kind} look-up of user {i} found {names}")
        alone[kind] = statistics.median(times)
        with open(os.path.join(directory, f"paths-{kind}.txt"), "w") as f:
            for i in chosen:
                query = urllib.parse.urlencode({"filter": condition(user(i))}, quote_via=urllib.parse.quote)
                f.write(f"{client.prefix}/Users?{query}\n")
    json.dump({"slow_ms": slow_ms, "alone_ms": alone}, open(out, "w"))
    print(" ".join(kind for kind, ms in alone.items() if ms <= slow_ms))


def settle(base, token, alone):
    """Waits until the server answers a look-up about as fast as it did alone: requests wrk gave
    up on may still be running, and would weigh on the next measurement."""
    client = Client(base, token)
    prompt_s = max(0.05, 2 * json.load(open(alone))["alone_ms"]["userName"] / 1000)
    deadline, prompt = time.monotonic() + 60, 0
    while prompt < 3 and time.monotonic() < deadline:
        began = time.perf_counter()
        client.get("/Users", {"filter": KINDS["userName"](user(0))})
        prompt = prompt + 1 if time.perf_counter() - began < prompt_s else 0
        time.sleep(0.1)
    if prompt < 3:
        print("bench-lookups: the server is still slow to answer after 60 s", file=sys.stderr)


def deep_start(users):
    """startIndex of the deep page: 90,001 at 100,000 users, the same depth in proportion below."""
    return users * 9 // 10 + 1


def paging(base, token, users, reps, out, deep=None):
    client = Client(base, token)
    deep = deep or deep_start(users)
    cursor_first = {"cursor": "", "count": PAGE}
    # Walk to the deep cursor in pages of 1000, the most a page may hold; a cursor is bound to
    # the filter, not to the page size.
    walked, cursor = 0, ""
    while walked < deep - 1:
        size = min(1000, deep - 1 - walked)
        page = client.get("/Users", {"cursor": cursor, "count": size})
        walked += len(page["Resources"])
        cursor = page["nextCursor"]
    cases = {
        "index, startIndex 1": {"startIndex": 1, "count": PAGE},
        f"index, startIndex {deep}": {"startIndex": deep, "count": PAGE},
        "cursor, first page": cursor_first,
        f"cursor, after {deep - 1} users": {"cursor": cursor, "count": PAGE},
    }
    first_of = {}
    medians = {}
    for name, query in cases.items():
        first_of[name] = client.get("/Users", query)["Resources"][0]["userName"]
        times = []
        for _ in range(reps):
            began = time.perf_counter()
            page = client.get("/Users", query)
            times.append((time.perf_counter() - began) * 1000)
            if len(page["Resources"]) != PAGE:
                sys.exit(f"bench-lookups: page {name} has {len(page['Resources'])} users")
        medians[name] = statistics.median(times)
    names = list(cases)
    if first_of[names[1]] != first_of[names[3]]:
        sys.exit(f"bench-lookups: the deep index and cursor pages start at different users: {first_of}")
    json.dump({"reps": reps, "page": PAGE, "deep": deep, "medians_ms": medians}, open(out, "w"))


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
EXECUTE = re.compile(r"\[(\d+)\].*?LOG:\s+duration: [\d.]+ ms\s+execute [^:]*: (.*)", re.S)
PARAMS = re.compile(r"\[(\d+)\].*?DETAIL:\s+parameters: (.*)", re.S)
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def log_records(text, database):
    """PostgreSQL's stderr log as records (continuation lines start with a tab); only this
    database's when the line prefix names databases (`%d`), as Debian's does."""
    records = []
    for line in text.splitlines():
        if LOG_RECORD.match(line):
            records.append(line)
        elif records:
            records[-1] += "\n" + line
    if database is None:
        return records
    return [r for r in records if f"@{database} " in r.split("LOG:")[0].split("DETAIL:")[0]]


def executed(records):
    """(sql, [parameter literals]) of each statement executed, in order."""
    statements, pending = [], {}
    for record in records:
        if m := EXECUTE.search(record):
            pending[m[1]] = len(statements)
            statements.append([m[2].strip(), []])
        elif (m := PARAMS.search(record)) and m[1] in pending:
            statements[pending.pop(m[1])][1] = [v for _, v in sorted(PARAM.findall(m[2]), key=lambda p: int(p[0]))]
    return statements


def explain(dburl, sql, params):
    args = f"({', '.join(params)})" if params else ""
    script = f"PREPARE bench_q AS {sql};\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_q{args};\n"
    run = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dburl],
                         input=script, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"bench-lookups: EXPLAIN failed: {run.stderr}\n{script}")
    return run.stdout.rstrip()


def plans(base, token, users, log, dburl, out):
    client = Client(base, token)
    prefix = subprocess.run(["psql", "-X", "-Atc", "show log_line_prefix", dburl], capture_output=True, text=True, check=True).stdout
    database = urllib.parse.urlsplit(dburl).path.lstrip("/") if "%d" in prefix else None
    probe = user(users // 2)
    cursor = client.get("/Users", {"cursor": "", "count": PAGE})["nextCursor"]
    requests = {f"look-up by {kind}": {"filter": condition(probe)} for kind, condition in KINDS.items()}
    requests[f"index page at startIndex {deep_start(users)}"] = {"startIndex": deep_start(users), "count": PAGE}
    requests["cursor page (the second)"] = {"cursor": cursor, "count": PAGE}
    found = []
    for name, query in requests.items():
        before = os.path.getsize(log)
        client.get("/Users", query)
        time.sleep(0.5)  # the log is written by another process
        with open(log, errors="replace") as f:
            f.seek(before)
            statements = executed(log_records(f.read(), database))
        selects = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
        if not selects:
            sys.exit(f"bench-lookups: no statement of '{name}' in {log} (is it this server's log?)")
        for sql, params in selects:
            found.append({"request": name, "query": query, "sql": sql, "params": params,
                          "plan": explain(dburl, sql, params)})
    json.dump(found, open(out, "w"), indent=1)


def report(directory, backends):
    def load(name):
        path = os.path.join(directory, name)
        return json.load(open(path)) if os.path.exists(path) else None

    config = load("lookups-config.json")
    print("\n## Look-ups and paging at scale\n")
    print(f"Measured by scripts/bench-lookups.sh (after the runs above): {config['users']} users seeded through "
          f"`/Bulk` ({config['bulk_parallel']} requests of 1000 operations in flight), each with a userName, "
          "an externalId (a GUID), a work email and an alias, then `VACUUM ANALYZE` on PostgreSQL, as "
          "autovacuum would soon do (SQLite gets no `ANALYZE`: nothing runs one in production). "
          f"Look-ups by `wrk` ({config['wrk_threads']} threads), {config['seconds']} s per filter kind and "
          f"concurrency after a {config['warmup']} s warm-up, over {config['paths']} random existing users; "
          "wrk and the server share the machine. Each concurrency starts with `GET /healthz` (no store, no "
          "authentication) through the same wrk and server as its baseline: this machine's speed moves by up to 2× "
          "between hours, so the ratios to it are what compare between runs. "
          f"Pages: the median of {config['page_reps']} sequential requests.\n")
    print(f"- knobs: BENCH_LOOKUP_BACKENDS=\"{' '.join(backends)}\", BENCH_LOOKUP_USERS={config['users']}, "
          f"BENCH_LOOKUP_SECONDS={config['seconds']}, BENCH_LOOKUP_WARMUP={config['warmup']}, "
          f"BENCH_LOOKUP_PAGE_REPS={config['page_reps']}, BENCH_LOOKUP_CONCURRENCIES=\"{' '.join(map(str, config['concurrencies']))}\", "
          f"BENCH_LOOKUP_BULK_PARALLEL={config['bulk_parallel']}, BENCH_LOOKUP_SLOW_MS={config['slow_ms']}\n")
    print("| filter kind | as sent (for user 0) |")
    print("|---|---|")
    for kind, condition in KINDS.items():
        print(f"| {kind} | `{condition(user(0))}` |")
    rows = []
    for backend in backends:
        seeded = load(f"lookups-{backend}-seed.json")
        print(f"\n### {backend}\n")
        print(f"Seeding: {seeded['users']} users in {seeded['seconds']:.1f} s ({seeded['users'] / seeded['seconds']:.0f} users/s).\n")
        print("| filter | concurrency | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | requests/s, % of /healthz | p99 ÷ /healthz p99 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        alone = load(f"lookups-{backend}-alone.json")
        for concurrency in config["concurrencies"]:
            base = load(f"lookups-{backend}-healthz-c{concurrency}.json")
            base_rate = base["requests"] / (base["duration_us"] / 1e6)
            base_errors = base["socket_errors"] + base["status_errors"] + base["timeouts"]
            print(f"| /healthz (baseline) | {concurrency} | {base_rate:.0f} | {base['p50_us'] / 1000:.2f} | "
                  f"{base['p90_us'] / 1000:.2f} | {base['p99_us'] / 1000:.2f} | {base['max_us'] / 1000:.2f} | {base_errors} | 100% | 1.00 |")
            for kind in KINDS:
                w = load(f"lookups-{backend}-{kind}-c{concurrency}.json")
                target = TARGET_P99_MS.get(concurrency) if backend == "postgres" else None
                if w is None:
                    print(f"| {kind} | {concurrency} | not measured: one look-up alone takes {alone['alone_ms'][kind]:.0f} ms "
                          f"(over BENCH_LOOKUP_SLOW_MS={alone['slow_ms']:g}) | | | | | | | |")
                    if target:
                        rows.append((f"PostgreSQL `{kind}` look-up p99 < {target:g} ms at concurrency {concurrency}",
                                     f"{alone['alone_ms'][kind]:.0f} ms alone", False))
                    continue
                errors = w["socket_errors"] + w["status_errors"] + w["timeouts"]
                rate = w["requests"] / (w["duration_us"] / 1e6)
                print(f"| {kind} | {concurrency} | {rate:.0f} | {w['p50_us'] / 1000:.2f} | "
                      f"{w['p90_us'] / 1000:.2f} | {w['p99_us'] / 1000:.2f} | {w['max_us'] / 1000:.2f} | {errors} | "
                      f"{100 * rate / base_rate:.0f}% | {w['p99_us'] / max(base['p99_us'], 1):.2f} |")
                if target:
                    p99 = w["p99_us"] / 1000
                    rows.append((f"PostgreSQL `{kind}` look-up p99 < {target:g} ms at concurrency {concurrency}",
                                 f"{p99:.2f} ms", p99 < target and errors == 0 and w["requests"] > 0))
        print("\nOne look-up at a time (median of 7 before the runs, ms): "
              + ", ".join(f"{kind} {ms:.2f}" for kind, ms in alone["alone_ms"].items()) + ".")
        pages = load(f"lookups-{backend}-paging.json")
        m = list(pages["medians_ms"].items())
        print(f"\n| page of {pages['page']} users | median ms | deep / shallow |")
        print("|---|---:|---:|")
        for n, (name, ms) in enumerate(m):
            ratio = f"{ms / m[n - 1][1]:.2f}" if n % 2 else ""
            print(f"| {name} | {ms:.2f} | {ratio} |")
        ratios = {what: m[deep][1] / m[shallow][1] for shallow, deep, what in ((0, 1, "index"), (2, 3, "cursor"))}
        for what, ratio in ratios.items():
            rows.append((f"{backend}: {what} page at depth {pages['deep'] - 1} within {PAGE_RATIO_TARGET:g}× of the first",
                         f"{ratio:.2f}×", ratio <= PAGE_RATIO_TARGET))
        # The issue accepts cursors that keep the cost flat where index paging does not.
        rows.append((f"{backend}: a page at depth {pages['deep'] - 1} within {PAGE_RATIO_TARGET:g}× (index, or cursors)",
                     f"{min(ratios.values()):.2f}×", min(ratios.values()) <= PAGE_RATIO_TARGET))
        found = load(f"lookups-{backend}-plans.json")
        if found is not None:
            print("\nThe statements the server ran (from PostgreSQL's log, `log_min_duration_statement = 0` on the "
                  "scratch database for one request of each kind), each with `EXPLAIN (ANALYZE, BUFFERS)` of the "
                  "same statement and parameters:\n")
            for f in found:
                print(f"#### {f['request']}\n")
                print(f"```sql\n{f['sql']}\n-- parameters: {', '.join(f['params']) or 'none'}\n```\n")
                print(f"```\n{f['plan']}\n```\n")
    print("\n### Against the targets (issue 4)\n")
    print("| target | measured | status |")
    print("|---|---:|---|")
    for target, measured, met in rows:
        print(f"| {target} | {measured} | {'met' if met else 'not met'} |")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "seed":
        seed(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif command == "paths":
        paths(args[0], args[1], int(args[2]), int(args[3]), float(args[4]), args[5], args[6])
    elif command == "settle":
        settle(args[0], args[1], args[2])
    elif command == "paging":
        paging(args[0], args[1], int(args[2]), int(args[3]), args[4], int(args[5]) if len(args) > 5 else None)
    elif command == "plans":
        plans(args[0], args[1], int(args[2]), args[3], args[4], args[5])
    elif command == "report":
        report(args[0], args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
