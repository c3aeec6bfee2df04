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
    assert "already built, skipped" in out and "admin" in out
    text = (tmp_path / "demo-accounts.txt").read_text()
    password = text.split("\t")[1]
    from django.contrib.auth import authenticate

    assert authenticate(username="admin", password=password) is not None
    call_command("demo", "--no-serve")  # the second run keeps the same password
    assert (tmp_path / "demo-accounts.txt").read_text() == text
