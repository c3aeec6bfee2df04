"""For every demo role: the workforce pages, the API, their error answers, the import's errors,
the audit rows and every log line written meanwhile (all loggers at DEBUG, SQL with its
parameters) hold no full phone number of a worker — and a worker the role sees is really shown,
masked."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import demo_post, signed_in
from tests.people.test_leaks import PHONE_RE, _text, all_logs  # noqa: F401 (a fixture)
from tests.workforce.conftest import MICRO, phone, primary_of
from wangge.accounts.demo import DEMO_ACCOUNTS
from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core.masking import mask_phone
from wangge.core.models import AuditEntry
from wangge.people.crypto import Field, get_keyring
from wangge.workforce.models import Assignment, Worker

pytestmark = pytest.mark.django_db

ROLES = [username for username, *_rest in DEMO_ACCOUNTS]  # every demo role


def _full(w: Worker) -> str:
    return get_keyring().decrypt(w.phone_enc, field=Field.PHONE)


def _target(post) -> Worker:
    """A worker the post sees, if it sees any (the primary worker of a place in its scope)."""
    scope = scope_for(post)
    if has_perm(post, Perm.WORKFORCE_VIEW) and scope.prefixes:
        a = (
            Assignment.objects.filter(scope.q("place_code"), ended_at__isnull=True, role="primary")
            .order_by("place_code")
            .first()
        )
        if a is not None:
            return a.worker
    return primary_of(MICRO).worker


def _roster(*rows) -> SimpleUploadedFile:
    buf = io.StringIO()
    buf.write("name,kind,phone,place_code\n")
    for r in rows:
        buf.write(",".join(r) + "\n")
    return SimpleUploadedFile("roster.csv", buf.getvalue().encode(), content_type="text/csv")


@pytest.mark.parametrize("username", ROLES)
def test_no_full_worker_phone_anywhere_for_any_role(city, username, all_logs):  # noqa: F811
    c = signed_in(Client(), username)
    post = demo_post(username)
    target = _target(post)
    number = _full(target)
    assert PHONE_RE.fullmatch(number)
    other = Worker.objects.exclude(pk=target.pk).filter(place_code=target.place_code).first()
    other_number = _full(other)
    sees = has_perm(post, Perm.WORKFORCE_VIEW) and (
        scope_for(post).covers(target.place_code)
        or any(
            scope_for(post).covers(p)
            for p in target.assignments.filter(ended_at__isnull=True).values_list(
                "place_code", flat=True
            )
        )
    )
    place = target.assignments.filter(ended_at__isnull=True).first().place_code
    first_audit = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    j = "application/json"
    fresh = phone()
    responses = {
        "list page": c.get("/workforce/"),
        "name search page": c.get("/workforce/", {"q": target.name}),
        "phone search page": c.post("/workforce/", {"q": number}),
        "phone in the URL is ignored": c.get("/workforce/", {"q": number}),
        "detail page": c.get(f"/workforce/workers/{target.pk}/"),
        "team page": c.get(f"/workforce/places/{place}/"),
        "coverage page": c.get("/workforce/coverage/"),
        "phone page": c.get("/workforce/m/"),
        "API list": c.get("/api/workforce/workers"),
        "API phone search": c.get("/api/workforce/workers", {"q": number}),
        "API detail": c.get(f"/api/workforce/workers/{target.pk}"),
        "API team": c.get(f"/api/workforce/places/{place}/team"),
        "API candidates": c.get("/api/workforce/coverage/candidates", {"code": place[:12]}),
        # errors
        "bad kind": c.get("/api/workforce/workers", {"kind": number}),
        "register a taken phone": c.post(
            "/api/workforce/workers",
            json.dumps({"name": "甲", "kind": "micro", "phone": number, "place_code": place}),
            j,
        ),
        "register a bad phone": c.post(
            "/api/workforce/workers",
            json.dumps(
                {"name": "乙", "kind": "micro", "phone": number + "99", "place_code": place}
            ),
            j,
        ),
        "patch to another's phone": c.patch(
            f"/api/workforce/workers/{target.pk}", json.dumps({"phone": other_number}), j
        ),
        "register": c.post(
            "/api/workforce/workers",
            json.dumps({"name": "丙", "kind": "micro", "phone": fresh, "place_code": place[:12]}),
            j,
        ),
        "import page with a phone in the wrong column": c.post(
            "/workforce/import/",
            {
                "mode": "all",
                "file": _roster(
                    (number, "micro", number, place), ("丁", number, fresh + "0000", place)
                ),
            },
        ),
        "API import": c.post(
            "/api/workforce/import",
            {"mode": "all", "file": _roster((number, "micro", number, place))},
        ),
    }
    texts = {what: _text(resp) for what, resp in responses.items()}
    for what, text in texts.items():
        assert not PHONE_RE.findall(text), (username, what, PHONE_RE.findall(text))
    audit = AuditEntry.objects.filter(id__gt=first_audit or 0)
    for row in audit:
        assert not PHONE_RE.findall(json.dumps(row.details, ensure_ascii=False)), row.action
    logs = "\n".join(
        [r.getMessage() for r in all_logs.records]
        + [r.exc_text or "" for r in all_logs.records]
        + [all_logs.text]
    )
    assert any("SELECT" in r.getMessage() for r in all_logs.records)  # SQL was logged
    assert not PHONE_RE.findall(logs), username
    if sees:  # the worker is really on these pages, masked
        for what in ("detail page", "API detail", "phone search page", "API phone search"):
            assert mask_phone(number) in texts[what], (username, what)
        assert target.name in texts["phone search page"]
        assert responses["register a taken phone"].status_code in (403, 422)
    else:
        assert responses["detail page"].status_code == 404
        assert responses["API detail"].status_code in (403, 404)
