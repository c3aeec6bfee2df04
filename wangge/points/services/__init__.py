"""Writes of the points system: the rule table, awards, expiry, the reward catalogue,
redemption and the recompute from the facts.

``points_award`` is what other apps call where a fact happens, inside their own transaction
(through ``hooks.py``); the ledger row it writes is the record, no audit row is added per award.
Everything else is a use case of a post: keyword-only, the actor first, one transaction, an
audit row inside it.

Locks, always in this order: the balance row of a user, then a reward row, then (through
``audit.record``) the audit chain's head. Callers of ``points_award`` should award before they
write their own audit row, so that the audit head stays the last lock any transaction takes.
"""

from __future__ import annotations

from wangge.points.services.awards import points_award, points_expire
from wangge.points.services.recompute import RecomputeReport, points_recompute
from wangge.points.services.rewards import reward_create, reward_redeem, reward_update
from wangge.points.services.rules import (
    RULES_FILE,
    points_rules_install,
    rule_create,
    rule_update,
)

__all__ = [
    "RULES_FILE",
    "RecomputeReport",
    "points_award",
    "points_expire",
    "points_recompute",
    "points_rules_install",
    "reward_create",
    "reward_redeem",
    "reward_update",
    "rule_create",
    "rule_update",
]
