import os
import subprocess
import sys

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_deploy_check_passes_when_configured(tmp_path):
    env = {
        **os.environ,
        "WANGGE_HTTPS": "1",
        "WANGGE_SECRET_KEY": "x" * 60 + "-Yz9!",
        "WANGGE_ALLOWED_HOSTS": "wangge.example.gov.cn",
        "WANGGE_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "wangge.settings",
    }
    env.pop("WANGGE_DEBUG", None)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wangge.cli import main; main()",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_short_audit_retention_is_refused_at_start_up(tmp_path):
    env = {
        **os.environ,
        "WANGGE_AUDIT_RETENTION_DAYS": "90",
        "WANGGE_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "wangge.settings",
    }
    r = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode != 0 and "183" in r.stderr


def test_security_headers(commander):
    r = commander.get("/regions/5101/")
    csp = r["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_scripts(commander):
    html = commander.get("/regions/510104/").content.decode()
    assert "onchange=" not in html and "onclick=" not in html
    import re

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_api_errors_show_no_stack_trace(commander, monkeypatch):
    from wangge.regions import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "place_get", boom)
    r = commander.get("/api/regions/5101")
    assert r.status_code == 500
    assert "secret internals" not in r.content.decode()
    assert r.json()["error"]["code"] == "server_error"


def test_pages_errors_show_a_friendly_page(commander, monkeypatch):
    from wangge.regions import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "place_get", boom)
    c = commander
    c.raise_request_exception = False
    r = c.get("/regions/5101/")
    assert r.status_code == 500
    body = r.content.decode()
    assert "secret internals" not in body and "Something went wrong" in body


def test_admin_sign_in_goes_through_the_platform_login():
    r = Client().get("/admin/", follow=True)
    assert r.redirect_chain[-1][0].startswith("/accounts/login/")
    assert r.status_code == 200
