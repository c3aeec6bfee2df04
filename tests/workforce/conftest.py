"""Helpers of the workforce tests: workers made through the services, on the demo city."""

from __future__ import annotations

import itertools

import pytest

from wangge.accounts.scope import SYSTEM
from wangge.workforce import services
from wangge.workforce.enums import AssignmentRole
from wangge.workforce.models import Assignment

COMMUNITY = "510104017001"  # 水井坊社区, the demo community
GRID = COMMUNITY + "001"
MICRO = GRID + "001"
OTHER_COMMUNITY = "510104018001"  # another street's community

_phones = itertools.count(1)


def phone() -> str:
    """A fresh mobile number no demo worker has (the demo's prefixes do not include 166)."""
    return f"166{next(_phones):08d}"


def register(kind: str, place: str, *, actor=SYSTEM, name: str = "测试员", **extra):
    return services.worker_register(
        actor=actor, name=name, kind=kind, phone=phone(), place_code=place, **extra
    )


def primary_of(code: str) -> Assignment | None:
    return (
        Assignment.objects.select_related("worker", "post")
        .filter(place_code=code, role=AssignmentRole.PRIMARY, ended_at__isnull=True)
        .first()
    )


@pytest.fixture
def wf(city):
    """The demo city; the helpers above are used directly."""
    return None
