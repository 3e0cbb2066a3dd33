#!/usr/bin/env python3
"""Tessera's soak: a mixed load at a fixed rate for a long time, watching for leaks.

bench/soak builds the release binary and runs this file. It starts one Tessera node (on
SQLite, or on PostgreSQL: a cluster of its own or the shared one), registers the
benchmark's clients, then sends a mix of sign-ins, code exchanges, refreshes,
client-credentials grants, introspections and admin changes (the management API) at
`--rate` requests per second for `--duration` seconds. Every `--interval` seconds it
samples the node's RSS and open file descriptors, the database connections
(pg_stat_activity on PostgreSQL; the SQLite files the process holds open otherwise), and
the interval's request rate, errors and p99; it prints one table row per interval and,
at the end, whether each series stayed flat (docs/operations.md, "Soak").

Exit status: 0 if everything stayed flat and no request failed, 1 otherwise, 2 if the
soak could not start. Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the benchmark's helpers: servers, clusters, the browser)
from bench import (FORM, PASSWORD, REDIRECT_URI, RESOURCE, USER, BenchError, Browser,  # noqa: E402
                   Server, Tessera, basic, log, status_kib, stop_process)

SOAK_PORT = 18180
SOAK_PG_PORT = 15442

# The mix: (kind, weight). A code exchange also runs the authorize request that yields
# the code (two requests); a sign-in runs the whole flow with the password (argon2id).
MIX = [("sign_in", 1), ("code", 6), ("refresh", 25), ("cc", 25), ("introspect", 40), ("admin", 3)]

# At most two sign-ins of the one soak user at once: the sign-in throttle reserves an
# attempt before the hash, five per account at once (docs/security.md, "Sign-in
# throttling"); more in parallel would lock the account out (429) instead of signing in.
SIGN_INS = threading.BoundedSemaphore(2)


class Client:
    """One keep-alive connection to the node; reconnects after an error."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, target: str, headers: dict, body: str | None = None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, target, body=body.encode() if body is not None else None, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.total_errors = 0
        self.total = 0

    def add(self, kind: str, seconds: float, ok: bool, what: str = "") -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.total += 1
            if not ok:
                self.total_errors += 1
                key = f"{kind}: {what}"[:120]
                self.errors[key] = self.errors.get(key, 0) + 1

    def take(self) -> list[float]:
        with self.lock:
            out, self.latencies = self.latencies, []
            return out


class Worker(threading.Thread):
    def __init__(self, port: int, secrets: dict, admin: tuple[str, str], rate: float, stop_at: float, stats: Stats,
                 seed: int):
        super().__init__(daemon=True)
        self.port, self.secrets, self.admin, self.rate = port, secrets, admin, rate
        self.stop_at, self.stats = stop_at, stats
        self.client = Client(port)
        self.random = random.Random(seed)
        self.browser: Browser | None = None
        self.refresh_token: str | None = None
        self.tokens: list[str] = []
        web = secrets["web"]
        self.web_auth = basic(web["client_id"], web["client_secret"])
        ref = next(m for m in secrets["machine"] if m["client_id"] == "bench-ref")
        self.ref_auth = basic(ref["client_id"], ref["client_secret"])
        self.rs_auth = basic(RESOURCE, secrets["resource_secret"])

    def timed(self, kind: str, fn) -> None:
        t0 = time.monotonic()
        try:
            ok, what = fn()
        except (BenchError, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            ok, what = False, f"{type(e).__name__}: {e}".splitlines()[0]
        self.stats.add(kind, time.monotonic() - t0, ok, what)

    def token(self, auth: str, form: dict) -> tuple[int, dict]:
        status, body = self.client.request("POST", "/connect/token", {"Authorization": auth, "Content-Type": FORM},
                                           urllib.parse.urlencode(form))
        return status, json.loads(body) if body.startswith("{") else {"raw": body[:200]}

    def exchange(self, code: str) -> tuple[bool, str]:
        status, body = self.token(self.web_auth, {"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": REDIRECT_URI})
        if status != 200:
            return False, f"{status} {body.get('error')}"
        self.refresh_token = body.get("refresh_token")
        return True, ""

    def sign_in(self) -> tuple[bool, str]:
        self.browser = Browser(self.port)
        with SIGN_INS:
            code = self.browser.authorize("bench-web", login=(USER, PASSWORD))
        return self.exchange(code)

    def code(self) -> tuple[bool, str]:
        if self.browser is None:
            return self.sign_in()
        try:
            code = self.browser.authorize("bench-web")
        except BenchError:
            self.browser = None  # the session ended: the next code signs in again
            raise
        return self.exchange(code)

    def refresh(self) -> tuple[bool, str]:
        if self.refresh_token is None:
            return self.code()
        status, body = self.token(self.web_auth, {"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        if status != 200:
            self.refresh_token = None
            return False, f"{status} {body.get('error')}"
        self.refresh_token = body["refresh_token"]
        return True, ""

    def cc(self) -> tuple[bool, str]:
        status, body = self.token(self.ref_auth, {"grant_type": "client_credentials", "scope": RESOURCE})
        if status != 200:
            return False, f"{status} {body.get('error')}"
        self.tokens.append(body["access_token"])
        del self.tokens[:-64]
        return True, ""

    def introspect(self) -> tuple[bool, str]:
        if not self.tokens:
            return self.cc()
        token = self.random.choice(self.tokens)
        status, body = self.client.request("POST", "/connect/introspect",
                                           {"Authorization": self.rs_auth, "Content-Type": FORM},
                                           "token=" + urllib.parse.quote(token, safe=""))
        ok = status == 200 and json.loads(body).get("active") is True
        return ok, "" if ok else f"{status} {body[:80]}"

    def admin_change(self) -> tuple[bool, str]:
        key, user_id = self.admin
        body = json.dumps({"user_metadata": {"soak": self.random.randrange(1 << 30)}})
        status, text = self.client.request("PATCH", f"/api/v1/users/{user_id}",
                                           {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                                           body)
        return status == 200, "" if status == 200 else f"{status} {text[:80]}"

    def run(self) -> None:
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        actions = {"sign_in": self.sign_in, "code": self.code, "refresh": self.refresh, "cc": self.cc,
                   "introspect": self.introspect, "admin": self.admin_change}
        due = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= self.stop_at:
                return
            if due > now:
                time.sleep(due - now)
            due += 1.0 / self.rate
            kind = self.random.choices(kinds, weights)[0]
            self.timed(kind, actions[kind])


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def db_connections(pid: int, pg_port: int | None, pg_url: str | None) -> int:
    if pg_url is not None:
        r = subprocess.run(["psql", pg_url, "-XAtqc",
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return int(r.stdout.strip() or -1) if r.returncode == 0 else -1
    # SQLite: the database files the process holds open (one per connection and file).
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").endswith("tessera.db"):
                    n += 1
            except OSError:
                pass
    except OSError:
        return -1
    return n


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def judge(samples: list[dict], warmup_s: float) -> list[tuple[str, str, bool]]:
    """Flat or not, per series: the rise of a least-squares line over the samples after the
    warm-up, against a threshold (absolute, or relative to the series' median)."""
    kept = [s for s in samples if s["t"] >= warmup_s] or samples
    xs = [s["t"] for s in kept]
    span = (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
    out = []
    for key, label, unit, limit in [
        ("rss_mib", "RSS", "MiB", lambda m: max(8.0, 0.10 * m)),
        ("fds", "open files", "", lambda m: 8.0),
        ("db", "DB connections", "", lambda m: 2.0),
        ("p99_ms", "p99", "ms", lambda m: max(5.0, 1.0 * m)),
    ]:
        ys = [float(s[key]) for s in kept]
        median = statistics.median(ys) if ys else 0.0
        rise = slope(xs, ys) * span
        ok = rise <= limit(median)
        out.append((label, f"{rise:+.1f} {unit} over {span:.0f} s (median {median:.1f} {unit}, "
                           f"limit {limit(median):.1f})".replace("  ", " "), ok))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tessera", required=True, type=Path, help="the release tessera binary")
    p.add_argument("--work", required=True, type=Path, help="folder for the database and logs")
    p.add_argument("--duration", type=float, default=3600, help="seconds of load (default 3600)")
    p.add_argument("--rate", type=float, default=300, help="requests per second (default 300)")
    p.add_argument("--interval", type=float, default=60, help="seconds per sample (default 60)")
    p.add_argument("--warmup", type=float, default=None, help="seconds not judged (default: 2 intervals)")
    p.add_argument("--workers", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--postgres", choices=["own", "shared", "no"], default="no",
                   help="the database: SQLite (no, the default), a PostgreSQL cluster of its own, or the "
                        "shared one at BENCH_POSTGRES_URL")
    args = p.parse_args()
    args.tessera = args.tessera.resolve()
    warmup = args.warmup if args.warmup is not None else 2 * args.interval

    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    bench.SERVER_GROUP = bench.SchedGroup("tessera-soak")
    server = Server("tessera-soak", "Tessera", SOAK_PORT)
    pg = None
    pg_url = None
    try:
        master_key = None
        if args.postgres == "no":
            url = f"sqlite://{work / 'tessera.db'}"
        else:
            if args.postgres == "own":
                pg = bench.PgCluster(work, SOAK_PG_PORT, bench.SERVER_GROUP)
                if not pg.available():
                    raise BenchError("no PostgreSQL binaries or not root: use --postgres shared")
                url = pg.start()
            else:
                url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/tessera_soak")
                dbname = urllib.parse.urlsplit(url).path.lstrip("/")
                admin = url.rsplit("/", 1)[0] + "/postgres"
                subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{dbname}"'], check=True)
                subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{dbname}"'], check=True)
            pg_url = url
            master_key = subprocess.run([str(args.tessera), "config", "generate-master-key"], check=True,
                                        stdout=subprocess.PIPE, text=True).stdout.strip()
        t = Tessera(args.tessera, work, server, url, master_key)
        secrets = t.setup()
        key = t.cli("admin", "create-api-key", "--name", "soak").splitlines()[1].strip()
        t.start()
    except (BenchError, subprocess.CalledProcessError, OSError) as e:
        log(f"soak: cannot start: {e}")
        stop_process(server.proc)
        if pg is not None:
            pg.stop()
        return 2

    try:
        status, _, body = bench.http_request(SOAK_PORT, "GET", "/api/v1/users?search=" + USER,
                                             {"Authorization": f"Bearer {key}"})
        users = json.loads(body)
        users = users.get("items", users.get("users", users)) if isinstance(users, dict) else users
        user_id = next(u["id"] for u in users if u.get("username") == USER)
        print(f"Tessera soak: {args.rate:.0f} requests/s for {args.duration:.0f} s, mix "
              + ", ".join(f"{k} {w}" for k, w in MIX) + f"; {'SQLite' if pg_url is None else 'PostgreSQL'}",
              flush=True)
        print(f"{'t (s)':>6} {'req/s':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} "
              f"{'fds':>5} {'DB conns':>8}", flush=True)
        stats = Stats()
        started = time.monotonic()
        stop_at = started + args.duration
        workers = [Worker(SOAK_PORT, secrets, (key, user_id), args.rate / args.workers, stop_at, stats, seed=i)
                   for i in range(args.workers)]
        for w in workers:
            w.start()
        samples = []
        errors_before = 0
        next_sample = started + args.interval
        while time.monotonic() < stop_at - 0.01:
            time.sleep(max(0.0, min(next_sample, stop_at) - time.monotonic()))
            if server.proc is None or server.proc.poll() is not None:
                raise BenchError("the node exited during the soak")
            lat = sorted(stats.take())
            now = time.monotonic()
            elapsed = now - (next_sample - args.interval)
            next_sample += args.interval
            errors = stats.total_errors - errors_before
            errors_before = stats.total_errors
            sample = {
                "t": now - started,
                "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
                "errors": errors,
                "p50_ms": (lat[len(lat) // 2] * 1000) if lat else 0.0,
                "p99_ms": (lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000) if lat else 0.0,
                "rss_mib": status_kib(server.pid, "VmRSS") / 1024,
                "fds": fd_count(server.pid),
                "db": db_connections(server.pid, None, pg_url),
            }
            samples.append(sample)
            print(f"{sample['t']:6.0f} {sample['rps']:7.0f} {sample['errors']:6d} {sample['p50_ms']:7.1f} "
                  f"{sample['p99_ms']:7.1f} {sample['rss_mib']:8.1f} {sample['fds']:5d} {sample['db']:8d}",
                  flush=True)
        for w in workers:
            w.join(timeout=60)
        verdicts = judge(samples, warmup)
        print(f"\n{stats.total} requests, {stats.total_errors} failed. Judged after a {warmup:.0f} s warm-up:")
        for label, text, ok in verdicts:
            print(f"  {label:15} {'flat' if ok else 'RISING'}: {text}")
        for what, n in sorted(stats.errors.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  error ×{n}: {what}")
        (work / "soak.json").write_text(json.dumps({"args": vars(args) | {"tessera": str(args.tessera),
                                                                          "work": str(args.work)},
                                                    "samples": samples, "total": stats.total,
                                                    "errors": stats.total_errors}, indent=2))
        flat = all(ok for _, _, ok in verdicts) and stats.total_errors == 0
        print("\nSoak: " + ("FLAT" if flat else "NOT FLAT"), flush=True)
        return 0 if flat else 1
    except BenchError as e:
        log(f"soak: {e}")
        return 1
    finally:
        stop_process(server.proc)
        if pg is not None:
            pg.stop()
        bench.SERVER_GROUP.remove()


if __name__ == "__main__":
    sys.exit(main())
