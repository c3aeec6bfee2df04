"""Benchmark: reporting events over HTTP — the demo served by granian (WSGI), 16 clients.

    python benchmarks/events_report.py               # SQLite and PostgreSQL (database bench_events)
    python benchmarks/events_report.py --smoke       # SQLite, a few hundred requests (CI)

For each database: a fresh demo city (places and accounts, no residents) served by ``wangge
serve`` (granian WSGI, 2 workers, no background worker; ``WANGGE_THREADS`` raised to the
number of clients, see ``threads()``) on 127.0.0.1; 16 client threads with
keep-alive connections POST ``/api/events`` (JSON, no photo) with an API token and a unique
Idempotency-Key, points spread over the district's micro-grids, for a bounded number of
requests or seconds. Each report locates its point, computes its deadline on the working
calendar and writes the event, its log row, the dispatchers' notice and an audit row.

In the same run, as the baseline: a bare Django "insert one row" endpoint (a tiny WSGI app
served from this file by granian with the same settings, writing the request body into one
table of the same database); and the batch endpoint ``/api/events/batch`` (1,000 reports a
request, 4 clients). Prints events/s, p50/p99, the ratio to the bare endpoint and the headroom
over a city-scale day (50,000 reports, the peak hour 10× the average hour).

Each request carries its own client address (``X-Forwarded-For``, the server in behind-proxy
mode): the per-address limit on token sign-ins (600 a minute) is meant for one phone, and this
load stands for many phones. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "bench_events"
CITY_DAY = 50_000
PEAK = 10  # the peak hour against the average hour
CATEGORIES = ["0303", "0901", "0302", "0101", "0103", "0202", "0902", "0703", "0401", "0501"]


# --- a minimal keep-alive HTTP/1.1 client (http.client parses headers with the email
# package: too slow to keep up with the server from the same two cores) -----------------------
class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                self.sock.sendall(data)
                return self._response()
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        first = lines[0].split()
        if len(first) < 2 or not first[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {lines[0][:60]!r}")
        status = int(first[1])
        length, close = 0, False
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
        while len(self.buf) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def load(port, path, make, *, clients: int, requests: int, seconds: float, per_request: int = 1):
    """``clients`` threads sending ``make(i) -> (body, headers)`` until ``requests`` are done
    or ``seconds`` have passed. Returns (items/s, latencies in ms, statuses)."""
    lock = threading.Lock()
    counter = {"next": 0}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    samples: list[bytes] = []
    deadline = time.perf_counter() + seconds

    def run() -> None:
        c = Client(port)
        mine: list[float] = []
        codes: dict[int, int] = {}
        while time.perf_counter() < deadline:
            with lock:
                i = counter["next"]
                if i >= requests:
                    break
                counter["next"] = i + 1
            body, headers = make(i)
            t = time.perf_counter()
            try:
                status, answer = c.post(path, body, headers)
            except (ConnectionError, OSError) as exc:
                status, answer = 0, str(exc).encode()
            mine.append((time.perf_counter() - t) * 1000)
            codes[status] = codes.get(status, 0) + 1
            if status >= 300 and len(samples) < 3:
                samples.append(answer[:300])
        c.close()
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t
    for s in samples:
        print(f"    an answer that was not a success: {s.decode(errors='replace')}")
    ok = sum(v for k, v in statuses.items() if k < 300)
    return ok * per_request / secs, sorted(latencies), statuses


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p))]


# --- servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server this script started (its own process group: granian's workers too)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def threads(clients: int) -> int:
    """Request threads a granian worker (of two): one for each client's connection. Granian
    takes no more connections than a worker has threads, and the system may hand most of them
    to one worker: with fewer, the surplus keep-alive connections wait until others close."""
    default = int(os.environ.get("WANGGE_THREADS", 2 * (os.cpu_count() or 1) + 1))
    return max(default, clients)


def wangge_env(data_dir: Path, db_url: str | None, clients: int) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANGGE_DATA_DIR": str(data_dir), "WANGGE_WORKER": "0"}
    env["WANGGE_THREADS"] = str(threads(clients))
    env["WANGGE_BEHIND_PROXY"] = "1"
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    return env


def wangge(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    code = "import sys; from wangge.cli import main; sys.argv = ['wangge', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, check=True, **kw)


def prepare(env: dict[str, str]) -> tuple[str, str, list[tuple[float, float]]]:
    """A demo city without residents; an API token for the demo grid worker (水井坊社区第1网格)
    and points in that grid: a worker reports what they find in their own grid; a token for the
    community secretary, who brings 12345 work orders in through the batch endpoint."""
    t = time.perf_counter()
    wangge(["demo", "--residents", "0", "--no-serve"], env, stdout=subprocess.DEVNULL)
    print(f"  demo city (places, accounts) built in {time.perf_counter() - t:.0f}s")
    code = """
import json, os, django, numpy, shapely
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
django.setup()
from wangge.accounts.models import Post
from wangge.accounts.services import token_create
from wangge.regions.locator import locate
from wangge.regions.models import Grid
from wangge.regions.synth import sample_points
post = Post.objects.get(user__username="grid", is_active=True)
_token, raw = token_create(actor=post, name="benchmark", days=1)
secretary = Post.objects.get(user__username="community", is_active=True)
_token, raw_batch = token_create(actor=secretary, name="benchmark hotline", days=1)
grid = shapely.from_geojson(Grid.objects.get(code=post.place_code).geometry)
points = [
    (float(x), float(y))
    for x, y in sample_points(grid, 400, numpy.random.default_rng(1))
    if (hit := locate(float(x), float(y))) and hit.code.startswith(post.place_code)
]
print(json.dumps({"token": raw, "batch_token": raw_batch, "points": points}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["token"], data["batch_token"], [tuple(p) for p in data["points"]]


def serve_wangge(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    code = "import sys; from wangge.cli import main; sys.argv = ['wangge', *sys.argv[1:]]; main()"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=ROOT,
            stdout=fh,
            stderr=fh,
            start_new_session=True,
        )
    wait_port(port, proc)
    return proc


def serve_bare(db: str, port: int, log: Path, n_threads: int) -> subprocess.Popen:
    env = {**os.environ, "BENCH_BARE_DB": db}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])
    code = (
        "from granian import Granian\n"
        "from granian.constants import Interfaces\n"
        f"Granian('events_report:bare_app', address='127.0.0.1', port={port}, "
        f"interface=Interfaces.WSGI, workers=2, blocking_threads={n_threads}, "
        f"backpressure={n_threads}, log_access=False).serve()\n"
    )
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT / "benchmarks",
            stdout=fh,
            stderr=fh,
            start_new_session=True,
        )
    wait_port(port, proc)
    return proc


# --- the bare endpoint (imported by granian's workers from this file) ---------------------------
_bare: dict = {}
_bare_lock = threading.Lock()
urlpatterns: list = []


def bare_app(environ, start_response):
    """A Django project of one view that inserts the request body as one row."""
    app = _bare.get("app")
    if app is None:
        with _bare_lock:
            app = _bare.get("app")
            if app is None:
                app = _bare["app"] = _bare_setup()
    return app(environ, start_response)


def _bare_setup():
    import dj_database_url
    import django
    from django.conf import settings

    db = os.environ["BENCH_BARE_DB"]
    if db.startswith("postgres"):
        database = dj_database_url.parse(db, conn_max_age=60)
    else:  # the same SQLite settings as wangge's
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": db,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA busy_timeout=5000;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        DATABASES={"default": database},
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        USE_TZ=True,
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.http import JsonResponse
    from django.urls import path
    from django.utils import timezone
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def insert(request):
        payload = json.loads(request.body)
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO bench_bare (payload, created_at) VALUES (%s, %s)",
                [json.dumps(payload, ensure_ascii=False), timezone.now()],
            )
        return JsonResponse({"ok": True}, status=201)

    urlpatterns.append(path("insert", insert))
    return get_wsgi_application()


def bare_table(db: str) -> None:
    if db.startswith("postgres"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_bare")
            conn.execute(
                "CREATE TABLE bench_bare (id bigserial PRIMARY KEY, payload text NOT NULL, "
                "created_at timestamptz NOT NULL)"
            )
    else:
        import sqlite3

        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("DROP TABLE IF EXISTS bench_bare")
        conn.execute(
            "CREATE TABLE bench_bare (id integer PRIMARY KEY AUTOINCREMENT, payload text "
            "NOT NULL, created_at datetime NOT NULL)"
        )
        conn.commit()
        conn.close()


# --- one database -------------------------------------------------------------------------------
def run_one(label: str, db_url: str | None, data_dir: Path, args) -> None:
    print(f"{label} (granian: 2 workers × {threads(args.clients)} threads):")
    env = wangge_env(data_dir, db_url, args.clients)
    token, batch_token, points = prepare(env)
    bodies = [
        json.dumps(
            {
                "category": CATEGORIES[i % len(CATEGORIES)],
                "title": f"基准测试上报 {i}",
                "source": "patrol",
                "lon": points[i * 7919 % len(points)][0],
                "lat": points[i * 7919 % len(points)][1],
            },
            ensure_ascii=False,
        ).encode()
        for i in range(1024)
    ]
    auth = f"Bearer {token}"
    run = f"{os.getpid()}-{int(time.time())}"

    def report(i: int):
        return bodies[i % len(bodies)], {
            "Authorization": auth,
            "Idempotency-Key": f"{run}-{i}",
            "X-Forwarded-For": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
        }

    port = free_port()
    log = data_dir / "server.log"
    server = serve_wangge(env, port, log)
    try:
        load(port, "/api/events", report, clients=4, requests=100, seconds=10)  # warm up
        rate, lat, statuses = load(
            port,
            "/api/events",
            lambda i: report(i + 1_000_000),
            clients=args.clients,
            requests=args.requests,
            seconds=args.seconds,
        )
        print(
            f"  POST /api/events, {args.clients} clients: {rate:,.0f} events/s, "
            f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms "
            f"({len(lat):,} requests, answers {dict(sorted(statuses.items()))})"
        )
        batch_rate = batch(port, f"Bearer {batch_token}", points, args, run)
    finally:
        stop(server)
    if any(k >= 500 for k in statuses):
        raised = Counter(
            line[:120]
            for line in log.read_text(errors="replace").splitlines()
            if re.match(r"^[\w.]+(Error|Exception): ", line)
        )
        print(f"    server errors: {dict(raised.most_common(3))}")
    bare_db = db_url or str(data_dir / "bare.sqlite3")
    bare_table(bare_db)
    port = free_port()
    bare = serve_bare(bare_db, port, log, threads(args.clients))
    try:

        def insert(i: int):
            return bodies[i % len(bodies)], {"X-Forwarded-For": "10.0.0.1"}

        load(port, "/insert", insert, clients=4, requests=100, seconds=10)  # warm up
        bare_rate, bare_lat, bare_statuses = load(
            port,
            "/insert",
            insert,
            clients=args.clients,
            requests=args.requests,
            seconds=args.seconds,
        )
    finally:
        stop(bare)
    print(
        f"  bare Django insert-one-row endpoint, same server settings: {bare_rate:,.0f} req/s, "
        f"p50 {pct(bare_lat, 0.5):.1f} ms, p99 {pct(bare_lat, 0.99):.1f} ms "
        f"(answers {dict(sorted(bare_statuses.items()))})"
    )
    print(f"  reports / bare inserts = {rate / max(bare_rate, 1e-9):.2f}")
    peak = CITY_DAY / 24 * PEAK / 3600
    print(
        f"  a city-scale day ({CITY_DAY:,} reports, peak hour {PEAK}× the average hour) peaks "
        f"at {peak:.1f} reports/s: headroom {rate / peak:,.0f}× through the single endpoint, "
        f"{batch_rate / peak:,.0f}× through the batch endpoint"
    )


def batch(port: int, auth: str, points, args, run: str) -> float:
    size = args.batch_size

    def make(i: int):
        items = [
            {
                "category": CATEGORIES[(i + j) % len(CATEGORIES)],
                "title": f"市民来电 {i}-{j}",
                "lon": points[(i * size + j) * 7919 % len(points)][0],
                "lat": points[(i * size + j) * 7919 % len(points)][1],
                "key": f"{run}-b{i}-{j}",
            }
            for j in range(size)
        ]
        body = json.dumps({"source": "hotline", "items": items}, ensure_ascii=False).encode()
        return body, {"Authorization": auth, "X-Forwarded-For": f"10.200.{i >> 8 & 255}.{i & 255}"}

    load(port, "/api/events/batch", lambda i: make(i + 900_000), clients=2, requests=2, seconds=30)
    rate, lat, statuses = load(
        port,
        "/api/events/batch",
        make,
        clients=args.batch_clients,
        requests=args.batch_requests,
        seconds=args.seconds,
        per_request=size,
    )
    print(
        f"  POST /api/events/batch, {size:,} reports a request, {args.batch_clients} clients: "
        f"{rate:,.0f} events/s, p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms "
        f"({len(lat)} requests, answers {dict(sorted(statuses.items()))})"
    )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=30_000, help="at most, per phase")
    ap.add_argument("--seconds", type=float, default=20, help="at most, per phase")
    ap.add_argument("--batch-size", type=int, default=1_000)
    ap.add_argument("--batch-clients", type=int, default=4)
    ap.add_argument("--batch-requests", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="SQLite only, a few hundred requests")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.requests, args.seconds, args.no_postgres = 300, 10, True
        args.batch_size, args.batch_requests = 200, 4
    tmp = Path(tempfile.mkdtemp(prefix="wangge-events-bench-"))
    print(
        f"events report benchmark — {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    try:
        if not args.no_sqlite:
            run_one("SQLite (WAL)", None, tmp / "sqlite", args)
        if not args.no_postgres:
            import psycopg

            with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
                conn.execute(f"CREATE DATABASE {PG_DB}")
            try:
                run_one("PostgreSQL", f"{PG_BASE}/{PG_DB}", tmp / "pg", args)
            finally:
                with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
