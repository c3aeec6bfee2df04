"""End-to-end browser tests: a real demo city built and served in subprocesses, driven by
Chromium through Playwright.

The session database of the rest of the suite (``tests/conftest.py``) is never touched: the
demo has a data directory of its own and, when the run has ``DATABASE_URL`` (PostgreSQL), a
database of its own (``<name>_e2e``, dropped and created). Nothing here uses pytest-django's
``live_server`` or transactional fixtures, and the test process reads the served demo's
database with plain ``sqlite3``/``psycopg``, never through the ORM.

Playwright's sync API keeps an event loop running in the main thread while it is started,
which would make Django's ORM refuse to run (``SynchronousOnlyOperation``) in any test after
it; so the browser and the demo live only as long as this package (``scope="package"``).

Without Chromium (``/usr/bin/chromium``, or ``WANGGE_CHROMIUM``) or Playwright the tests are
skipped, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RESIDENTS = int(os.environ.get("WANGGE_E2E_RESIDENTS", "1000"))  # the build is most of the time
SERVE_WORKERS = 2
CITY_TZ = ZoneInfo("Asia/Shanghai")
LOCALE = "zh-CN"
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 360, "height": 780}

# Every error-level console message counts; CSP violations are also reported explicitly (the
# listener is an init script, which the page's CSP does not govern).
CSP_PROBE = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
    + " at " + (e.sourceFile || "") + ":" + (e.lineNumber || 0));
});
"""


# --- is there a browser ---------------------------------------------------------------------
def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="package")
def browser_ready():
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser tests to run: {reason}")
        pytest.skip(reason)


# --- the served demo ------------------------------------------------------------------------
def _free_port() -> int:
    # The kernel hands out a port nobody has bound. (granian binds with SO_REUSEPORT, so a
    # port taken by another granian would not make ours fail: never pick a port by hand.)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_urls(url: str) -> tuple[str, str, str]:
    """(the demo's database URL, its name, the maintenance database's URL)."""
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_e2e"
    demo = urlunsplit(parts._replace(path="/" + name))
    admin = urlunsplit(parts._replace(path="/postgres"))
    return demo, name, admin


def _pg_recreate(admin_url: str, name: str, create: bool = True) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class Demo:
    """The demo city being served: where, who may sign in, and its database."""

    base_url: str
    data_dir: Path
    log: Path
    passwords: dict[str, str]
    database_url: str = ""  # empty: SQLite in the data directory
    timings: dict[str, float] = field(default_factory=dict)
    states: dict[str, dict] = field(default_factory=dict)  # signed-in storage per user

    def url(self, path: str) -> str:
        return self.base_url + path

    # direct reads of the served database (never the ORM: it points at the suite's database)
    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                return conn.execute(query.replace("?", "%s"), params).fetchall()
        conn = sqlite3.connect(f"file:{self.data_dir / 'wangge.sqlite3'}?mode=ro", uri=True)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def _instant(self, d: date):
        """The start of a city day as the database compares it."""
        at = datetime.combine(d, dtime.min, tzinfo=CITY_TZ)
        if self.database_url:
            return at
        return at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")

    def events_reported(self, code: str, start: date, end: date) -> int:
        """Events under ``code`` reported from ``start`` to ``end`` (city days, inclusive)."""
        rows = self.sql(
            "SELECT COUNT(*) FROM events_event WHERE grid_code LIKE ? "
            "AND reported_at >= ? AND reported_at < ?",
            (code + "%", self._instant(start), self._instant(end + timedelta(days=1))),
        )
        return int(rows[0][0])

    def events_open(self, code: str) -> int:
        states = ("reported", "accepted", "dispatched", "acknowledged", "handled", "suspended")
        marks = ",".join("?" * len(states))
        rows = self.sql(
            f"SELECT COUNT(*) FROM events_event WHERE grid_code LIKE ? AND state IN ({marks})",
            (code + "%", *states),
        )
        return int(rows[0][0])


def _run(cmd: list[str], env: dict, log: Path, timeout: float) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT
        )
    if done.returncode:
        pytest.fail(f"{' '.join(cmd[2:])} failed ({done.returncode}):\n{_tail(log)}")


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo server exited ({proc.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"the demo server did not answer {url} within {timeout}s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (its workers)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _accounts(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            cols = line.split("\t")
            out[cols[0]] = cols[1]
    return out


@pytest.fixture(scope="package")
def demo(browser_ready, tmp_path_factory) -> Demo:
    """``wangge demo --no-serve`` then ``wangge serve`` on a free port, in subprocesses."""
    # WANGGE_E2E_DATA_DIR: build there once and reuse it (while working on the tests)
    reuse = os.environ.get("WANGGE_E2E_DATA_DIR", "")
    data_dir = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("e2e-demo")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "WANGGE_SECRET_KEY", "REDIS_URL")
    }
    env.update(WANGGE_DATA_DIR=str(data_dir), WANGGE_WORKER="0", PYTHONUNBUFFERED="1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    build = not (reuse and (data_dir / "demo-accounts.txt").exists())
    database_url = ""
    pg = None  # the database to drop at the end
    if os.environ.get("DATABASE_URL", "").strip():
        database_url, name, admin = _pg_urls(os.environ["DATABASE_URL"].strip())
        if build:
            _pg_recreate(admin, name)
        if not reuse:
            pg = (admin, name)
        env["DATABASE_URL"] = database_url
    timings: dict[str, float] = {}
    cli = [sys.executable, "-m", "wangge.cli"]
    if build:
        started = time.monotonic()
        _run([*cli, "demo", "--no-serve", "--residents", str(RESIDENTS)], env, log, 600)
        timings["demo build"] = time.monotonic() - started
    port = _free_port()
    started = time.monotonic()
    with log.open("a") as out:
        proc = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
            + ["--workers", str(SERVE_WORKERS)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/accounts/login/", proc, log)
        timings["serve start"] = time.monotonic() - started
        yield Demo(
            base_url=base,
            data_dir=data_dir,
            log=log,
            passwords=_accounts(data_dir / "demo-accounts.txt"),
            database_url=database_url,
            timings=timings,
        )
    finally:
        _stop(proc)
        if pg and not os.environ.get("WANGGE_E2E_KEEP"):
            _pg_recreate(*pg, create=False)
        print(
            "\nbrowser demo: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
            + f" ({'PostgreSQL' if database_url else 'SQLite'}, {RESIDENTS} residents)"
        )


@pytest.fixture(scope="package")
def browser(demo):
    from playwright.sync_api import sync_playwright

    for stale in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier run
        stale.unlink()
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
    finally:
        pw.stop()


# --- people at the browser ------------------------------------------------------------------
class User:
    """One person's browser (a context signed in as a demo user) and every console error,
    page error and CSP violation seen on the pages they opened."""

    def __init__(self, browser, demo: Demo, username: str, viewport: dict, **options):
        self.demo = demo
        self.username = username
        self.errors: list[str] = []
        self.visited: list[str] = []
        state = demo.states.get(username)
        self.context = browser.new_context(
            viewport=viewport,
            locale=LOCALE,
            timezone_id="Asia/Shanghai",
            storage_state=state,
            **options,
        )
        self.context.set_default_timeout(15_000)
        self.context.add_init_script(CSP_PROBE)
        self.context.on("page", self._watch)
        self.page = self.context.new_page()
        if state is None:
            self._sign_in()
            demo.states[username] = self.context.storage_state()

    def _watch(self, page) -> None:
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"{page.url}: console.{m.type}: {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: uncaught: {e}"))
        page.on(
            "framenavigated", lambda f: self.visited.append(f.url) if f == page.main_frame else None
        )

    def _sign_in(self) -> None:
        p = self.page
        p.goto(self.demo.url("/accounts/login/"))
        p.fill("#id_username", self.username)
        p.fill("#id_password", self.demo.passwords[self.username])
        with p.expect_navigation():
            p.click("form.narrow button[type=submit]")
        assert "/accounts/login/" not in p.url, f"{self.username} could not sign in"

    def open(self, path: str, wait: str = "load"):
        response = self.page.goto(self.demo.url(path), wait_until=wait)
        assert response is not None and response.status == 200, (
            f"{path}: {response.status if response else 'no answer'}"
        )
        return self.page

    def api(self, path: str):
        """GET an API path inside the page, so the session (and its post) applies."""
        status, body = self.page.evaluate(
            """async (u) => {
                const r = await fetch(u, {headers: {Accept: "application/json"},
                                          credentials: "same-origin"});
                return [r.status, await r.text()];
            }""",
            path,
        )
        assert status == 200, f"{path}: {status} {body[:300]}"
        return json.loads(body)

    def shot(self, name: str, full_page: bool = False, page=None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def people(browser, demo, request):
    """``people("district")`` → a signed-in ``User`` (desktop size unless told); all closed at
    the end, with a screenshot of each open page when the test failed."""
    made: list[User] = []

    def make(username: str, viewport: dict | None = None, **options) -> User:
        u = User(browser, demo, username, viewport or DESKTOP, **options)
        made.append(u)
        return u

    yield make
    failed = getattr(request.node, "rep_call", None)
    for i, u in enumerate(made):
        if failed is not None and failed.failed:
            for j, p in enumerate(u.context.pages):
                safe = re.sub(r"[^\w.-]+", "_", request.node.name)
                try:
                    u.shot(f"FAILED-{safe}-{u.username}-{i}{j}", full_page=True, page=p)
                except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
                    pass
        u.context.close()


def assert_clean(*users: User) -> None:
    """No console error, uncaught exception or CSP violation on any page these users saw."""
    errors = [e for u in users for e in u.errors]
    assert not errors, "errors in the browser:\n" + "\n".join(errors)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    if rep.failed and "demo" in getattr(item, "fixturenames", ()):
        d = item.funcargs.get("demo") if hasattr(item, "funcargs") else None
        if isinstance(d, Demo):
            rep.sections.append(("demo server log (tail)", _tail(d.log, 40)))
    return rep
