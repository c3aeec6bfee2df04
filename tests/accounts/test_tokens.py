import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import signed_in
from wangge.accounts.models import ApiToken
from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_end, token_create, token_revoke
from wangge.core.errors import PermissionDenied, ValidationError

pytestmark = pytest.mark.django_db


def _get(raw, path="/api/regions/510104017001001"):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_a_token_acts_through_its_post(post_of):
    token, raw = token_create(actor=post_of("grid"), name="phone")
    assert raw.startswith("wg_") and raw not in token.key_hash and len(token.key_hash) == 64
    assert _get(raw).status_code == 200
    assert _get(raw, "/api/regions/510104017001002").status_code == 404  # out of its scope
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_expired_revoked_and_ended_tokens_are_refused(post_of):
    post = post_of("grid")
    t1, raw1 = token_create(actor=post, name="a")
    ApiToken.objects.filter(pk=t1.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _get(raw1).status_code == 401
    t2, raw2 = token_create(actor=post, name="b")
    token_revoke(actor=post, token=t2)
    assert _get(raw2).status_code == 401
    t3, raw3 = token_create(actor=post, name="c")
    assert _get(raw3).status_code == 200
    post_end(actor=SYSTEM, post=post)
    assert _get(raw3).status_code == 401
    assert _get("wg_not-a-token").status_code == 401


def test_administrators_get_no_tokens(post_of):
    for who in ("sysadmin", "secadmin", "auditadmin"):
        with pytest.raises(PermissionDenied):
            token_create(actor=post_of(who), name="x")
    with pytest.raises(PermissionDenied):
        token_create(actor=post_of("volunteer"), name="x")


def test_token_validation(post_of):
    with pytest.raises(ValidationError):
        token_create(actor=post_of("grid"), name=" ")
    with pytest.raises(ValidationError):
        token_create(actor=post_of("grid"), name="x", days=400)


def test_token_api_shows_the_token_once_and_revokes(post_of):
    c = signed_in(Client(), "grid")
    r = c.post(
        "/api/tokens", json.dumps({"name": "巡查手机", "days": 30}), content_type="application/json"
    )
    assert r.status_code == 201
    raw = r.json()["token"]
    listed = c.get("/api/tokens").json()
    assert listed[0]["name"] == "巡查手机" and "token" not in listed[0]
    assert raw not in json.dumps(listed)
    # a token cannot mint tokens
    r = Client().post(
        "/api/tokens",
        json.dumps({"name": "x"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert r.status_code == 401
    assert c.delete(f"/api/tokens/{listed[0]['id']}").status_code == 204
    assert _get(raw).status_code == 401
    # someone else's token is not found
    other = signed_in(Client(), "micro")
    t, _ = token_create(actor=post_of("grid"), name="y")
    assert other.delete(f"/api/tokens/{t.id}").status_code == 404


def test_token_page(post_of):
    c = signed_in(Client(), "grid")
    r = c.post("/accounts/tokens/", {"name": "tablet", "days": 7})
    page = r.content.decode()
    assert "wg_" in page and "tablet" in page
    t = ApiToken.objects.get(name="tablet")
    assert c.post(f"/accounts/tokens/{t.id}/revoke/").status_code == 302
    t.refresh_from_db()
    assert t.revoked_at is not None


def test_the_session_api_needs_csrf(post_of):
    c = signed_in(Client(enforce_csrf_checks=True), "grid")
    r = c.post("/api/tokens", json.dumps({"name": "x"}), content_type="application/json")
    assert r.status_code in (401, 403)
