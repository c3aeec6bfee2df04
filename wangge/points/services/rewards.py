"""The reward catalogue and redemption (积分兑换)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.core import audit
from wangge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from wangge.points import access
from wangge.points.access import PointsPerm
from wangge.points.enums import FactKind
from wangge.points.ledger import q
from wangge.points.models import Entry, Redemption, Reward
from wangge.points.services.awards import balance_locked, expire_user
from wangge.points.services.rules import amount_clean, as_text


# --- the reward catalogue -----------------------------------------------------------------------
def _stock(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    if not 0 <= n <= 1_000_000:
        raise ValidationError(
            _("Stock is a whole number from 0."),
            code="invalid_stock",
            details={"fields": {"stock": _("a whole number from 0")}},
        )
    return n


def reward_values(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = (data["name"] or "").strip()[:60]
        if not out["name"]:
            raise ValidationError(
                _("A name is required."), code="invalid_name", details={"fields": {"name": ""}}
            )
    for k, n in (("name_en", 100), ("description", 300)):
        if k in data:
            out[k] = (data[k] or "").strip()[:n]
    if "cost" in data:
        out["cost"] = amount_clean(data["cost"], "cost", positive=True)
    if "stock" in data:
        out["stock"] = _stock(data["stock"])
    if "is_active" in data:
        out["is_active"] = bool(data["is_active"])
    return out


_REWARD_FIELDS = ("name", "name_en", "description", "cost", "stock", "is_active")


@transaction.atomic
def reward_create(
    *,
    actor,
    name: str,
    cost,
    stock: int,
    name_en: str = "",
    description: str = "",
    is_active: bool = True,
) -> Reward:
    access.require(actor, PointsPerm.EDIT)
    values = reward_values(
        {
            "name": name,
            "name_en": name_en,
            "description": description,
            "cost": cost,
            "stock": stock,
            "is_active": is_active,
        }
    )
    reward = Reward.objects.create(**values)
    audit.record(
        actor=actor,
        action="points.reward_create",
        obj=reward,
        details={k: as_text(getattr(reward, k)) for k in _REWARD_FIELDS},
    )
    return reward


@transaction.atomic
def reward_update(*, actor, reward: Reward, **changes) -> Reward:
    """Change an item of the catalogue (restocking sets the stock)."""
    access.require(actor, PointsPerm.EDIT)
    unknown = set(changes) - set(_REWARD_FIELDS)
    if unknown:
        raise ValidationError(
            _("Unknown field %(field)s.") % {"field": sorted(unknown)[0]}, code="invalid_field"
        )
    values = reward_values(changes)
    reward = Reward.objects.select_for_update().get(pk=reward.pk)
    before = {k: as_text(getattr(reward, k)) for k in values}
    for k, v in values.items():
        setattr(reward, k, v)
    reward.save()
    changed = {
        k: [before[k], as_text(getattr(reward, k))]
        for k in values
        if before[k] != as_text(getattr(reward, k))
    }
    if changed:
        audit.record(
            actor=actor, action="points.reward_update", obj=reward, details={"changed": changed}
        )
    return reward


def reward_redeem(
    *, actor, reward: Reward, key: str = "", at: datetime | None = None, request=None
) -> tuple[Redemption, bool]:
    """Redeem one reward for its cost. Returns ``(redemption, created)``. The balance row and
    then the reward row are locked, so concurrent requests never take the balance below zero
    or the stock below zero; a retry with the same ``key`` returns the first redemption (a key
    already used for another reward is refused). Points that expired by now are written off
    first, so they are never spent."""
    access.require(actor, PointsPerm.OWN)
    if not access.is_worker_post(actor):
        raise PermissionDenied(_("Your post may not do this."))
    key = (key or "").strip()[:64]
    now = at or timezone.now()
    user_id = actor.user_id
    try:
        with transaction.atomic():
            bal = balance_locked(user_id)
            if key:
                found = Redemption.objects.filter(user_id=user_id, key=key).first()
                if found is not None:
                    return _same_reward(found, reward), False
            expire_user(bal, now)
            rw = Reward.objects.select_for_update().filter(pk=reward.pk).first()
            if rw is None:
                raise NotFound(_("No such reward."))
            if not rw.is_active:
                raise Conflict(_("This reward is no longer offered."), code="reward_inactive")
            if rw.stock <= 0:
                raise Conflict(_("This reward is out of stock."), code="out_of_stock")
            if bal.points < rw.cost:
                raise Conflict(
                    _("Not enough points: the reward costs %(cost)s, the balance is %(bal)s.")
                    % {"cost": rw.cost, "bal": bal.points},
                    code="not_enough_points",
                    details={"balance": str(bal.points), "cost": str(rw.cost)},
                )
            rw.stock -= 1
            rw.save(update_fields=["stock", "updated_at"])
            r = Redemption.objects.create(
                user_id=user_id, post=actor, reward=rw, cost=rw.cost, at=now, key=key
            )
            Entry.objects.create(
                user_id=user_id,
                fact_kind=FactKind.REDEMPTION,
                fact_id=r.pk,
                points=-rw.cost,
                base_points=-rw.cost,
                at=now,
                note=rw.name,
            )
            bal.points = q(bal.points - rw.cost)
            bal.save(update_fields=["points", "updated_at"])
            audit.record(
                actor=actor,
                action="points.redeem",
                obj=r,
                request=request,
                details={
                    "reward": rw.pk,
                    "name": rw.name,
                    "cost": str(rw.cost),
                    "balance": str(bal.points),
                    "stock": rw.stock,
                },
            )
            return r, True
    except IntegrityError:
        # the same key committed by a request we did not wait for (not reachable while the
        # balance row is locked first; kept as the last word of the unique constraint)
        found = Redemption.objects.filter(user_id=user_id, key=key).first() if key else None
        if found is None:
            raise
        return _same_reward(found, reward), False


def _same_reward(found: Redemption, reward: Reward) -> Redemption:
    if found.reward_id != reward.pk:
        raise ValidationError(
            _("This key was already used for another redemption."), code="key_reused"
        )
    return found
