from datetime import timedelta

import pyotp
import pytest
from django.test import Client, override_settings
from django.utils import timezone

from tests.conftest import signed_in
from wangge.accounts.middleware import SESSION_SEEN
from wangge.accounts.models import LoginFailure, TotpDevice

pytestmark = pytest.mark.django_db
PASSWORD = "Correct-Horse-42-battery"


@pytest.fixture
def worker(post_of):
    user = post_of("grid").user
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_login_lands_where_the_posts_work_is(worker):
    c = Client()
    r = _login(c, "grid", PASSWORD)
    assert r.status_code == 302
    r = c.get("/", follow=True)
    assert r.redirect_chain[-1][0] == "/events/m/"  # a grid worker: the phone page


def test_a_post_without_events_work_lands_on_its_place(city):
    from tests.conftest import signed_in

    r = signed_in(Client(), "commander").get("/", follow=True)
    assert r.redirect_chain[-1][0].startswith("/regions/")


def test_lockout_after_five_failures_with_one_message(worker):
    c = Client()
    messages = set()
    for _ in range(5):
        r = _login(c, "grid", "wrong-password-1")
        assert r.status_code == 200
        messages.add(r.content.decode().split('role="alert">')[1].split("<")[0])
    # the right password no longer works while locked
    r = _login(c, "grid", PASSWORD)
    assert r.status_code == 200 and "_auth_user_id" not in c.session
    # an account that does not exist gets exactly the same message
    r = _login(c, "nobody-here", "whatever-it-is", ip="10.0.0.2")
    messages.add(r.content.decode().split('role="alert">')[1].split("<")[0])
    assert len(messages) == 1


def test_lockout_is_released_after_the_window(worker):
    c = Client()
    for _ in range(5):
        _login(c, "grid", "wrong-password-1")
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=31))
    assert _login(c, "grid", PASSWORD).status_code == 302


def test_lockout_counts_per_address_too(worker):
    c = Client()
    for i in range(5):
        _login(c, f"someone{i}", "wrong-password-1", ip="10.9.9.9")
    assert _login(c, "grid", PASSWORD, ip="10.9.9.9").status_code == 200
    assert _login(c, "grid", PASSWORD, ip="10.9.9.10").status_code == 302


def test_security_administrator_unlocks(worker, client_as):
    c = Client()
    for _ in range(5):
        _login(c, "grid", "wrong-password-1")
    sec = client_as("secadmin")
    page = sec.get("/accounts/security/")
    assert page.status_code == 200 and "grid" in page.content.decode()
    assert sec.post("/accounts/security/", {"username": "grid"}).status_code == 302
    assert _login(c, "grid", PASSWORD).status_code == 302
    # nobody else may
    assert client_as("sysadmin").get("/accounts/security/").status_code == 404


def test_successful_login_resets_the_count(worker):
    c = Client()
    for _ in range(4):
        _login(c, "grid", "wrong-password-1")
    assert _login(c, "grid", PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username="grid").exists()


@override_settings(WANGGE_LOGIN_RATE_PER_MINUTE=3)
def test_login_is_rate_limited_per_address(worker, monkeypatch):
    import wangge.core.ratelimit as rl

    monkeypatch.setattr(rl, "_now", lambda: 1_800_000_000.0)  # one fixed window
    c = Client()
    for _ in range(3):
        _login(c, "x", "y", ip="10.7.7.7")
    r = _login(c, "grid", PASSWORD, ip="10.7.7.7")
    assert "Too many sign-in attempts" in r.content.decode()


def _code(user, offset=0):
    device = TotpDevice.objects.get(user=user)
    return pyotp.TOTP(device.secret).at(timezone.now().timestamp() + offset)


def test_administrators_need_the_second_factor(post_of):
    user = post_of("sysadmin").user
    user.set_password(PASSWORD)
    user.save()
    c = Client()
    assert _login(c, "sysadmin", PASSWORD).status_code == 302
    r = c.get("/regions/5101/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/")
    assert c.get("/api/regions/5101").status_code == 401
    r = c.post("/accounts/2fa/", {"code": "000000"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "not right" in r.content.decode()
    code = _code(user)
    assert c.post("/accounts/2fa/", {"code": code}).status_code == 302
    assert c.get("/api/regions/5101").status_code == 200
    # the same code is not accepted twice (replay)
    c2 = Client()
    _login(c2, "sysadmin", PASSWORD)
    assert c2.post("/accounts/2fa/", {"code": code}).status_code == 200


def test_first_sign_in_enrols_the_second_factor(post_of):
    user = post_of("secadmin").user
    TotpDevice.objects.filter(user=user).delete()
    user.set_password(PASSWORD)
    user.save()
    c = Client()
    _login(c, "secadmin", PASSWORD)
    page = c.get("/accounts/2fa/").content.decode()
    assert "<svg" in page
    device = TotpDevice.objects.get(user=user)
    assert not device.confirmed and device.secret in page
    assert c.post("/accounts/2fa/", {"code": _code(user)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed


def test_field_workers_need_no_second_factor(worker):
    c = Client()
    _login(c, "grid", PASSWORD)
    assert c.get("/regions/510104017001001/").status_code == 200


def test_idle_session_is_signed_out(client_as):
    c = client_as("grid")
    assert c.get("/regions/510104017001001/").status_code == 200
    s = c.session
    s[SESSION_SEEN] = int(timezone.now().timestamp()) - 31 * 60
    s.save()
    r = c.get("/regions/510104017001001/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert c.get("/regions/510104017001001/").status_code == 302


def test_absolute_session_lifetime(client_as):
    from wangge.accounts.middleware import SESSION_STARTED

    c = client_as("grid")
    assert c.get("/regions/510104017001001/").status_code == 200
    s = c.session
    s[SESSION_STARTED] = int(timezone.now().timestamp()) - 13 * 3600  # active all along
    s.save()
    r = c.get("/regions/510104017001001/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_post_switcher(post_of):
    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant

    user = post_of("street").user
    second = post_grant(
        actor=SYSTEM, user=user, role="community_secretary", place_code="510104017002"
    )
    c = signed_in(Client(), "street")
    assert c.get("/regions/", follow=True).redirect_chain[-1][0] == "/regions/510104017/"
    c.post("/accounts/post/", {"post": second.id})
    assert c.get("/regions/", follow=True).redirect_chain[-1][0] == "/regions/510104017002/"
    # someone else's post cannot be chosen
    other = post_of("grid")
    assert c.post("/accounts/post/", {"post": other.id}).status_code == 404


def test_login_page_in_both_languages():
    c = Client()
    assert "登录" in c.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Sign in" in c.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_password_policy(post_of):
    from wangge.accounts.services import user_create
    from wangge.core.errors import ValidationError

    admin = post_of("sysadmin")
    for bad in ("short1!", "password123", "newworker1", "1234567890"):
        with pytest.raises(ValidationError):
            user_create(actor=admin, username="newworker1", password=bad)
    assert user_create(actor=admin, username="newworker1", password=PASSWORD).check_password(
        PASSWORD
    )
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import identify_hasher

    assert (
        identify_hasher(get_user_model().objects.get(username="newworker1").password).algorithm
        == "argon2"
    )


@override_settings(WANGGE_TRUST_X_FORWARDED_FOR=True)
def test_behind_the_proxy_the_client_address_counts(worker):
    c = Client()
    for i in range(5):
        c.post(
            "/accounts/login/",
            {"username": f"u{i}", "password": "x"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.7",
        )
    # the attacker's address is locked …
    r = c.post(
        "/accounts/login/",
        {"username": "grid", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.7",
    )
    assert r.status_code == 200
    # … not everybody else behind the same proxy
    r = c.post(
        "/accounts/login/",
        {"username": "grid", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.8",
    )
    assert r.status_code == 302
    assert LoginFailure.objects.filter(ip="192.0.2.7").count() == 5


def test_change_own_password(worker):
    from wangge.core.models import AuditEntry

    c = Client()
    _login(c, "grid", PASSWORD)
    r = c.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "password1", "new_password2": "password1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r.status_code == 200 and "too common" in r.content.decode()
    new = "Blue-Lantern-77-river"
    r = c.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert r.status_code == 302
    worker.refresh_from_db()
    assert worker.check_password(new)
    assert c.get("/regions/510104017001001/").status_code == 200  # still signed in
    assert AuditEntry.objects.filter(action="auth.password_change", username="grid").exists()


def test_roles_command_prints_the_table(capsys):
    from django.core.management import call_command

    call_command("roles")
    out = capsys.readouterr().out
    assert "system_admin" in out and "audit.view" in out and "2FA" in out
