import datetime as dt
import decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from wangge.core import audit
from wangge.core.models import GENESIS_HASH, AppendOnlyError, AuditEntry, AuditHead

pytestmark = pytest.mark.django_db

TABLE = AuditEntry._meta.db_table


def _post(*, user_id=7, username="li.wei", post_id=42, role="grid_worker"):
    """Anything with ``user``, ``role`` and ``id`` acts as a post."""
    return SimpleNamespace(
        id=post_id, role=role, user=SimpleNamespace(id=user_id, username=username)
    )


def _record_many(n: int, **kwargs) -> list[AuditEntry]:
    return [
        audit.record(
            actor=_post(),
            action=f"test.step{i}",
            object_type="tests.thing",
            object_id=str(i),
            details={"step": i, "note": f"第{i}步"},
            **kwargs,
        )
        for i in range(n)
    ]


def _sql(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _drop_triggers() -> None:
    """Tampering as someone with the database owner's rights would (rolled back with the test:
    DDL is transactional on both databases)."""
    if connection.vendor == "postgresql":
        _sql(f"DROP TRIGGER core_auditentry_append_only ON {TABLE}")
    else:
        _sql("DROP TRIGGER core_auditentry_no_update")
        _sql("DROP TRIGGER core_auditentry_no_delete")


@pytest.fixture(autouse=True)
def one_chain(settings):
    """These tests follow one chain row by row (parallel chains: test_audit_chains.py)."""
    settings.WANGGE_AUDIT_CHAINS = 1


def _head() -> AuditHead:
    return AuditHead.objects.get(pk=1)


# --- record ---------------------------------------------------------------------------------
def test_record_chains_rows_and_moves_the_head():
    before = AuditHead.objects.filter(pk=1).first()
    start_hash = before.last_hash if before else GENESIS_HASH
    start_count = before.count if before else 0
    rows = _record_many(4)
    assert rows[0].prev_hash == start_hash
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == prev.hash
        assert row.id > prev.id
        assert row.at >= prev.at
    assert len({r.hash for r in rows}) == 4
    head = _head()
    assert head.last_hash == rows[-1].hash
    assert head.count == start_count + 4
    for row in rows:
        stored = AuditEntry.objects.get(pk=row.pk)
        assert stored.hash == row.hash == audit.entry_hash(stored)
    result = audit.verify()
    total = AuditEntry.objects.count()  # rows of other chains too (written before this test)
    assert result == audit.VerifyResult(ok=True, checked=total, first_bad_id=None, reason="")


def test_verify_walks_in_batches():
    _record_many(7)
    result = audit.verify(batch=2)
    assert result.ok
    assert result.checked == AuditEntry.objects.count()
    assert _head().count == AuditEntry.objects.filter(chain=1).count()


def test_actor_post_like():
    e = audit.record(actor=_post(role="community_admin"), action="post.change")
    assert (e.user_id, e.username, e.post_id, e.role) == (7, "li.wei", 42, "community_admin")


def test_actor_user():
    user = get_user_model().objects.create_user("zhang.san", password=None)
    e = audit.record(actor=user, action="auth.login", obj=user)
    e = AuditEntry.objects.get(pk=e.pk)
    assert (e.user_id, e.username, e.post_id, e.role) == (user.pk, "zhang.san", None, "")
    assert (e.object_type, e.object_id) == ("auth.user", str(user.pk))


def test_actor_system_and_none():
    system = SimpleNamespace(role="system", id=None, user=None)
    e = audit.record(actor=system, action="places.import")
    assert (e.user_id, e.username, e.post_id, e.role) == (None, "", None, "system")
    e = audit.record(action="auth.login_failed", outcome="failed")
    assert (e.user_id, e.username, e.post_id, e.role, e.outcome) == (None, "", None, "", "failed")


def test_actor_of_unknown_kind_is_refused():
    with pytest.raises(TypeError):
        audit.record(actor=object(), action="x.y")


def test_explicit_object_fields_win_over_obj():
    user = get_user_model().objects.create_user("wang.wu", password=None)
    e = audit.record(
        action="people.unmask", obj=user, object_type="people.resident", object_id="99"
    )
    assert (e.object_type, e.object_id) == ("people.resident", "99")


def test_bad_outcome_or_missing_action_is_refused():
    with pytest.raises(ValueError):
        audit.record(action="x.y", outcome="maybe")
    with pytest.raises(ValueError):
        audit.record(action="")


def test_details_are_masked_and_made_plain_json():
    e = audit.record(
        action="people.unmask",
        details={
            "resident": {"name": "张小华", "id_number": "510104199001011234"},
            "phone": "13812345678",
            "when": dt.date(2026, 1, 2),
            "amount": decimal.Decimal("1.50"),
            "big": 1e20,
            "ratio": 0.1,
            3: "int key",
        },
    )
    stored = AuditEntry.objects.get(pk=e.pk)
    assert stored.details == {
        "resident": {"name": "张*华", "id_number": "510104********1234"},
        "phone": "138****5678",
        "when": "2026-01-02",
        "amount": "1.50",
        "big": 10**20,
        "ratio": 0.1,
        "3": "int key",
    }
    assert audit.verify().ok


def test_request_address_and_user_agent(settings):
    rf = RequestFactory()
    request = rf.get(
        "/",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 172.16.0.9",
        HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 400,
    )
    e = audit.record(action="auth.login", request=request)
    assert e.ip == "10.1.2.3"  # forwarded addresses are not trusted by default
    assert len(e.user_agent) == 300 and e.user_agent.startswith("Mozilla/5.0 x")
    settings.WANGGE_TRUST_X_FORWARDED_FOR = True
    e = audit.record(action="auth.login", request=request)
    assert e.ip == "172.16.0.9"  # the address our own proxy appended
    e = audit.record(action="auth.login", request=rf.get("/", REMOTE_ADDR="not an address"))
    assert e.ip is None
    assert audit.verify().ok


@pytest.mark.parametrize("ip", ["2001:db8::1", "::ffff:10.0.0.1", "fe80::1:2:3:4", "::1"])
def test_ipv6_addresses_verify_after_the_database_round_trip(ip):
    audit.record(action="auth.login", request=RequestFactory().get("/", REMOTE_ADDR=ip))
    assert audit.verify().ok


def test_record_joins_the_callers_transaction():
    _record_many(2)
    head_before = _head()
    rows_before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(action="post.change")
        raise RuntimeError("the audited change failed")
    assert AuditEntry.objects.count() == rows_before
    head = _head()
    assert (head.last_hash, head.count) == (head_before.last_hash, head_before.count)
    audit.record(action="post.change")
    assert audit.verify().ok


def test_retention_days(settings):
    settings.WANGGE_AUDIT_RETENTION_DAYS = 400
    assert audit.retention_days() == 400
    del settings.WANGGE_AUDIT_RETENTION_DAYS
    assert audit.retention_days() == 365


# --- append-only ------------------------------------------------------------------------------
def test_model_refuses_changes():
    e = audit.record(action="x.y")
    e.action = "x.z"
    with pytest.raises(AppendOnlyError):
        e.save()
    with pytest.raises(AppendOnlyError):
        e.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=e.pk).update(action="x.z")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=e.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_update([e], ["action"])
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_create([AuditEntry(action="x.y")])
    assert AuditEntry.objects.get(pk=e.pk).action == "x.y"


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET action = 'forged' WHERE id = %s",
        f"UPDATE {TABLE} SET details = '{{}}' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
)
def test_database_refuses_update_and_delete(sql):
    e = audit.record(action="x.y", details={"a": 1})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(sql, [e.pk])
    stored = AuditEntry.objects.get(pk=e.pk)
    assert (stored.action, stored.details) == ("x.y", {"a": 1})
    assert audit.verify().ok


def test_database_refuses_deleting_everything():
    _record_many(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(f"DELETE FROM {TABLE}")
    assert audit.verify().ok


# --- tampering ------------------------------------------------------------------------------
def test_changed_details_of_a_middle_row():
    rows = _record_many(5)
    _drop_triggers()
    _sql(
        f'UPDATE {TABLE} SET details = \'{{"step": 2, "note": "改过"}}\' WHERE id = %s',
        [rows[2].pk],
    )
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == rows[2].pk
    assert "content was changed" in result.reason


def test_changed_action_of_a_middle_row():
    rows = _record_many(5)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET action = 'test.innocent' WHERE id = %s", [rows[1].pk])
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, rows[1].pk)
    assert "content was changed" in result.reason


def test_changed_row_with_its_hash_recomputed_breaks_the_next_link():
    rows = _record_many(5)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET outcome = 'ok', action = 'test.innocent' WHERE id = %s", [rows[2].pk])
    forged = audit.entry_hash(AuditEntry.objects.get(pk=rows[2].pk))
    _sql(f"UPDATE {TABLE} SET hash = %s WHERE id = %s", [forged, rows[2].pk])
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, rows[3].pk)
    assert "does not follow the row before it" in result.reason


def test_deleted_middle_row():
    rows = _record_many(5)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[2].pk])
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, rows[3].pk)
    assert "a row was deleted or rows were reordered" in result.reason


def test_reordered_rows():
    rows = _record_many(5)
    a, b = rows[1].pk, rows[3].pk
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [-1, a])
    _sql(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [a, b])
    _sql(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [b, -1])
    assert AuditEntry.objects.get(pk=a).action == "test.step3"
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, a)
    assert "a row was deleted or rows were reordered" in result.reason


def test_swapped_contents_of_two_rows():
    rows = _record_many(5)
    a, b = rows[1], rows[3]
    _drop_triggers()
    for row, other in ((a, b), (b, a)):
        _sql(
            f"UPDATE {TABLE} SET action = %s, object_id = %s WHERE id = %s",
            [other.action, other.object_id, row.pk],
        )
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, a.pk)


def test_deleted_last_row():
    rows = _record_many(5)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[-1].pk])
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, rows[-2].pk)
    assert "removed from the end" in result.reason


def test_replaced_last_row():
    rows = _record_many(3)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET action = 'test.innocent' WHERE id = %s", [rows[-1].pk])
    forged = audit.entry_hash(AuditEntry.objects.get(pk=rows[-1].pk))
    _sql(f"UPDATE {TABLE} SET hash = %s WHERE id = %s", [forged, rows[-1].pk])
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, rows[-1].pk)
    assert "does not match the head" in result.reason


def test_rows_appended_after_tampering_do_not_hide_it():
    rows = _record_many(3)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[-1].pk])
    later = audit.record(action="test.later")
    result = audit.verify()
    assert (result.ok, result.first_bad_id) == (False, later.pk)


# --- the command ----------------------------------------------------------------------------
def test_command_verify_intact():
    _record_many(3)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert f"intact: {AuditEntry.objects.count()} rows checked" in out.getvalue()


def test_command_verify_tampered():
    rows = _record_many(4)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET username = 'someone.else' WHERE id = %s", [rows[1].pk])
    with pytest.raises(CommandError, match=rf"broken at row {rows[1].pk}: its content was"):
        call_command("audit", "verify", "--batch", "2")


def test_command_list():
    _record_many(3)
    out = StringIO()
    call_command("audit", "list", "--limit", "2", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert [ln.split("\t")[3] for ln in lines] == ["test.step2", "test.step1"]
    assert "li.wei (grid_worker)" in lines[0]
    assert "第2步" in lines[0]
