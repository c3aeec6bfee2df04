import pytest
from django.core.management import call_command

from wangge.core.errors import ApplicationError
from wangge.demo.models import DemoRun
from wangge.demo.registry import DemoContext, all_steps
from wangge.demo.services import demo_build
from wangge.regions import synth
from wangge.regions.models import Grid, Region, Zone

pytestmark = pytest.mark.django_db


def test_the_session_demo_was_built(city):
    run = DemoRun.objects.get(step="places")
    assert run.scale == "district"
    assert Region.objects.filter(level="district").count() == 20
    assert Region.objects.filter(level="street").count() == len(synth.streets()) == 261
    assert Region.objects.filter(level="community").count() == len(synth.communities())
    assert run.summary["micro-grids"] == Grid.objects.filter(kind="micro").count()
    assert run.summary["districts down to micro-grids"] == 1
    assert set(Zone.objects.values_list("name", flat=True)) == {
        "四川天府新区成都直管区",
        "成都东部新区",
        "成都高新区",
    }
    # Zones are overlays of streets: every street of every zone exists at district scale
    for code, _name, streets in synth.zones():
        zone = Zone.objects.get(code=code)
        assert sorted(zone.streets.values_list("code", flat=True)) == sorted(streets)


def test_every_district_has_streets_communities_and_grids(city):
    for district in synth.districts():
        code = district.code
        assert Region.objects.filter(level="street", code__startswith=code).exists(), code
        assert Region.objects.filter(level="community", code__startswith=code).exists(), code
        assert Grid.objects.filter(kind="general", code__startswith=code).exists(), code


def test_the_other_districts_have_one_grid_a_community(city):
    skeleton = Grid.objects.exclude(code__startswith=synth.DEMO_DISTRICT)
    assert not skeleton.exclude(kind="general").exists()  # no micro-grids, no exclusive grids
    communities = Region.objects.filter(level="community").exclude(
        code__startswith=synth.DEMO_DISTRICT
    )
    assert skeleton.count() == communities.count() > 2_900
    for community in communities.order_by("code")[::97]:
        grid = Grid.objects.get(community=community)
        assert grid.code == f"{community.code}001"
        assert grid.name == f"{community.name}第1网格"
        assert grid.geometry == community.geometry and grid.parent_id is None


def test_the_demo_district_is_built_as_before(city):
    """锦江区 comes out as it did when it was the only district below district level (the
    random streams are per key): the figures measured then."""
    grids = Grid.objects.filter(code__startswith=synth.DEMO_DISTRICT)
    regions = Region.objects.filter(code__startswith=synth.DEMO_DISTRICT)
    assert regions.filter(level="street").count() == 11
    assert regions.filter(level="community").count() == 76
    assert grids.filter(kind="general").count() == 621
    assert grids.filter(kind="micro").count() == 5_339
    assert grids.filter(kind="exclusive").count() == 275


def test_a_second_run_duplicates_nothing(city):
    before = (Region.objects.count(), Grid.objects.count())
    results = demo_build(
        scale="district", seed=20260101, ctx=DemoContext(seed=20260101, verbose=False)
    )
    assert results == {}
    assert (Region.objects.count(), Grid.objects.count()) == before


def test_an_interrupted_step_resumes_without_duplicates(city):
    DemoRun.objects.filter(step="places").delete()  # as if the run died before recording it
    before = (Region.objects.count(), Grid.objects.count())
    demo_build(scale="district", seed=20260101, ctx=DemoContext(seed=20260101, verbose=False))
    assert (Region.objects.count(), Grid.objects.count()) == before


def test_mixing_scales_or_seeds_is_refused(city):
    with pytest.raises(ApplicationError, match="--reset"):
        demo_build(scale="district", seed=1, ctx=DemoContext(seed=1, verbose=False))
    with pytest.raises(ApplicationError):
        demo_build(scale="town", seed=20260101)


def test_steps_are_registered_in_order():
    names = [s.name for s in all_steps()]
    assert names[0] == "places"
    assert names[-1] == "rollups"  # the cockpit counts what every step before queued


def test_demo_command_without_serving(city, tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path
    call_command("demo", "--no-serve")
    out = capsys.readouterr().out
    assert "step places: already built, skipped" in out
    assert "step accounts: already built, skipped" in out


def test_every_demo_account_signs_in_and_sees_its_part(city, tmp_path):
    import stat

    from django.test import Client

    from wangge.accounts.demo import ACCOUNTS_FILE, accounts
    from wangge.core import audit

    ctx = DemoContext(seed=1, verbose=False, data_dir=tmp_path)
    assert accounts(ctx) == {"accounts": 13}
    path = tmp_path / ACCOUNTS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    assert len({r[1] for r in rows}) == 13  # a different random password each
    import pyotp

    for username, password, _role, place, totp in rows:
        c = Client()
        r = c.post("/accounts/login/", {"username": username, "password": password})
        assert r.status_code == 302, username
        if totp:
            secret = totp.split()[-1]
            r = c.post("/accounts/2fa/", {"code": pyotp.TOTP(secret).now()})
            assert r.status_code == 302, username
        r = c.get("/", follow=True)
        assert r.status_code == 200
        landing = r.redirect_chain[-1][0] if r.redirect_chain else "/"
        if username in ("grid", "micro"):
            assert landing == "/events/m/"  # grid workers start on their phone page
        elif username in ("community", "street", "district"):
            assert landing == "/events/queue/"  # dispatchers start on their queue
        elif place.isdigit():
            assert landing == f"/regions/{place}/"
        if place.isdigit():
            # the place next door is not found
            if len(place) > 4:
                assert c.get("/regions/510105/").status_code == 404
    assert audit.verify().ok
