"""The demo's cameras (built with the session's demo city) and the newcomer's walk-through: a
blocked fire lane watched by the built-in analyser opens its event, and once handled, closes
it by itself."""

import pytest
from django.core.management import call_command

from tests.conftest import SEED
from wangge.cameras import demo
from wangge.cameras.models import Camera, Episode
from wangge.demo.registry import DemoContext
from wangge.events import services as events

pytestmark = pytest.mark.django_db


def test_the_demo_cameras_show_an_open_and_a_finished_episode(city):
    one, two, three = (Camera.objects.get(code=c) for c, _n, _a in demo.CAMERAS)
    assert all(c.grid_code.startswith("510104017001") and c.snapshot for c in (one, two, three))
    ep = Episode.objects.get(camera=one)
    assert ep.state == "open" and ep.event.state == "reported" and ep.event.source == "camera"
    ep2 = Episode.objects.get(camera=two)
    assert ep2.state == "ended" and ep2.end_reason == "auto_closed"
    assert ep2.event.state == "closed" and ep2.event.log.last().post is None  # the platform
    assert not Episode.objects.filter(camera=three).exists()


def test_running_the_step_again_adds_nothing_and_writes_the_frames(city, tmp_path):
    before = (Camera.objects.count(), Episode.objects.count())
    summary = demo.cameras(DemoContext(seed=SEED, verbose=False, data_dir=tmp_path))
    assert (Camera.objects.count(), Episode.objects.count()) == before
    assert summary["cameras"] == 3
    base = tmp_path / "camera-demo" / "JJ-CAM-003"
    assert len(list((base / "blocked").glob("*.jpg"))) == 16
    assert len(list((base / "cleared").glob("*.jpg"))) == 9


def test_the_walkthrough_a_blocked_lane_opens_and_closes_its_own_event(
    city, tmp_path, post_of, capsys
):
    demo.cameras(DemoContext(seed=SEED, verbose=False, data_dir=tmp_path))
    base = tmp_path / "camera-demo" / "JJ-CAM-003"
    call_command(
        "camera_watch",
        camera="JJ-CAM-003",
        source=str(base / "blocked"),
        fps=1,
        time_scale=60,
        end_now=True,
        once=True,
    )
    assert "opened 1" in capsys.readouterr().out
    e = Episode.objects.get(camera__code="JJ-CAM-003").event
    e = events.event_transition(actor=post_of("community"), event=e, action="accept")
    xf = post_of("handler-xf")
    events.event_transition(actor=xf, event=e, action="acknowledge")
    events.event_transition(
        actor=xf, event=e, action="handle", note="车已移走", photos=[demo._jpeg(demo.synth.frame())]
    )
    call_command(
        "camera_watch",
        camera="JJ-CAM-003",
        source=str(base / "cleared"),
        fps=1,
        time_scale=60,
        once=True,
    )
    assert "closed 1" in capsys.readouterr().out
    e.refresh_from_db()
    assert e.state == "closed"


def test_the_sweep_over_the_demo_data(city):
    from datetime import timedelta

    from django.utils import timezone

    from wangge.cameras.detections import cameras_sweep

    later = timezone.now() + timedelta(hours=1)
    counts = cameras_sweep(now=later)
    assert counts["offline"] >= 2 and counts["closed"] == 0
    assert Camera.objects.get(code="JJ-CAM-001").offline
    assert not Camera.objects.get(code="JJ-CAM-003").offline  # never posted: nothing to miss
    assert cameras_sweep(now=later)["offline"] == 0  # flagged once
