"""The audit log as parallel hash chains: appends spread over them, each chain is checked on its
own, and tampering with any one of them is found."""

import threading

import pytest
from django.db import connection

from wangge.core import audit
from wangge.core.models import AuditEntry, AuditHead

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table


@pytest.fixture(autouse=True)
def four_chains(settings):
    settings.WANGGE_AUDIT_CHAINS = 4


def _record(n: int) -> list[AuditEntry]:
    return [audit.record(action=f"test.step{i}", object_id=str(i)) for i in range(n)]


def _sql(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS core_auditentry_no_update")
            cursor.execute("DROP TRIGGER IF EXISTS core_auditentry_no_delete")
        cursor.execute(sql, params)


def test_appends_spread_over_the_chains_and_each_links_its_own_rows():
    rows = _record(80)
    assert {r.chain for r in rows} == {1, 2, 3, 4}
    for head in AuditHead.objects.all():
        chain = list(AuditEntry.objects.filter(chain=head.pk).order_by("id"))
        assert chain and head.count >= len(chain)
        assert chain[-1].hash == head.last_hash
        for before, row in zip(chain, chain[1:], strict=False):
            assert row.prev_hash == before.hash and row.at >= before.at
    result = audit.verify()
    assert result.ok and result.checked == AuditEntry.objects.count()


def test_record_many_appends_to_one_chain():
    n = audit.record_many(
        action="test.bulk", object_type="tests.thing", objects=[(i, {"i": i}) for i in range(5)]
    )
    rows = list(AuditEntry.objects.filter(action="test.bulk").order_by("id"))
    assert n == 5 and len({r.chain for r in rows}) == 1
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert audit.verify().ok


@pytest.mark.parametrize("where", ["middle", "end"])
def test_a_row_removed_from_any_chain_is_found(where):
    rows = _record(40)
    victim_chain = rows[-1].chain
    chain = [r for r in rows if r.chain == victim_chain]
    assert len(chain) >= 2
    victim = chain[len(chain) // 2] if where == "middle" and len(chain) > 2 else chain[-1]
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [victim.pk])
    result = audit.verify()
    assert not result.ok and f"(chain {victim_chain})" in result.reason


def test_a_row_moved_to_another_chain_breaks_both():
    rows = _record(40)
    a = rows[10]
    other = next(c for c in (1, 2, 3, 4) if c != a.chain)
    _sql(f"UPDATE {TABLE} SET chain = %s WHERE id = %s", [other, a.pk])
    assert not audit.verify().ok


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_concurrent_appends_keep_every_chain_whole():
    # the threads' own connections commit; the test's transaction sees their rows (read
    # committed). Not a transactional test: that would flush the session's demo city for every
    # test after it (the MQTT bridge's tests run outside a test transaction and need it).
    errors = []

    def work(k):
        try:
            for i in range(15):
                audit.record(action=f"test.thread{k}", object_id=str(i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = audit.verify()
    assert result.ok and AuditEntry.objects.filter(action__startswith="test.thread").count() == 90
