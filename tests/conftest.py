"""Shared fixtures: the default demo city (锦江区 down to micro-grids) built once per session
through the real demo generator, so every test reads the same realistic tree."""

from __future__ import annotations

import pytest

from wangge.demo.registry import DemoContext

SEED = 20260101


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from wangge.demo.services import demo_build
    from wangge.regions import locator

    with django_db_blocker.unblock():
        demo_build(scale="district", seed=SEED, ctx=DemoContext(seed=SEED, verbose=False))
        locator.reset()
    yield


@pytest.fixture
def city(db):
    """The demo city, with the process's locator fresh."""
    from wangge.regions import locator

    locator.reset()
    yield
    locator.reset()


@pytest.fixture(autouse=True)
def english_messages():
    """Code-level messages in English for assertions; pages pick their language per request."""
    from django.utils import translation

    with translation.override("en"):
        yield
