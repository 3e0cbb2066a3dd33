"""Throughput per node count (bench/run --nodes 1,2,3): N Tessera nodes on one PostgreSQL,
each on its own port, loaded together by one wrk per node (the connections split among
them), for a few rows; one table of requests per second (and p99) per node count.

On the benchmark's 2-core machine every node and PostgreSQL share the server core (wrk
has the other): more nodes add no CPU here, so the table shows what running several
nodes costs (more processes, pools and connections on one core), not how Tessera scales
on more machines. See docs/performance.md, "Several nodes".
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import bench
from bench import (FORM, PG_PORT, RESOURCE, TESSERA_PORT, BenchError, Server, Tessera, WrkResult, basic,
                   http_request, log, run_wrk, stop_process)

ROWS = [
    ("cc_es256", "client_credentials, ES256 JWT (no database)"),
    ("cc_ref", "client_credentials, reference token (one insert)"),
    ("introspect_ref", "introspection, reference token (one read)"),
]


def run(args, work: Path) -> int:
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        raise BenchError("--nodes takes counts such as 1,2,3")
    pg = None
    if args.postgres != "shared":
        pg = bench.PgCluster(work, PG_PORT, bench.SERVER_GROUP)
        if not pg.available():
            raise BenchError("no PostgreSQL binaries or not root: use --postgres shared")
        url = pg.start()
    else:
        url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench")
        dbname = urllib.parse.urlsplit(url).path.lstrip("/")
        admin = url.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{dbname}"'], check=True)
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{dbname}"'], check=True)
    master_key = subprocess.run([str(args.tessera), "config", "generate-master-key"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout.strip()
    results: dict[tuple[str, int], WrkResult] = {}
    try:
        setup = Tessera(args.tessera, work / "setup", Server("setup", "setup", TESSERA_PORT), url, master_key)
        secrets = setup.setup()
        for n in counts:
            servers = [Server(f"node{i}", f"node {i}", TESSERA_PORT + i) for i in range(n)]
            try:
                for s in servers:
                    node_work = work / f"{n}-nodes" / s.key
                    (node_work / "data").mkdir(parents=True, exist_ok=True)
                    Tessera(args.tessera, node_work, s, url, master_key).start()
                for row, _ in ROWS:
                    results[(row, n)] = measure(args, work / f"{n}-nodes", servers, secrets, row)
                    r = results[(row, n)]
                    log(f"  {n} node(s) {row:15} {r.rps:9.0f} req/s  p99 {r.p99_ms:7.2f} ms  errors {r.errors}")
            finally:
                for s in servers:
                    stop_process(s.proc)
    finally:
        if pg is not None:
            pg.stop()
    table = report(counts, results, args)
    print()
    print(table, flush=True)
    (work.parent / "nodes.md").write_text(table)
    (work.parent / "nodes.json").write_text(json.dumps(
        [{"row": row, "nodes": n, "rps": r.rps, "p99_ms": r.p99_ms, "errors": r.errors}
         for (row, n), r in results.items()], indent=2))
    return 0


def measure(args, work: Path, servers: list[Server], secrets: dict, row: str) -> WrkResult:
    ref = next(m for m in secrets["machine"] if m["client_id"] == "bench-ref")
    es = next(m for m in secrets["machine"] if m["client_id"] == "bench-es256")
    cc_body = "grant_type=client_credentials&scope=" + urllib.parse.quote(RESOURCE, safe="")
    if row in ("cc_es256", "cc_ref"):
        m = es if row == "cc_es256" else ref
        env = {"BENCH_METHOD": "POST", "BENCH_PATH": "/connect/token", "BENCH_BODY": cc_body,
               "BENCH_HEADERS": f"Authorization: {basic(m['client_id'], m['client_secret'])}\n"
                                f"Content-Type: {FORM}"}
    else:
        status, _, body = http_request(servers[0].port, "POST", "/connect/token",
                                       {"Authorization": basic(ref["client_id"], ref["client_secret"]),
                                        "Content-Type": FORM}, cc_body)
        if status != 200:
            raise BenchError(f"client_credentials: {status} {body[:200]}")
        token = json.loads(body)["access_token"]
        env = {"BENCH_METHOD": "POST", "BENCH_PATH": "/connect/introspect",
               "BENCH_BODY": "token=" + urllib.parse.quote(token, safe=""),
               "BENCH_HEADERS": f"Authorization: {basic(RESOURCE, secrets['resource_secret'])}\n"
                                f"Content-Type: {FORM}"}
    connections = max(1, args.connections // len(servers))

    def together(seconds: float) -> list[WrkResult]:
        out: list[WrkResult | Exception] = [BenchError("no result")] * len(servers)

        def one(i: int, s: Server) -> None:
            wdir = work / f"wrk-{s.key}"
            wdir.mkdir(parents=True, exist_ok=True)
            try:
                out[i] = run_wrk(s.port, env, connections, seconds, wdir)
            except BenchError as e:
                out[i] = e

        threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(servers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in out:
            if isinstance(r, Exception):
                raise r
        return out  # type: ignore[return-value]

    together(args.warmup)
    parts = together(args.duration)
    total = WrkResult()
    total.requests = sum(p.requests for p in parts)
    total.duration_s = max(p.duration_s for p in parts)
    total.p50_ms = max(p.p50_ms for p in parts)
    total.p99_ms = max(p.p99_ms for p in parts)
    total.errors = sum(p.errors for p in parts)
    return total


def report(counts: list[int], results: dict, args) -> str:
    head = "| row | " + " | ".join(f"{n} node{'s' if n > 1 else ''}" for n in counts) + " |"
    lines = [f"Throughput per node count: Tessera on one PostgreSQL, {args.connections} connections split "
             f"among the nodes, {args.duration:.0f} s per cell after {args.warmup:.0f} s of warm-up. "
             f"Requests per second (worst node's p99). Every node and PostgreSQL on the server core.",
             "", head, "|---|" + "---:|" * len(counts)]
    for row, title in ROWS:
        cells = []
        for n in counts:
            r = results.get((row, n))
            cells.append("—" if r is None else f"{r.rps:,.0f} ({r.p99_ms:.1f} ms)"
                         + (f", {r.errors} errors" if r.errors else ""))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    return "\n".join(lines) + "\n"
