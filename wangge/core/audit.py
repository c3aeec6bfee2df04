"""The audit trail's API: ``record()`` appends a row, ``verify()`` checks the whole chain.

Each row stores ``prev_hash`` (the hash of the row before it; 64 zeros for the first) and
``hash`` = SHA-256 of the canonical JSON (keys sorted, UTF-8, compact separators) of::

    {"prev_hash", "at", "user_id", "username", "post_id", "role", "action", "object_type",
     "object_id", "details", "ip", "user_agent", "outcome"}

where ``at`` is the ISO 8601 time in UTC with microseconds, ``ip`` is the dotted quad (IPv4) or
eight groups of four hex digits (IPv6), and ``details`` is JSON whose integral numbers are
written as integers. The row id is not part of it, so a chain is checked in id order.

The log is ``WANGGE_AUDIT_CHAINS`` parallel chains (``chain`` on each row; 16 by default): an
append picks one at random and locks its ``AuditHead`` row, which records that chain's last
hash and number of rows, so a removal from the end of any chain is noticed as well. One chain
would make every audited request in the city queue behind one row lock; several keep each
chain's guarantees (nothing changed, removed, inserted or reordered unnoticed) while appends
run side by side.

``core`` does not import ``accounts``: the actor is duck-typed (a post has ``user``, ``role`` and
``id``; a user has ``username``; ``None`` or a post without a user is the system).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.core.http import client_ip
from wangge.core.masking import mask_details
from wangge.core.models import GENESIS_HASH, AuditEntry, AuditHead, Outcome

__all__ = [
    "GENESIS_HASH",
    "Outcome",
    "VerifyResult",
    "entry_hash",
    "record",
    "record_many",
    "retention_days",
    "verify",
]

# The fields of a row that its hash covers, besides ``prev_hash``.
CONTENT_FIELDS = (
    "at",
    "user_id",
    "username",
    "post_id",
    "role",
    "action",
    "object_type",
    "object_id",
    "details",
    "ip",
    "user_agent",
    "outcome",
)


def chains() -> int:
    """How many parallel chains appends spread over (``WANGGE_AUDIT_CHAINS``, 1–256)."""
    return max(1, min(256, int(getattr(settings, "WANGGE_AUDIT_CHAINS", 16))))


def _lock_head() -> AuditHead:
    """The head of a chain picked at random, locked for the rest of the transaction."""
    chain = random.randint(1, chains())  # noqa: S311 (load spreading, not secrecy)
    head = AuditHead.objects.select_for_update().filter(pk=chain).first()
    if head is None:
        head, _created = AuditHead.objects.select_for_update().get_or_create(pk=chain)
    return head


def retention_days() -> int:
    """How long audit rows are kept (``WANGGE_AUDIT_RETENTION_DAYS``, default 365)."""
    return int(getattr(settings, "WANGGE_AUDIT_RETENTION_DAYS", 365))


# --- canonical form and hash ----------------------------------------------------------------
def _text(value: Any, limit: int) -> str:
    """A string the database keeps exactly: no NUL characters (PostgreSQL refuses them)."""
    return ("" if value is None else str(value)).replace("\x00", "")[:limit]


def _json_normal(value: Any) -> Any:
    """Integral floats as ints and no NUL characters, so the value reads back from either
    database (jsonb prints ``1e20`` as an integer) exactly as it was hashed."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k.replace("\x00", ""): _json_normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_normal(v) for v in value]
    return value


def _json_ready(details: dict) -> dict:
    """Plain JSON (dates, decimals, UUIDs and lazy strings become text; keys become strings)."""
    return _json_normal(json.loads(json.dumps(details, cls=DjangoJSONEncoder)))


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value is None or value == "":
        return None
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.ip_address(str(value).strip().split("%", 1)[0])
    except ValueError:
        return None


def _ip_canonical(value: Any) -> str | None:
    """One spelling per address, whatever the database or the Python version prints."""
    addr = _ip(value)
    if addr is None:
        return None
    if addr.version == 4:
        return str(addr)
    packed = addr.packed
    return ":".join(packed[i : i + 2].hex() for i in range(0, 16, 2))


def _at_canonical(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _hash(prev_hash: str, content: dict[str, Any]) -> str:
    doc = {
        "prev_hash": prev_hash,
        "at": _at_canonical(content["at"]),
        "user_id": content["user_id"],
        "username": content["username"],
        "post_id": content["post_id"],
        "role": content["role"],
        "action": content["action"],
        "object_type": content["object_type"],
        "object_id": content["object_id"],
        "details": _json_normal(content["details"]),
        "ip": _ip_canonical(content["ip"]),
        "user_agent": content["user_agent"],
        "outcome": str(content["outcome"]),
    }
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """The hash a stored row should have, recomputed from its content and ``prev_hash``."""
    return _hash(entry.prev_hash, {f: getattr(entry, f) for f in CONTENT_FIELDS})


# --- record ---------------------------------------------------------------------------------
def _ident(o: Any) -> int | None:
    value = getattr(o, "pk", None) if hasattr(o, "pk") else getattr(o, "id", None)
    return int(value) if value is not None else None


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {"user_id": None, "username": "", "post_id": None, "role": ""}
    if hasattr(actor, "user") and hasattr(actor, "role"):  # a post (or the system)
        user = actor.user
        return {
            "user_id": _ident(user) if user is not None else None,
            "username": getattr(user, "username", "") if user is not None else "",
            "post_id": _ident(actor),
            "role": actor.role,
        }
    if hasattr(actor, "username"):  # a user
        return {"user_id": _ident(actor), "username": actor.username, "post_id": None, "role": ""}
    raise TypeError(f"audit.record(): cannot tell who acted from {actor!r}")


def _request_fields(request: Any) -> dict[str, Any]:
    if request is None:
        return {"ip": None, "user_agent": ""}
    meta = getattr(request, "META", {}) or {}
    return {"ip": client_ip(request), "user_agent": meta.get("HTTP_USER_AGENT")}


def _common_fields(actor, request, action, object_type, outcome) -> dict[str, Any]:
    """The fields of a row besides the object id, its details and the time."""
    who = _actor_fields(actor)
    where = _request_fields(request)
    return {
        "user_id": who["user_id"],
        "username": _text(who["username"], 150),
        "post_id": who["post_id"],
        "role": _text(who["role"], 40),
        "action": _text(action, 80),
        "object_type": _text(object_type, 80),
        "ip": where["ip"],
        "user_agent": _text(where["user_agent"], 300),
        "outcome": str(Outcome(outcome)),
    }


def record(
    *,
    actor: Any = None,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    details: dict | None = None,
    request: Any = None,
    outcome: str = Outcome.OK,
) -> AuditEntry:
    """Append one row to the audit trail and return it.

    ``actor`` is the acting post, a user, or ``None`` for the system. ``obj`` (a model
    instance) fills ``object_type``/``object_id`` unless they are given. ``details`` is a small
    JSON summary; it is masked again here (defence in depth). ``request`` gives the client's
    address (``REMOTE_ADDR``; ``X-Forwarded-For`` only when ``WANGGE_TRUST_X_FORWARDED_FOR``)
    and user agent. Runs inside the caller's transaction when there is one, so the row is
    kept exactly when the audited change is.
    """
    if not action:
        raise ValueError("audit.record(): action is required")
    if outcome not in Outcome.values:
        raise ValueError(f"audit.record(): outcome must be one of {Outcome.values}")
    if details is not None and not isinstance(details, dict):
        raise TypeError("audit.record(): details must be a dict")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        if not object_id and obj.pk is not None:
            object_id = str(obj.pk)
    content = _common_fields(actor, request, action, object_type, outcome)
    content["object_id"] = _text(object_id, 64)
    content["details"] = _json_ready(mask_details(details))
    # Inside the caller's transaction no savepoint is needed: a failure here fails it whole.
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        # The time is taken under the lock, so it never decreases along the chain.
        content["at"] = timezone.now()
        digest = _hash(head.last_hash, content)
        entry = AuditEntry(prev_hash=head.last_hash, hash=digest, chain=head.pk, **content)
        entry.save(force_insert=True)
        head.last_hash = digest
        head.count += 1
        head.save(update_fields=["last_hash", "count"])
    return entry


def record_many(
    *,
    actor: Any = None,
    action: str,
    object_type: str,
    objects: list[tuple[Any, dict]],
    request: Any = None,
) -> int:
    """Append one row per ``(object id, details)``, as ``record`` appends one: the same fields,
    masking and hash, under the head's lock with the time taken under it, each row chained to
    the one before, the head moved once; written by one bulk insert. Returns the rows written."""
    from wangge.core.bulk import insert_rows

    if not objects:
        return 0
    base = _common_fields(actor, request, action, object_type, Outcome.OK)
    plain = _plain_keys(objects[0][1])
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        at = timezone.now()
        prev = head.last_hash
        rows = []
        for pk, details in objects:
            if not (plain and details.keys() == plain and _all_text(details)):
                details = _json_ready(mask_details(details))
            content = {**base, "object_id": _text(pk, 64), "details": details, "at": at}
            digest = _hash(prev, content)
            rows.append({**content, "prev_hash": prev, "hash": digest, "chain": head.pk})
            prev = digest
        insert_rows(AuditEntry, rows)
        head.last_hash = prev
        head.count += len(rows)
        head.save(update_fields=["last_hash", "count"])
    return len(rows)


def _plain_keys(sample: dict) -> set | None:
    """The keys of ``sample`` if ``record`` would store details with these keys and text values
    unchanged (no key it masks, nothing to convert), so that masking need not run for every
    row of a bulk append; else None."""
    if _all_text(sample) and _json_ready(mask_details(sample)) == sample:
        return set(sample)
    return None


def _all_text(details: dict) -> bool:
    return all(type(v) is str and "\x00" not in v for v in details.values())


# --- verify ---------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str


def verify(*, batch: int = 5000) -> VerifyResult:
    """Check every chain (see ``_verify_chain``); the first break found, or all rows checked."""
    numbers = set(AuditHead.objects.values_list("pk", flat=True))
    numbers |= set(AuditEntry.objects.values_list("chain", flat=True).distinct())
    checked = 0
    for chain in sorted(numbers):
        result = _verify_chain(chain, batch=batch)
        checked += result.checked
        if not result.ok:
            reason = _("%(reason)s (chain %(chain)d)") % {"chain": chain, "reason": result.reason}
            return VerifyResult(
                ok=False, checked=checked, first_bad_id=result.first_bad_id, reason=reason
            )
    return VerifyResult(ok=True, checked=checked, first_bad_id=None, reason="")


def _verify_chain(chain: int, *, batch: int) -> VerifyResult:
    """Recompute one chain in id order, ``batch`` rows at a time (constant memory).

    Finds a row whose content changed (its hash no longer matches), a row deleted from the
    middle or rows reordered (a row's ``prev_hash`` is not the previous row's hash), and rows
    removed from the end (the head records more rows, or another last hash). ``first_bad_id``
    is the first row where the chain breaks: the changed row, the row after a gap, or the last
    remaining row when the end was cut off.
    """
    # The head is read first: rows appended while the walk runs come after its position.
    head = AuditHead.objects.filter(pk=chain).first()
    expected = head.count if head is not None else 0
    prev = GENESIS_HASH
    checked = 0
    last_id: int | None = None

    def broken(row_id: int | None, reason: str) -> VerifyResult:
        return VerifyResult(ok=False, checked=checked, first_bad_id=row_id, reason=reason)

    while True:
        rows = AuditEntry.objects.filter(chain=chain).order_by("id")
        if last_id is not None:
            rows = rows.filter(id__gt=last_id)
        page = list(rows[:batch])
        if not page:
            break
        for row in page:
            if entry_hash(row) != row.hash:
                return broken(
                    row.id,
                    _("its content was changed after it was written (the hash does not match)"),
                )
            if row.prev_hash != prev:
                if checked == 0:
                    reason = _(
                        "it does not start the chain (rows were removed from the start "
                        "or reordered)"
                    )
                else:
                    reason = _(
                        "it does not follow the row before it (a row was deleted or rows "
                        "were reordered)"
                    )
                return broken(row.id, reason)
            prev = row.hash
            checked += 1
            last_id = row.id
            if head is not None and checked == expected and row.hash != head.last_hash:
                return broken(
                    row.id,
                    _("it does not match the head of the log (the last row was replaced)"),
                )
        if len(page) < batch:
            break

    if head is None:
        if checked:
            return broken(None, _("the head of the log is missing"))
        return VerifyResult(ok=True, checked=0, first_bad_id=None, reason="")
    if checked < expected:
        return broken(
            last_id,
            _(
                "rows were removed from the end of the log: the head records %(expected)d rows, "
                "the log has %(found)d"
            )
            % {"expected": expected, "found": checked},
        )
    if checked > expected:
        # Appends during the walk are fine; rows the head never counted are not.
        now = AuditHead.objects.filter(pk=chain).values_list("count", flat=True).first() or 0
        if checked > now:
            return broken(
                last_id,
                _(
                    "the log has %(found)d rows but the head records only %(expected)d (rows "
                    "were added without audit.record())"
                )
                % {"expected": now, "found": checked},
            )
    return VerifyResult(ok=True, checked=checked, first_bad_id=None, reason="")
