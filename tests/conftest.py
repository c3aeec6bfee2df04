"""Shared fixtures: the default demo city (锦江区 down to micro-grids, and an account for each
role) built once per session through the real demo generator, so every test reads the same
realistic tree and acts through real posts."""

from __future__ import annotations

import pytest

from wangge.demo.registry import DemoContext

SEED = 20260101
DEMO_RESIDENTS = 6_000  # the demo's default is 300,000; tests need a small, quick city


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory):
    """A data directory of the test session's own (keys.json, uploads), never ./wangge-data."""
    from django.conf import settings

    from wangge.people.crypto import reset_keyring

    settings.DATA_DIR = tmp_path_factory.mktemp("wangge-data")
    reset_keyring()
    yield settings.DATA_DIR
    reset_keyring()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, data_dir):
    from wangge.demo.services import demo_build
    from wangge.regions import locator

    with django_db_blocker.unblock():
        demo_build(
            scale="district",
            seed=SEED,
            ctx=DemoContext(seed=SEED, verbose=False, residents=DEMO_RESIDENTS),
        )
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


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate-limit counters live in the cache, categories in a per-process cache: start each
    test from nothing (a test's categories are rows of its own)."""
    from django.core.cache import cache

    from wangge.events.services import categories_forget

    cache.clear()
    categories_forget()
    yield


def demo_post(username: str):
    from wangge.accounts.models import Post

    return (
        Post.objects.select_related("user", "unit")
        .filter(user__username=username, is_active=True)
        .order_by("id")
        .first()
    )


@pytest.fixture
def post_of(city):
    return demo_post


def signed_in(client, username: str):
    """A test client signed in as a demo user, acting through their post, second factor done."""
    from wangge.accounts.middleware import SESSION_2FA, SESSION_POST

    post = demo_post(username)
    client.force_login(post.user)
    session = client.session
    session[SESSION_POST] = post.id
    session[SESSION_2FA] = True
    session.save()
    return client


@pytest.fixture
def client_as(city, client):
    def make(username: str):
        from django.test import Client

        return signed_in(Client(), username)

    return make


@pytest.fixture
def commander(city, client):
    """A client signed in as the city commander (sees the whole city)."""
    return signed_in(client, "commander")
