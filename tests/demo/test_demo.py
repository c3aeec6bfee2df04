import pytest
from django.core.management import call_command

from wangge.core.errors import ApplicationError
from wangge.demo.models import DemoRun
from wangge.demo.registry import DemoContext, all_steps
from wangge.demo.services import demo_build
from wangge.regions.models import Grid, Region, Zone

pytestmark = pytest.mark.django_db


def test_the_session_demo_was_built(city):
    run = DemoRun.objects.get(step="places")
    assert run.scale == "district"
    assert Region.objects.filter(level="district").count() == 20
    assert Region.objects.filter(level="street").count() == 11  # 锦江区 only
    assert run.summary["micro-grids"] == Grid.objects.filter(kind="micro").count()
    assert set(Zone.objects.values_list("name", flat=True)) == {
        "四川天府新区成都直管区",
        "成都东部新区",
        "成都高新区",
    }
    # Zones are overlays: at district scale only the streets that exist are attached.
    assert all(z.streets.count() == 0 for z in Zone.objects.all())


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
