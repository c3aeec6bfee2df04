"""Verification pages and API, as the demo's people use them."""

import re
from datetime import date

import pytest

from wangge.core.models import AuditEntry
from wangge.people.idcard import make_id_number
from wangge.people.models import Resident
from wangge.verification.enums import RoundState, TaskState
from wangge.verification.models import FieldChange, Round, Task

pytestmark = pytest.mark.django_db

MICRO = "510104017001001001"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _demo_round():
    """The demo's current-cycle round of the micro-grid worker's micro-grid (all to visit)."""
    return Round.objects.filter(place_code=MICRO).order_by("-cycle").first()


def _form(client, url):
    page = client.get(url, **EN)
    assert page.status_code == 200
    html = page.content.decode()
    key = re.search(r'name="key" value="([0-9a-f]+)"', html).group(1)
    members = re.findall(r'name="m(\d+)-action" value="confirm"', html)
    return html, key, members


def test_the_micro_grid_worker_completes_a_round_from_the_phone_page(client_as):
    phone = client_as("micro")
    rnd = _demo_round()
    assert rnd is not None and rnd.state == RoundState.OPEN and rnd.tasks_total > 0
    assert not rnd.tasks.filter(state=TaskState.DONE).exists()
    overview = phone.get("/verify/", **EN)
    assert overview.status_code == 200 and f"/verify/rounds/{rnd.pk}/" in overview.content.decode()
    listing = phone.get(f"/verify/rounds/{rnd.pk}/", **EN).content.decode()
    first = re.search(r'href="/verify/tasks/(\d+)/"', listing).group(1)
    url = f"/verify/tasks/{first}/"
    visited = 0
    while url.startswith("/verify/tasks/"):
        html, key, members = _form(phone, url)
        data = {"key": key, "house_use": "self_occupied"}
        for m in members:
            data[f"m{m}-action"] = "confirm"
        if visited == 0 and members:  # the first household: one phone number was wrong
            data[f"m{members[0]}-action"] = "correct"
            data[f"m{members[0]}-phone"] = "13600001234"
        resp = phone.post(url, data, **EN)
        assert resp.status_code == 302, resp.content.decode()[:2000]
        url = resp["Location"]
        visited += 1
        assert visited <= rnd.tasks_total
    assert visited == rnd.tasks_total
    rnd.refresh_from_db()
    assert rnd.state == RoundState.CLOSED
    assert rnd.tasks.filter(state=TaskState.DONE).count() == rnd.tasks_total
    assert url == f"/verify/rounds/{rnd.pk}/"
    done = phone.get(url, **EN).content.decode()
    assert "Every household of this round is verified." in done or "Closed" in done
    # the coverage page of the community shows it
    cov = client_as("community").get(f"/verify/?code={MICRO[:12]}&cycle={rnd.cycle}", **EN)
    assert cov.status_code == 200
    changed = (
        client_as("community")
        .get(f"/verify/changes/?code={MICRO[:12]}&cycle={rnd.cycle}", **EN)
        .content.decode()
    )
    assert "136****1234" in changed and "13600001234" not in changed


def test_a_bad_correction_keeps_what_was_typed_and_saves_nothing(client_as):
    phone = client_as("micro")
    task = _demo_round().tasks.filter(state=TaskState.PENDING).first()
    url = f"/verify/tasks/{task.pk}/"
    _html, key, members = _form(phone, url)
    assert members
    data = {"key": key, "note": "门口贴了告示"}
    for m in members:
        data[f"m{m}-action"] = "confirm"
    data[f"m{members[0]}-action"] = "correct"
    good = make_id_number("510104", date(1948, 5, 6), 31, "female")
    data[f"m{members[0]}-id_number"] = good[:-1] + ("1" if good[-1] != "1" else "2")
    resp = phone.post(url, data, **EN)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "门口贴了告示" in html and 'value="correct" checked' in html
    assert f'value="{key}"' in html  # the same submission key: a retry stays one submission
    task.refresh_from_db()
    assert task.state == TaskState.PENDING and not FieldChange.objects.filter(task=task).exists()


def test_a_retried_submission_is_one_visit(client_as):
    phone = client_as("micro")
    task = _demo_round().tasks.filter(state=TaskState.PENDING).first()
    url = f"/verify/tasks/{task.pk}/"
    _html, key, members = _form(phone, url)
    data = {"key": key, **{f"m{m}-action": "confirm" for m in members}}
    assert phone.post(url, data, **EN).status_code == 302
    audits = AuditEntry.objects.count()
    again = phone.post(url, data, **EN)  # the phone lost the answer and sent it again
    assert again.status_code == 200 and "Household verified." in again.content.decode()
    assert AuditEntry.objects.count() == audits
    other = phone.post(url, {**data, "key": "another"}, **EN)
    assert "already verified" in other.content.decode()
    assert Task.objects.get(pk=task.pk).state == TaskState.DONE


def test_pages_are_scoped(client_as):
    task = _demo_round().tasks.first()
    assert client_as("cadre").get(f"/verify/tasks/{task.pk}/").status_code == 404
    assert client_as("cadre").get(f"/verify/rounds/{task.round_id}/").status_code == 404
    assert client_as("micro").get("/verify/?code=510104017001002").status_code == 404
    # a street dispatcher sees coverage and the household (masked) but gets no form
    street = client_as("street").get(f"/verify/tasks/{task.pk}/", **EN).content.decode()
    assert 'name="key"' not in street and "may look at this household" in street
    for username in ("volunteer", "auditadmin", "resident"):
        assert client_as(username).get("/verify/").status_code in (302, 403, 404)


def test_round_creation_page(client_as):
    secretary = client_as("community")
    resp = secretary.post(
        "/verify/rounds/new/", {"code": MICRO[:12], "cycle": "2031"}, **EN, follow=True
    )
    assert resp.status_code == 200 and "one for each grid" in resp.content.decode()
    n = Round.objects.filter(cycle="2031").count()
    assert n > 0 and all(len(r.place_code) == 15 for r in Round.objects.filter(cycle="2031"))
    secretary.post("/verify/rounds/new/", {"code": MICRO[:12], "cycle": "2031"})
    assert Round.objects.filter(cycle="2031").count() == n
    bad = secretary.post(
        "/verify/rounds/new/", {"code": MICRO[:12], "cycle": ""}, follow=True, **EN
    )
    assert "Name the cycle" in bad.content.decode()


def test_changes_csv_is_masked_and_audited(client_as):
    street = client_as("street")
    resp = street.get("/verify/changes/?code=510104017&format=csv")
    body = b"".join(resp.streaming_content).decode("utf-8-sig")
    assert resp.status_code == 200 and body.count("\n") > 1
    assert not _leaks(body)
    assert AuditEntry.objects.filter(action="export.verification_changes").exists()


def _leaks(text: str) -> list[str]:
    """Full mobile numbers and valid ID numbers in ``text`` (grid codes are 18 digits too, but
    never a valid ID number: their 'birth date' is impossible)."""
    from wangge.core.errors import ValidationError
    from wangge.people.idcard import validate_id_number

    found = re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)
    for m in re.findall(r"(?<!\d)\d{17}[\dXx](?!\d)", text):
        try:
            validate_id_number(m)
            found.append(m)
        except ValidationError:
            pass
    return found


# --- API ----------------------------------------------------------------------------------------
def test_api_round_tasks_verify_idempotent_and_conflict(client_as):
    api = client_as("micro")
    rnd = _demo_round()
    listed = api.get(f"/api/verification/rounds/{rnd.pk}/tasks?state=pending").json()
    assert listed["count"] == rnd.tasks_total
    task_id = listed["items"][0]["id"]
    detail = api.get(f"/api/verification/tasks/{task_id}").json()
    members = [{"resident_id": m["id"], "action": "confirm"} for m in detail["members"]]
    assert all("*" in m["id_number"] or not m["id_number"] for m in detail["members"])
    body = {"members": members, "note": "ok"}
    first = api.post(
        f"/api/verification/tasks/{task_id}/verify",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    assert first.status_code == 200 and first.json()["state"] == "done"
    again = api.post(
        f"/api/verification/tasks/{task_id}/verify",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    assert again.status_code == 200 and again.json() == first.json()
    conflict = api.post(
        f"/api/verification/tasks/{task_id}/verify", body, content_type="application/json"
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "already_verified"
    unanswered = api.post(
        f"/api/verification/tasks/{listed['items'][1]['id']}/verify",
        {"members": []},
        content_type="application/json",
    )
    if Resident.objects.filter(
        house_id=Task.objects.get(pk=listed["items"][1]["id"]).house_id, moved_out__isnull=True
    ).exists():
        assert unanswered.status_code == 422
        assert unanswered.json()["error"]["code"] == "members_unanswered"


def test_api_coverage_rounds_and_scope(client_as):
    secretary = client_as("community")
    made = secretary.post(
        "/api/verification/rounds",
        {"code": MICRO[:12], "cycle": "2032"},
        content_type="application/json",
    )
    assert made.status_code == 200 and len(made.json()) > 1
    cov = secretary.get(f"/api/verification/coverage?code={MICRO[:12]}&cycle=2032").json()
    assert cov["cycle"] == "2032" and cov["total"]["verified"] == 0
    assert cov["total"]["in_rounds"] == sum(r["tasks_total"] for r in made.json())
    assert sum(c["households"] for c in cov["children"]) == cov["total"]["households"]
    assert (
        client_as("micro").get("/api/verification/coverage?code=510104017001002").status_code == 404
    )
    rid = made.json()[0]["id"]
    assert client_as("micro").get(f"/api/verification/rounds/{rid}").status_code in (200, 404)
    closed = secretary.post(
        f"/api/verification/rounds/{rid}/close", {"note": ""}, content_type="application/json"
    )
    assert closed.status_code == 422
    closed = secretary.post(
        f"/api/verification/rounds/{rid}/close",
        {"note": "区里统一改期"},
        content_type="application/json",
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    changes = client_as("street").get("/api/verification/changes?code=510104017").json()
    assert changes["count"] >= 1
    for c in changes["items"]:
        assert not _leaks(c["old_value"] + " " + c["new_value"])
