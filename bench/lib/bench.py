#!/usr/bin/env python3
"""Tessera's benchmark against node oidc-provider 9: the driver behind bench/run.

bench/run builds what is needed, then runs this file. It sets up Tessera (SQLite, and in
full mode PostgreSQL) and the peer with the same clients, loads each server in turn with
wrk on loopback (server on core 0, wrk on core 1, fixed connections and duration, after a
warm-up), and prints one table. See docs/performance.md.

Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
LUA = BENCH_DIR / "lib" / "bench.lua"
PEER_DIR = BENCH_DIR / "peer"

SERVER_CORE = "0"
LOAD_CORE = "1"
SERVER_GROUP: "SchedGroup"  # the server core's CPU group, made by main()
CLK_TCK = os.sysconf("SC_CLK_TCK")

RESOURCE = "urn:bench:api"  # API connection name = resource indicator = API scope
REDIRECT_URI = "http://127.0.0.1:9/cb"
USER = "bench"
PASSWORD = "bench-password-0123456789"
TESSERA_PORT = 18080
PEER_PORT = 18090
PG_PORT = 15432

# Sessions that pre-issue codes: each authorize request with a session cookie yields a
# code. The peer's in-memory adapter keeps, per grant, a map of the grant's tokens and
# scans it at every token it stores, so its codes are spread over many sessions (its
# sign-in is free here); Tessera's sign-in costs one argon2id hash, so fewer sessions.
TESSERA_SESSIONS = 32
PEER_SESSIONS = 512


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------
# HTTP, with a minimal cookie jar and a scripted browser for the authorization flow.


def http_request(port: int, method: str, target: str, headers: dict | None = None, body: str | None = None,
                 timeout: float = 30.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body.encode() if body is not None else None
        conn.request(method, target, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read().decode("utf-8", "replace")
        return resp.status, resp.getheaders(), payload
    finally:
        conn.close()


def header(headers, name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def basic(client_id: str, secret: str) -> str:
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


FORM = "application/x-www-form-urlencoded"


class Browser:
    """Follows the authorization flow as a browser would: redirects, the sign-in form
    (with its CSRF token), consent; stops at the client's redirect URI."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _store(self, headers) -> None:
        for k, v in headers:
            if k.lower() != "set-cookie":
                continue
            first, *attrs = v.split(";")
            name, _, value = first.strip().partition("=")
            expired = any(a.strip().lower() in ("max-age=0",) for a in attrs) or any(
                a.strip().lower().startswith("expires=") and "1970" in a for a in attrs)
            if expired or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def request(self, method: str, target: str, form: dict | None = None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        body = None
        if form is not None:
            headers["Content-Type"] = FORM
            body = urllib.parse.urlencode(form)
        status, hdrs, payload = http_request(self.port, method, target, headers, body)
        self._store(hdrs)
        return status, hdrs, payload

    def authorize(self, client_id: str, scope: str = "openid", login: tuple[str, str] | None = None,
                  max_steps: int = 12) -> str:
        """Returns the code the flow ends with."""
        query = urllib.parse.urlencode({
            "client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code",
            "scope": scope, "state": "bench"})
        method, target, form = "GET", f"/connect/authorize?{query}", None
        for _ in range(max_steps):
            status, hdrs, payload = self.request(method, target, form)
            location = header(hdrs, "Location")
            if status in (301, 302, 303, 307) and location:
                if location.startswith(REDIRECT_URI):
                    params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                    if "code" not in params:
                        raise BenchError(f"authorization failed: {location}")
                    return params["code"][0]
                parts = urllib.parse.urlsplit(location)
                method, target, form = "GET", parts.path + (f"?{parts.query}" if parts.query else ""), None
                continue
            if status == 200 and "<form" in payload:
                action, fields = parse_form(payload)
                if "password" in payload and login is not None:
                    fields["login"], fields["password"] = login
                if 'name="decision"' in payload:
                    fields["decision"] = "allow"
                method, target, form = "POST", action, fields
                continue
            raise BenchError(f"authorization flow stopped at {method} {target}: {status} {payload[:300]}")
        raise BenchError("authorization flow did not end")


def parse_form(page: str) -> tuple[str, dict]:
    m = re.search(r'<form[^>]*method="post"[^>]*action="([^"]*)"', page)
    if not m:
        raise BenchError("no POST form on the page")
    action = html.unescape(m.group(1))
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        fields[html.unescape(name)] = html.unescape(value)
    return action, fields


# ---------------------------------------------------------------------------------------
# Processes: CPU time, memory.


def proc_cpu_ticks(pid: int, children_too: bool = False) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if children_too:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def children_of(ppid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == ppid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


def processes_named(name: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    out.append(int(entry))
        except OSError:
            pass
    return out


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Servers.


@dataclass
class Server:
    key: str            # "tessera-sqlite", "tessera-postgres", "peer"
    label: str
    port: int
    proc: subprocess.Popen | None = None
    ready_ms: list = field(default_factory=list)  # per start: ms to ready
    idle_rss_kib: int = 0
    pg: "PgCluster | None" = None
    pg_shared: bool = False
    secrets: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_ticks(self) -> tuple[int, int]:
        """CPU clock ticks so far: the server process (all its threads), and its database
        server's processes (PostgreSQL) if any."""
        own = proc_cpu_ticks(self.pid)
        db = 0
        if self.pg is not None:
            db = self.pg.cpu_ticks()
        elif self.pg_shared:
            for pid in processes_named("postgres"):
                try:
                    db += proc_cpu_ticks(pid)
                except OSError:
                    pass
        return own, db


class SchedGroup:
    """A CPU cgroup (v1 `cpu` hierarchy, or v2 with the cpu controller) for everything
    that runs on the server core: the server under test and, in the PostgreSQL rows, its
    database. In a cgroup other than the root, the kernel's autogroups do not apply, so
    all of them are scheduled as plain tasks side by side, whatever sessions they make.

    Without it, PostgreSQL's backends (each calls setsid) were each a scheduling group of
    their own while the server's threads were one: on the saturated core the scheduler
    then left runnable backends waiting for up to 2.5 s (`perf sched timehist`), the p99
    stalls of the rows that read PostgreSQL most (docs/performance.md, "The PostgreSQL
    stalls")."""

    def __init__(self, name: str):
        self.path: Path | None = None
        self.why_not = ""
        v1 = Path("/sys/fs/cgroup/cpu")
        v2 = Path("/sys/fs/cgroup")
        try:
            if (v1 / "cgroup.procs").exists():
                parent = v1
            elif "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
                parent = v2
            else:
                # Enabling the controller would change how the whole machine is scheduled.
                self.why_not = "no cgroup v1 cpu hierarchy, and cgroup v2's cpu controller is not enabled"
                return
            path = parent / name
            path.mkdir(exist_ok=True)
        except OSError as e:
            self.why_not = f"cannot make a CPU cgroup: {e.strerror or e}"
            return
        # Joining must work too (it may not, in a container).
        probe = subprocess.run(["sh", "-c", 'echo $$ > "$0"', str(path / "cgroup.procs")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if probe.returncode != 0:
            self.why_not = f"cannot join a CPU cgroup: {probe.stderr.strip()[-200:]}"
            self.remove_path(path)
            return
        self.path = path

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run from a shell that first joins the group (every process it starts is
        then in the group too)."""
        if self.path is None:
            return argv
        # Started even if joining fails after all: a figure then, not none.
        return ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def remove(self) -> None:
        if self.path is not None:
            self.remove_path(self.path)

    @staticmethod
    def remove_path(path: Path) -> None:
        try:
            path.rmdir()
        except OSError:
            pass  # a process not yet reaped; the next run reuses the group


def autogroups_on() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


class PgCluster:
    """A PostgreSQL cluster of the benchmark's own, pinned to the server core, so that its
    CPU is counted and no other load on the machine's shared PostgreSQL disturbs it.

    The cluster runs in the server core's CPU group (`SchedGroup`) with the server."""

    def __init__(self, root: Path, port: int, group: SchedGroup):
        self.dir = root / "pg"
        self.port = port
        self.bindir = None
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (candidate / "initdb").exists():
                self.bindir = candidate
                break
        self.postmaster = None
        self.group = group

    def available(self) -> bool:
        return self.bindir is not None and os.geteuid() == 0 and shutil.which("runuser") is not None

    def _as_postgres(self, *argv, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        # The postgres user must be able to reach the folder.
        p = self.dir.parent
        while p != p.parent:
            mode = p.stat().st_mode
            if not mode & 0o001:
                os.chmod(p, mode | 0o001)
            p = p.parent
        self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--no-instructions")
        start = ["taskset", "-c", SERVER_CORE, "runuser", "-u", "postgres", "--",
                 str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
                 "-w", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"]
        # pg_ctl joins the group before it starts the postmaster; every process of the
        # cluster is forked from it and stays in the group.
        subprocess.run(self.group.wrap(start), check=True, stdout=subprocess.DEVNULL)
        with open(self.dir / "data" / "postmaster.pid") as f:
            self.postmaster = int(f.readline().strip())
        self._as_postgres(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "tessera")
        return f"postgres://postgres@127.0.0.1:{self.port}/tessera"

    def cpu_ticks(self) -> int:
        # The postmaster's own time, its reaped children's, and its live children's.
        ticks = proc_cpu_ticks(self.postmaster, children_too=True)
        for pid in children_of(self.postmaster):
            try:
                ticks += proc_cpu_ticks(pid)
            except OSError:
                pass
        return ticks

    def stop(self) -> None:
        if self.postmaster is None:
            return
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bindir / "pg_ctl"), "-D",
                        str(self.dir / "data"), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.postmaster = None


def wait_ready(port: int, path: str, proc: subprocess.Popen, started: float, timeout: float = 30.0) -> float:
    while True:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with status {proc.returncode} before it was ready")
        try:
            status, _, _ = http_request(port, "GET", path, timeout=1.0)
            if status == 200:
                return (time.monotonic() - started) * 1000
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise BenchError(f"not ready after {timeout:.0f} s")
        time.sleep(0.002)


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=35)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Tessera:
    def __init__(self, binary: Path, work: Path, server: Server, database_url: str, master_key: str | None):
        self.binary = binary
        self.work = work
        self.server = server
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        self.env.update({
            "TESSERA_ISSUER": f"http://127.0.0.1:{server.port}",
            "TESSERA_BIND": f"127.0.0.1:{server.port}",
            "TESSERA_DATA_DIR": str(work / "data"),
            "TESSERA_DATABASE_URL": database_url,
        })
        if master_key:
            self.env["TESSERA_MASTER_KEY"] = master_key

    def cli(self, *args: str, stdin: str | None = None) -> str:
        r = subprocess.run([str(self.binary), *args], cwd=self.work, env=self.env, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise BenchError(f"tessera {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
        return r.stdout

    def setup(self) -> dict:
        """Registers the API connection, the applications and the user; returns the ids and
        secrets (the peer gets the same)."""
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "data").mkdir(exist_ok=True)
        secrets = {}
        out = json.loads(self.cli("connection", "create", "--name", RESOURCE, "--display-name", "Bench API",
                                  "--json"))
        secrets["resource_secret"] = find_secret(out)
        machine = []
        for client_id, flags, fmt, alg in [
            ("bench-es256", [], "jwt", "ES256"),
            ("bench-eddsa", ["--signing-alg", "EdDSA"], "jwt", "EdDSA"),
            ("bench-ref", ["--token-format", "reference"], "reference", "ES256"),
        ]:
            out = json.loads(self.cli("app", "create", "--name", client_id, "--type", "machine", "--client-id",
                                      client_id, "--scope", RESOURCE, *flags, "--json"))
            machine.append({"client_id": client_id, "client_secret": out["client_secret"], "format": fmt,
                            "alg": alg})
        secrets["machine"] = machine
        # User flows use reference (opaque) access tokens: the peer's userinfo accepts
        # only opaque ones. Codes live 600 s so pre-issued ones outlast a row.
        out = json.loads(self.cli("app", "create", "--name", "bench-web", "--type", "web", "--client-id",
                                  "bench-web", "--redirect-uri", REDIRECT_URI, "--scope", "openid",
                                  "--token-format", "reference", "--code-lifetime", "600",
                                  "--always-issue-refresh-token", "--json"))
        secrets["web"] = {"client_id": "bench-web", "client_secret": out["client_secret"],
                          "redirect_uri": REDIRECT_URI}
        self.cli("admin", "create-user", "--username", USER, "--password-stdin", stdin=PASSWORD + "\n")
        return secrets

    def start(self) -> None:
        log_file = open(self.work / f"serve-{len(self.server.ready_ms)}.log", "w")
        started = time.monotonic()
        self.server.proc = subprocess.Popen(
            SERVER_GROUP.wrap(["taskset", "-c", SERVER_CORE, str(self.binary), "serve"]),
            cwd=self.work, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        self.server.ready_ms.append(wait_ready(self.server.port, "/readyz", self.server.proc, started))


def find_secret(obj) -> str:
    for key in ("secret", "connection_secret", "client_secret"):
        if isinstance(obj, dict) and key in obj:
            return obj[key]
    if isinstance(obj, dict):
        for v in obj.values():
            if isinstance(v, (dict, list)):
                try:
                    return find_secret(v)
                except BenchError:
                    pass
    if isinstance(obj, list):
        for v in obj:
            try:
                return find_secret(v)
            except BenchError:
                pass
    raise BenchError(f"no secret in {obj}")


def start_peer(work: Path, server: Server, secrets: dict) -> None:
    config = {"port": server.port, "issuer": f"http://127.0.0.1:{server.port}", "resource": RESOURCE,
              "resource_secret": secrets["resource_secret"], "machine": secrets["machine"],
              "web": secrets["web"], "user": USER}
    work.mkdir(parents=True, exist_ok=True)
    (work / "peer.json").write_text(json.dumps(config, indent=2))
    log_file = open(work / f"peer-{len(server.ready_ms)}.log", "w")
    started = time.monotonic()
    server.proc = subprocess.Popen(
        SERVER_GROUP.wrap(["taskset", "-c", SERVER_CORE, "node", str(PEER_DIR / "server.mjs"),
                           str(work / "peer.json")]),
        cwd=PEER_DIR, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
    server.ready_ms.append(wait_ready(server.port, "/.well-known/openid-configuration", server.proc, started))


# ---------------------------------------------------------------------------------------
# wrk.


@dataclass
class WrkResult:
    requests: int = 0
    duration_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    status_errors: int = 0
    stopped_early: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def run_wrk(port: int, env_extra: dict, connections: int, duration_s: float, work: Path,
            progress_file: Path | None = None) -> WrkResult:
    report = work / "wrk-report.txt"
    stopfile = work / "wrk-stop"
    for p in (report, stopfile):
        p.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update({k: str(v) for k, v in env_extra.items()})
    env["BENCH_REPORT"] = str(report)
    env["BENCH_STOPFILE"] = str(stopfile)
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
           "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stopped = False
    last_size, last_growth = -1, time.monotonic()
    while proc.poll() is None:
        time.sleep(0.005)
        if not stopped and stopfile.exists():
            stopped = True
            proc.send_signal(signal.SIGINT)
        if progress_file is not None and not stopped:
            size = progress_file.stat().st_size if progress_file.exists() else 0
            if size != last_size:
                last_size, last_growth = size, time.monotonic()
            elif time.monotonic() - last_growth > 15:
                stopped = True
                proc.send_signal(signal.SIGINT)
    output = proc.stdout.read() if proc.stdout else ""
    if not report.exists():
        raise BenchError(f"wrk failed: {output.strip()[-500:]}")
    values = dict(kv.split("=", 1) for kv in report.read_text().split())
    r = WrkResult()
    r.requests = int(values["requests"])
    r.duration_s = int(values["duration_us"]) / 1e6
    r.p50_ms = int(values["p50_us"]) / 1000
    r.p99_ms = int(values["p99_us"]) / 1000
    r.status_errors = int(values["err_status"])
    r.errors = sum(int(values[k]) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    r.stopped_early = stopped
    return r


def collect(port: int, work: Path, name: str, count: int, connections: int, env_extra: dict) -> Path:
    """Runs wrk as a pre-issuer: captures `count` values (codes, refresh tokens) into a file."""
    out = work / f"{name}.txt"
    out.unlink(missing_ok=True)
    out.touch()
    env = dict(env_extra)
    env.update({"BENCH_OUTPUT": str(out), "BENCH_COUNT": count})
    t0 = time.monotonic()
    run_wrk(port, env, connections, 3600, work, progress_file=out)
    got = sum(1 for _ in open(out))
    log(f"  pre-issued {got} {name} in {time.monotonic() - t0:.1f} s")
    if got < count:
        raise BenchError(f"pre-issuing {name}: got {got} of {count}")
    return out


# ---------------------------------------------------------------------------------------
# Rows.

ROWS = [
    # key, title, ceiling key, servers that run it
    ("cc_es256", "client_credentials, ES256 JWT", "es256_sign"),
    ("cc_eddsa", "client_credentials, EdDSA JWT", "eddsa_sign"),
    ("cc_ref", "client_credentials, reference token", None),
    ("introspect_ref", "introspection, reference token", None),
    ("introspect_jwt", "introspection, ES256 JWT", "es256_verify"),
    ("userinfo", "userinfo (reference token)", None),
    ("refresh", "refresh-token rotation", "es256_sign"),
    ("code", "authorization-code exchange", "es256_sign"),
    ("sign_in", "sign-in (argon2id)", "argon2id_hash"),
]
ROW_TITLES = {k: t for k, t, _ in ROWS}
ROW_CEILING = {k: c for k, _, c in ROWS}
CEILING_TITLES = {
    "es256_sign": "ES256 sign", "eddsa_sign": "EdDSA sign", "es256_verify": "ES256 verify",
    "eddsa_verify": "EdDSA verify",
    "argon2id_hash": "argon2id hash",
}


@dataclass
class RowResult:
    row: str
    server: str
    wrk: WrkResult | None = None
    cpu_us_per_req: float = 0.0
    db_cpu_us_per_req: float = 0.0  # the part of cpu_us_per_req spent in PostgreSQL
    utilisation: float = 0.0  # server CPU seconds per second of the window (1.0 = the core)
    peak_rss_kib: int = 0
    start_rss_kib: int = 0  # RSS when the row began (memory kept from earlier rows)
    note: str = ""
    skipped: str = ""   # why there is no figure


class Bench:
    def __init__(self, args, work: Path):
        self.args = args
        self.work = work
        self.results: list[RowResult] = []

    # --- one server ---------------------------------------------------------------

    def measure(self, server: Server, row: str, env: dict, warmup_s: float, duration_s: float,
                single_use: dict | None = None, connections: int | None = None) -> RowResult:
        """Warm-up, then the measured window; CPU and peak RSS over the window."""
        a = argparse.Namespace(**vars(self.args))
        if connections is not None:
            a.connections = connections
        result = RowResult(row, server.key)
        result.start_rss_kib = status_kib(server.pid, "VmRSS")
        reset_peak_rss(server.pid)
        if single_use is None:
            run_wrk(server.port, env, a.connections, warmup_s, self.work)
            c0 = server.cpu_ticks()
            w = run_wrk(server.port, env, a.connections, duration_s, self.work)
            c1 = server.cpu_ticks()
        else:
            # Single-use inputs: a warm-up set, its rate sizing the measured set (50 %
            # spare), so the measured window runs its full duration on fresh inputs.
            make = single_use["make"]
            warm_inputs = make(single_use["warm_count"], "warm")
            warm = run_wrk(server.port, {**env, "BENCH_INPUT": warm_inputs}, a.connections, warmup_s, self.work)
            need = int(warm.rps * duration_s * 1.5) + 500
            inputs = make(need, "measure")
            c0 = server.cpu_ticks()
            w = run_wrk(server.port, {**env, "BENCH_INPUT": inputs}, a.connections, duration_s, self.work)
            c1 = server.cpu_ticks()
            if w.stopped_early:
                result.note = f"inputs ran out after {w.duration_s:.1f} s"
        result.wrk = w
        if w.requests:
            result.cpu_us_per_req = (sum(c1) - sum(c0)) * 1e6 / CLK_TCK / w.requests
            result.db_cpu_us_per_req = (c1[1] - c0[1]) * 1e6 / CLK_TCK / w.requests
            result.utilisation = (sum(c1) - sum(c0)) / CLK_TCK / w.duration_s
        if server.pg is not None or server.pg_shared:
            result.note = (result.note + "; " if result.note else "") + \
                f"PostgreSQL {result.db_cpu_us_per_req:,.0f} µs of the CPU"
        result.peak_rss_kib = status_kib(server.pid, "VmHWM")
        if w.errors:
            result.note = (result.note + "; " if result.note else "") + f"{w.errors} errors ({w.status_errors} HTTP ≥400)"
        log(f"  {row:15} {server.key:17} {w.rps:9.0f} req/s  p50 {w.p50_ms:7.2f} ms  p99 {w.p99_ms:7.2f} ms  "
            f"{result.cpu_us_per_req:7.0f} µs CPU/req ({result.utilisation:4.0%} of a core)  peak RSS {result.peak_rss_kib / 1024:6.1f} MB"
            + (f"  ({result.note})" if result.note else ""))
        return result

    def run_server(self, server: Server, is_peer: bool) -> None:
        a = self.args
        sec = server.secrets
        port = server.port
        warm, dur = a.warmup, a.duration
        token_headers = f"Content-Type: {FORM}"
        cc_body = "grant_type=client_credentials&scope=" + urllib.parse.quote(RESOURCE, safe="")

        def machine(client_id):
            return next(m for m in sec["machine"] if m["client_id"] == client_id)

        def cc_env(client_id):
            m = machine(client_id)
            return {"BENCH_METHOD": "POST", "BENCH_PATH": "/connect/token", "BENCH_BODY": cc_body,
                    "BENCH_HEADERS": f"Authorization: {basic(m['client_id'], m['client_secret'])}\n{token_headers}"}

        def issue(client_id) -> str:
            m = machine(client_id)
            status, _, body = http_request(port, "POST", "/connect/token",
                                           {"Authorization": basic(m["client_id"], m["client_secret"]),
                                            "Content-Type": FORM}, cc_body)
            if status != 200:
                raise BenchError(f"client_credentials for {client_id}: {status} {body[:300]}")
            return json.loads(body)["access_token"]

        def check(what: str, method: str, path: str, headers: dict, body: str | None, expect, where=None):
            status, hdrs, payload = http_request(port, method, path, headers, body)
            if not expect(status, hdrs, payload):
                raise BenchError(f"{what}: unexpected answer {status} {payload[:300]}")
            return payload

        def wanted(row):
            return a.rows is None or row in a.rows

        def attempt(row, fn):
            if not wanted(row):
                return
            try:
                r = fn()
                if r is not None:
                    self.results.append(r)
            except Exception as e:  # a row that fails is reported, the others still run
                log(f"  {row}: FAILED: {e}")
                self.results.append(RowResult(row, server.key, skipped=f"failed: {e}"[:200]))

        # Client credentials.
        for row, client_id in (("cc_es256", "bench-es256"), ("cc_eddsa", "bench-eddsa"), ("cc_ref", "bench-ref")):
            def cc(row=row, client_id=client_id):
                token = issue(client_id)
                is_jwt = token.count(".") == 2
                if is_jwt != (row != "cc_ref"):
                    raise BenchError(f"{client_id} issued a {'JWT' if is_jwt else 'opaque token'}")
                if is_jwt:
                    alg = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["alg"]
                    if alg != machine(client_id)["alg"]:
                        raise BenchError(f"{client_id} signed with {alg}")
                return self.measure(server, row, cc_env(client_id), warm, dur)
            attempt(row, cc)

        # Introspection.
        rs_auth = basic(RESOURCE, sec["resource_secret"])
        for row, client_id in (("introspect_ref", "bench-ref"), ("introspect_jwt", "bench-es256")):
            def introspect(row=row, client_id=client_id):
                token = issue(client_id)
                body = "token=" + urllib.parse.quote(token, safe="")
                headers = {"Authorization": rs_auth, "Content-Type": FORM}
                status, _, payload = http_request(port, "POST", "/connect/introspect", headers, body)
                active = status == 200 and json.loads(payload).get("active") is True
                if not active:
                    if is_peer and row == "introspect_jwt":
                        try:
                            why = json.loads(payload).get("error", "")
                        except ValueError:
                            why = payload.strip()[:60]
                        return RowResult(row, server.key, skipped=f"refuses JWT introspection ({status} {why})")
                    raise BenchError(f"introspection: {status} {payload[:300]}")
                env = {"BENCH_METHOD": "POST", "BENCH_PATH": "/connect/introspect", "BENCH_BODY": body,
                       "BENCH_HEADERS": f"Authorization: {rs_auth}\n{token_headers}"}
                return self.measure(server, row, env, warm, dur)
            attempt(row, introspect)

        # User flows: sessions that pre-issue codes from the real authorization endpoint.
        web = sec["web"]
        web_auth = basic(web["client_id"], web["client_secret"])
        sessions: list[str] = []
        n_sessions = PEER_SESSIONS if is_peer else TESSERA_SESSIONS
        if a.short:
            n_sessions = max(4, n_sessions // 8)
        authorize_path = "/connect/authorize?" + urllib.parse.urlencode({
            "client_id": web["client_id"], "redirect_uri": REDIRECT_URI, "response_type": "code",
            "scope": "openid", "state": "bench"})

        def ensure_sessions():
            if sessions:
                return
            t0 = time.monotonic()
            for _ in range(n_sessions):
                b = Browser(port)
                b.authorize(web["client_id"], login=(USER, PASSWORD))
                sessions.append(b.cookie_header())
            (self.work / "sessions.txt").write_text("".join(f"\t{c}\n" for c in sessions))
            log(f"  {len(sessions)} signed-in sessions in {time.monotonic() - t0:.1f} s")

        def codes(n: int, tag: str) -> Path:
            ensure_sessions()
            return collect(port, self.work, f"codes-{tag}", n, a.connections, {
                "BENCH_METHOD": "GET", "BENCH_PATH": authorize_path, "BENCH_INPUT": self.work / "sessions.txt",
                "BENCH_CYCLE": "1", "BENCH_CAPTURE": "[?&]code=([^&]+)"})

        def exchange_body(code: str) -> str:
            return urllib.parse.urlencode({"grant_type": "authorization_code", "code": urllib.parse.unquote(code),
                                           "redirect_uri": REDIRECT_URI})

        def code_inputs(n: int, tag: str) -> str:
            src = codes(n, tag)
            out = self.work / f"code-bodies-{tag}.txt"
            with open(src) as f, open(out, "w") as g:
                for line in f:
                    g.write(exchange_body(line.strip()) + "\n")
            return str(out)

        def refresh_inputs(n: int, tag: str) -> str:
            # Responses in flight when the inputs run out are not captured: spare codes.
            bodies = code_inputs(n + 2 * a.connections + 50, f"rt-{tag}")
            src = collect(port, self.work, f"refresh-{tag}", n, a.connections, {
                "BENCH_METHOD": "POST", "BENCH_PATH": "/connect/token", "BENCH_INPUT": bodies,
                "BENCH_HEADERS": f"Authorization: {web_auth}\n{token_headers}",
                "BENCH_CAPTURE": '"refresh_token"%s*:%s*"([^"]+)"', "BENCH_CAPTURE_IN": "body"})
            out = self.work / f"refresh-bodies-{tag}.txt"
            with open(src) as f, open(out, "w") as g:
                for line in f:
                    g.write(urllib.parse.urlencode({"grant_type": "refresh_token",
                                                    "refresh_token": line.strip()}) + "\n")
            return str(out)

        def token_env():
            return {"BENCH_METHOD": "POST", "BENCH_PATH": "/connect/token",
                    "BENCH_HEADERS": f"Authorization: {web_auth}\n{token_headers}"}

        def first_exchange() -> dict:
            ensure_sessions()
            b = Browser(port)
            b.cookies = dict(c.split("=", 1) for c in sessions[0].split("; "))
            code = b.authorize(web["client_id"])
            status, _, payload = http_request(port, "POST", "/connect/token",
                                              {"Authorization": web_auth, "Content-Type": FORM},
                                              exchange_body(code))
            if status != 200:
                raise BenchError(f"code exchange: {status} {payload[:300]}")
            answer = json.loads(payload)
            for k in ("access_token", "id_token", "refresh_token"):
                if k not in answer:
                    raise BenchError(f"code exchange: no {k} in {payload[:300]}")
            return answer

        def userinfo():
            at = first_exchange()["access_token"]
            check("userinfo", "GET", "/connect/userinfo", {"Authorization": f"Bearer {at}"}, None,
                  lambda s, h, p: s == 200 and '"sub"' in p)
            env = {"BENCH_METHOD": "GET", "BENCH_PATH": "/connect/userinfo",
                   "BENCH_HEADERS": f"Authorization: Bearer {at}"}
            return self.measure(server, "userinfo", env, warm, dur)
        attempt("userinfo", userinfo)

        def refresh():
            rt = first_exchange()["refresh_token"]
            body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": rt})
            answer = json.loads(check("refresh", "POST", "/connect/token",
                                      {"Authorization": web_auth, "Content-Type": FORM}, body,
                                      lambda s, h, p: s == 200 and '"refresh_token"' in p))
            if answer["refresh_token"] == rt:
                raise BenchError("the refresh token was not rotated")
            note = "" if "id_token" in answer else "no ID token on refresh"
            r = self.measure(server, "refresh", token_env(), warm, dur,
                             single_use={"make": refresh_inputs, "warm_count": a.warm_inputs})
            if note:
                r.note = (note + "; " + r.note) if r.note else note
            return r
        attempt("refresh", refresh)

        def code():
            first_exchange()
            return self.measure(server, "code", token_env(), warm, dur,
                                single_use={"make": code_inputs, "warm_count": a.warm_inputs})
        attempt("code", code)

        if not is_peer:
            def sign_in_inputs(n: int, tag: str) -> str:
                # Each sign-in needs its own pending authorization request (the CSRF token
                # is bound to its browser session): authorize, then read the form.
                out = self.work / f"sign-in-{tag}.txt"
                with open(out, "w") as g:
                    for _ in range(n):
                        b = Browser(port)
                        status, hdrs, _ = b.request("GET", authorize_path)
                        location = header(hdrs, "Location")
                        if status not in (302, 303) or not location:
                            raise BenchError(f"authorize without a session: {status}")
                        parts = urllib.parse.urlsplit(location)
                        status, _, page = b.request("GET", parts.path + "?" + parts.query)
                        _, fields = parse_form(page)
                        fields.update({"login": USER, "password": PASSWORD})
                        g.write(urllib.parse.urlencode(fields) + "\t" + b.cookie_header() + "\n")
                return str(out)

            def sign_in():
                env = {"BENCH_METHOD": "POST", "BENCH_PATH": "/login", "BENCH_HEADERS": token_headers}
                # Four connections: the sign-in throttle reserves an attempt before the hash
                # (docs/security.md), five per account at once, so more parallel sign-ins of
                # the one bench user would be locked out (429) rather than measured; four
                # already keep the server's core busy with argon2id.
                return self.measure(server, "sign_in", env, min(warm, 3), dur,
                                    single_use={"make": sign_in_inputs, "warm_count": 64 if a.short else 150},
                                    connections=min(a.connections, 4))
            attempt("sign_in", sign_in)


# ---------------------------------------------------------------------------------------
# Report.


def machine_info() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f"{kib / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "memory": mem,
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def fmt_num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(a: float, b: float) -> str:
    if not a or not b:
        return ""
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def build_report(bench: Bench, servers: list[Server], ceilings: dict, info: dict, args) -> tuple[str, list[str]]:
    lines = []
    mode = "short" if args.short else "full"
    lines.append(f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, Linux {info['kernel']}; "
                 f"load average at start {info['load']}")
    lines.append(f"Mode: {mode}; wrk -t1 -c{args.connections}, {args.warmup:g} s warm-up + {args.duration:g} s "
                 f"measured per row; server on core {SERVER_CORE}, wrk on core {LOAD_CORE}.")
    lines.append("")
    by = {(r.row, r.server): r for r in bench.results}
    peer_key = "peer"
    header_cells = ["row", "server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "peak RSS MB", "ceiling/s",
                    "% of ceiling", "Tessera/peer req/s", "Tessera/peer p99", "notes"]
    lines.append("| " + " | ".join(header_cells) + " |")
    lines.append("|" + "|".join(["---"] * len(header_cells)) + "|")
    labels = {s.key: s.label for s in servers}
    for row, title, ceiling_key in ROWS:
        ceiling = ceilings.get(ceiling_key) if ceiling_key else None
        peer = by.get((row, peer_key))
        for s in servers:
            r = by.get((row, s.key))
            if r is None:
                continue
            if r.wrk is None:
                lines.append(f"| {title} | {labels[s.key]} | – | – | – | – | – | "
                             f"{fmt_num(ceiling) if ceiling else ''} | | | | {r.skipped} |")
                continue
            w = r.wrk
            vs_rps = vs_p99 = ""
            if s.key != peer_key and peer is not None and peer.wrk is not None:
                vs_rps = ratio(w.rps, peer.wrk.rps)
                vs_p99 = ratio(w.p99_ms, peer.wrk.p99_ms)
            pct = f"{100 * w.rps / ceiling:.0f} %" if ceiling else ""
            lines.append(
                f"| {title} | {labels[s.key]} | {fmt_num(w.rps)} | {fmt_num(w.p50_ms)} | {fmt_num(w.p99_ms)} | "
                f"{r.cpu_us_per_req:,.0f} | {r.peak_rss_kib / 1024:.1f} | {fmt_num(ceiling) if ceiling else ''} | "
                f"{pct} | {vs_rps} | {vs_p99} | {r.note} |")
    # Start-up and ceilings, in the same table.
    for s in servers:
        if not s.ready_ms:
            continue
        starts = ", ".join(f"{ms:.0f}" for ms in s.ready_ms)
        lines.append(f"| start: ready (ms) / idle RSS | {s.label} | | | | | {s.idle_rss_kib / 1024:.1f} | | | | | "
                     f"ready after {starts} ms{(' (first start, restart)' if len(s.ready_ms) > 1 else '')} |")
    for key in ("es256_sign", "es256_verify", "eddsa_sign", "eddsa_verify", "argon2id_hash"):
        if key in ceilings:
            lines.append(f"| ceiling: {CEILING_TITLES.get(key, key.replace('_', ' '))} | aws-lc-rs / argon2, 1 thread "
                         f"| {fmt_num(ceilings[key])} | | | {1e6 / ceilings[key]:,.1f} | | | | | | core {SERVER_CORE} |")
    targets = check_targets(bench, servers, ceilings)
    lines.append("")
    lines.append("Targets (informational: the benchmark never fails on a timing):")
    lines.extend(f"- {t}" for t in targets)
    return "\n".join(lines) + "\n", targets


def check_targets(bench: Bench, servers: list[Server], ceilings: dict) -> list[str]:
    by = {(r.row, r.server): r for r in bench.results if r.wrk is not None}
    out = []
    tessera = [s for s in servers if s.key != "peer"]
    labels = {s.key: s.label for s in servers}

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    def vs_peer(row: str, factor: float, what: str):
        p = by.get((row, "peer"))
        for s in tessera:
            t = by.get((row, s.key))
            if t is None or p is None:
                out.append(f"{what} ≥ {factor:g}× the peer ({labels[s.key]}): no figure")
                continue
            r = t.wrk.rps / p.wrk.rps
            out.append(f"{what} ≥ {factor:g}× the peer ({labels[s.key]}): {r:.2f}× "
                       f"({t.wrk.rps:,.0f} vs {p.wrk.rps:,.0f} req/s): {verdict(r >= factor)}")

    def vs_ceiling(row: str, key: str, share: float, what: str):
        c = ceilings.get(key)
        for s in tessera:
            t = by.get((row, s.key))
            if t is None or not c:
                out.append(f"{what} ≥ {share:.0%} of the {CEILING_TITLES[key]} ceiling ({labels[s.key]}): no figure")
                continue
            r = t.wrk.rps / c
            out.append(f"{what} ≥ {share:.0%} of the {CEILING_TITLES[key]} ceiling ({labels[s.key]}): {r:.0%} "
                       f"({t.wrk.rps:,.0f} of {c:,.0f}/s): {verdict(r >= share)}")

    vs_peer("cc_es256", 10, "ES256 JWT client_credentials")
    vs_ceiling("cc_es256", "es256_sign", 0.5, "ES256 JWT client_credentials")
    vs_peer("cc_ref", 2, "reference-token issuance")
    vs_peer("introspect_ref", 3, "reference-token introspection")
    vs_ceiling("introspect_jwt", "es256_verify", 0.6, "JWT introspection")
    for s in tessera:
        worst = []
        for row, title, _ in ROWS:
            t, p = by.get((row, s.key)), by.get((row, "peer"))
            if t and p:
                worst.append((t.wrk.p99_ms / p.wrk.p99_ms, title))
        if worst:
            bad = [f"{title} {r:.2f}" for r, title in worst if r > 0.2]
            out.append(f"p99 ≤ 1/5 of the peer's on every compared row ({labels[s.key]}): "
                       + ("met" if not bad else "NOT MET on " + ", ".join(bad)))
        idle = s.idle_rss_kib / 1024
        if idle:
            out.append(f"idle RSS ≤ 30 MB ({labels[s.key]}): {idle:.1f} MB: {verdict(idle <= 30)}")
        peaks = [(r.peak_rss_kib / 1024, r.row) for (row, key), r in by.items() if key == s.key]
        if peaks:
            peak, row = max(peaks)
            out.append(f"RSS ≤ 100 MB under the benchmark ({labels[s.key]}): peak {peak:.1f} MB "
                       f"({ROW_TITLES[row]}): {verdict(peak <= 100)}")
            rest = [p for p in peaks if p[1] != "sign_in"]
            if rest and row == "sign_in":
                peak2, row2 = max(rest)
                out.append(f"  without the sign-in row: peak {peak2:.1f} MB ({ROW_TITLES[row2]}): "
                           f"{verdict(peak2 <= 100)}")
        if s.ready_ms:
            worst_ready = max(s.ready_ms)
            out.append(f"ready ≤ 1 s after start ({labels[s.key]}): "
                       + ", ".join(f"{ms:.0f} ms" for ms in s.ready_ms) + f": {verdict(worst_ready <= 1000)}")
    return out


# ---------------------------------------------------------------------------------------


def run_ceilings(binary: Path, seconds: float) -> dict:
    out = subprocess.run(["taskset", "-c", SERVER_CORE, str(binary), str(seconds)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    ceilings = {}
    for line in out.splitlines():
        name, value = line.split()
        ceilings[name] = float(value)
    return ceilings


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tessera", required=True, type=Path, help="the release tessera binary")
    p.add_argument("--ceiling", type=Path, help="the ceiling binary (bench/ceiling)")
    p.add_argument("--work", required=True, type=Path, help="folder for databases, inputs, logs, results")
    p.add_argument("--short", action="store_true", help="a few seconds per row; Tessera on SQLite and the peer")
    p.add_argument("--no-peer", action="store_true", help="skip node oidc-provider")
    p.add_argument("--postgres", choices=["auto", "own", "shared", "no"], default=None,
                   help="Tessera on PostgreSQL: own cluster (default in full mode), the shared one at "
                        "BENCH_POSTGRES_URL, or no (default in short mode)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--rows", default=None, help="comma-separated row keys: " + ",".join(k for k, _, _ in ROWS))
    p.add_argument("--nodes", default=None,
                   help="node counts, as in 1,2,3: throughput of that many Tessera nodes on one PostgreSQL "
                        "instead of the comparison (bench/lib/nodes.py)")
    args = p.parse_args()
    args.warmup = args.warmup if args.warmup is not None else (1 if args.short else 5)
    args.duration = args.duration if args.duration is not None else (3 if args.short else 20)
    args.warm_inputs = 3000 if args.short else 8000
    args.rows = set(args.rows.split(",")) if args.rows else None
    if args.postgres is None:
        args.postgres = "no" if args.short else "own"

    # This driver and everything it starts run on the load core, unless started under
    # taskset on the server core (the servers, PostgreSQL, the ceiling program).
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > int(LOAD_CORE):
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    info = machine_info()
    print(f"Tessera benchmark ({'short' if args.short else 'full'} mode)", flush=True)
    print(f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, Linux {info['kernel']}, "
          f"load average {info['load']}", flush=True)
    if (info["cores"] or 0) < 2:
        log("fewer than 2 cores: server and load share a core; figures are not comparable")

    global SERVER_GROUP
    SERVER_GROUP = SchedGroup("tessera-bench")

    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ceilings = {}
    if args.ceiling and args.ceiling.exists():
        log("measuring the single-thread crypto ceilings")
        ceilings = run_ceilings(args.ceiling, 1 if args.short else 3)
        log("  " + ", ".join(f"{k} {v:,.0f}/s" for k, v in ceilings.items()))

    if args.nodes:
        # The node-count mode: its own table, no peer. It imports this file as `bench`.
        sys.modules.setdefault("bench", sys.modules[__name__])
        import nodes
        try:
            return nodes.run(args, work)
        except (BenchError, subprocess.CalledProcessError, OSError) as e:
            log(f"FAILED: {e}")
            return 1
        finally:
            SERVER_GROUP.remove()

    bench = Bench(args, work)
    servers: list[Server] = []
    plan = [("tessera-sqlite", "Tessera (SQLite)")]
    if args.postgres != "no":
        plan.append(("tessera-postgres", "Tessera (PostgreSQL)"))
    if not args.no_peer:
        plan.append(("peer", "oidc-provider 9"))
    peer_secrets = None
    fatal = None
    for key, label in plan:
        server = Server(key, label, PEER_PORT if key == "peer" else TESSERA_PORT)
        servers.append(server)
        pg = None
        swork = work / key
        bench.work = swork
        swork.mkdir(parents=True, exist_ok=True)
        try:
            log(f"{label}: setting up")
            if key == "peer":
                if peer_secrets is None:
                    raise BenchError("no Tessera configuration to copy")
                server.secrets = peer_secrets
                start_peer(swork, server, peer_secrets)
            else:
                master_key = None
                if key == "tessera-postgres":
                    if args.postgres == "own":
                        pg = PgCluster(swork, PG_PORT, SERVER_GROUP)
                        if not pg.available():
                            raise BenchError("no PostgreSQL binaries or not root: use --postgres shared")
                        url = pg.start()
                        server.pg = pg
                        if SERVER_GROUP.path is None and autogroups_on():
                            server.notes.append(f"no CPU cgroup for the server core ({SERVER_GROUP.why_not}): "
                                                "each PostgreSQL backend is an autogroup of its own, and p99 "
                                                "may show the scheduler's stalls")
                            log("warning: " + server.notes[-1])
                    else:
                        url = os.environ.get("BENCH_POSTGRES_URL",
                                             "postgres://postgres@127.0.0.1:5432/tessera_bench")
                        dbname = urllib.parse.urlsplit(url).path.lstrip("/")
                        admin = url.rsplit("/", 1)[0] + "/postgres"
                        subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{dbname}"'], check=True)
                        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{dbname}"'], check=True)
                        server.pg_shared = True
                        server.notes.append("shared PostgreSQL: CPU of every postgres process counted")
                    master_key = subprocess.run([str(args.tessera), "config", "generate-master-key"], check=True,
                                                stdout=subprocess.PIPE, text=True).stdout.strip()
                else:
                    url = f"sqlite://{swork / 'tessera.db'}"
                t = Tessera(args.tessera, swork, server, url, master_key)
                server.secrets = t.setup()
                if peer_secrets is None:
                    peer_secrets = server.secrets
                # First start, then a restart: both times to ready.
                t.start()
                stop_process(server.proc)
                t.start()
            time.sleep(1.0)
            server.idle_rss_kib = status_kib(server.pid, "VmRSS")
            log(f"{label}: ready after {', '.join(f'{ms:.0f}' for ms in server.ready_ms)} ms, "
                f"idle RSS {server.idle_rss_kib / 1024:.1f} MB")
            bench.run_server(server, key == "peer")
        except Exception as e:
            log(f"{label}: {e}")
            if key == "tessera-sqlite":
                fatal = f"{label}: {e}"
            else:
                server.notes.append(str(e))
                bench.results.append(RowResult("cc_es256", key, skipped=f"failed: {e}"[:200]))
        finally:
            stop_process(server.proc)
            if pg is not None:
                pg.stop()
        if fatal:
            break

    SERVER_GROUP.remove()
    report, _ = build_report(bench, servers, ceilings, info, args)
    notes = [f"- {s.label}: {n}" for s in servers for n in s.notes]
    if notes:
        report += "\nNotes:\n" + "\n".join(notes) + "\n"
    report += f"\nLoad average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n"
    print()
    print(report, flush=True)
    results = work.parent / "results.md"
    results.write_text(report)
    (work.parent / "results.json").write_text(json.dumps({
        "machine": info, "mode": "short" if args.short else "full", "ceilings": ceilings,
        "servers": [{"key": s.key, "ready_ms": s.ready_ms, "idle_rss_kib": s.idle_rss_kib} for s in servers],
        "rows": [{"row": r.row, "server": r.server, "skipped": r.skipped, "note": r.note,
                  "cpu_us_per_req": r.cpu_us_per_req, "db_cpu_us_per_req": r.db_cpu_us_per_req,
                  "utilisation": r.utilisation,
                  "peak_rss_kib": r.peak_rss_kib,
                  "start_rss_kib": r.start_rss_kib,
                  **({"requests": r.wrk.requests, "duration_s": r.wrk.duration_s, "rps": r.wrk.rps,
                      "p50_ms": r.wrk.p50_ms, "p99_ms": r.wrk.p99_ms, "errors": r.wrk.errors} if r.wrk else {})}
                 for r in bench.results]}, indent=2))
    log(f"table written to {results}")
    if fatal:
        log(f"FAILED: {fatal}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
