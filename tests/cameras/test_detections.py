"""The rule engine over moved time: frames open one event per episode, handled + clear closes
it, people closing it end the episode; intake is idempotent and refuses bad frames whole."""

from datetime import timedelta

import pytest

from tests.cameras.factories import CAR_IN, CAR_OUT, T0, camera, feed, jpeg, zone
from wangge.cameras.detections import cameras_sweep, detection_ingest, detections_purge
from wangge.cameras.models import Detection, Episode
from wangge.core.errors import ValidationError
from wangge.events import services as events
from wangge.events import workflow as W
from wangge.events.enums import EventAction, EventState
from wangge.events.models import Event, EventLog, Notification

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


@pytest.fixture
def lane(post_of):
    cam, _key = camera(post_of("community"))
    z = zone(post_of("community"), cam)
    return cam, z


def _handle(post_of, e, at):
    """The closed loop up to handled: accepted (dispatched to the fire brigade by rule),
    acknowledged and handled with an after photo by its handler."""
    e = events.event_transition(actor=post_of("community"), event=e, action="accept", at=at)
    assert e.state == EventState.DISPATCHED and e.unit.code == "JJ-XF"
    xf = post_of("handler-xf")
    events.event_transition(actor=xf, event=e, action="acknowledge", at=at)
    return events.event_transition(
        actor=xf, event=e, action="handle", note="已劝离车辆", photos=[jpeg()], at=at + MIN
    )


def test_dwell_opens_one_event_with_the_snapshot_and_more_frames_no_duplicate(lane):
    cam, z = lane
    outs = feed(cam, T0, 9, objects=[CAR_IN], snapshot=jpeg((200, 30, 30)))
    assert not any(o.opened for o in outs)
    assert not Event.objects.filter(source="camera", external_ref=cam.code).exists()
    outs = feed(cam, T0 + 10 * MIN, 20, objects=[CAR_IN], snapshot=jpeg((200, 30, 30)), tag="g")
    opened = [ep for o in outs for ep in o.opened]
    assert len(opened) == 1 and opened[0].opened_at == T0 + 10 * MIN
    ep = Episode.objects.get(camera=cam)
    e = ep.event
    assert e.source == "camera" and e.category.code == "0501" and e.urgency == "urgent"
    assert e.title == f"消防通道被占用：{cam.name} 消防通道" and e.grid_code.startswith(
        cam.grid_code
    )
    assert e.reported_at == T0 + 10 * MIN
    assert e.photos.filter(kind="before").count() == 1
    assert ep.open_snapshot and ep.open_detection.snapshot == ep.open_snapshot
    # only the frame that opened the episode kept its snapshot
    assert Detection.objects.filter(camera=cam).exclude(snapshot="").count() == 1
    assert Event.objects.filter(source="camera", external_ref=cam.code).count() == 1


def test_gaps_shorter_than_the_clear_window_do_not_break_the_dwell(lane):
    cam, _z = lane
    feed(cam, T0, 5, objects=[CAR_IN])
    feed(cam, T0 + 6 * MIN, 3, objects=[], tag="gap")  # a bus hides the car for 4 minutes
    outs = feed(cam, T0 + 10 * MIN, 0, objects=[CAR_IN], tag="back")
    assert len(outs[0].opened) == 1  # ten minutes since the car first stood there


def test_a_car_that_leaves_and_comes_back_later_starts_again(lane):
    cam, _z = lane
    feed(cam, T0, 8, objects=[CAR_IN])
    feed(cam, T0 + 9 * MIN, 5, objects=[], tag="gone")  # clear 5 minutes: the run ended
    outs = feed(cam, T0 + 15 * MIN, 9, objects=[CAR_IN], tag="again")
    assert not any(o.opened for o in outs)
    assert not Episode.objects.filter(camera=cam).exists()


def test_objects_outside_the_zone_or_unsure_open_nothing(lane):
    cam, _z = lane
    unsure = {**CAR_IN, "confidence": 0.2}
    person = {**CAR_IN, "class": "person"}
    feed(cam, T0, 30, objects=[CAR_OUT, unsure, person])
    assert not Episode.objects.filter(camera=cam).exists()


def test_a_silent_camera_neither_opens_nor_closes(lane):
    cam, _z = lane
    feed(cam, T0, 8, objects=[CAR_IN])
    outs = feed(cam, T0 + 30 * MIN, 8, objects=[CAR_IN], tag="later")  # 22 silent minutes
    assert not any(o.opened for o in outs)
    assert cameras_sweep(now=T0 + 60 * MIN)["offline"] == 1
    cam.refresh_from_db()
    assert cam.offline and cam.offline_since == T0 + 60 * MIN
    feed(cam, T0 + 61 * MIN, 0, objects=[], tag="back")
    cam.refresh_from_db()
    assert not cam.offline


def test_handled_and_clear_for_the_window_closes_it_automatically(lane, post_of):
    cam, z = lane
    feed(cam, T0, 12, objects=[CAR_IN])
    ep = Episode.objects.get(camera=cam)
    e = _handle(post_of, ep.event, T0 + 20 * MIN)
    assert e.state == EventState.HANDLED
    # still occupied after handling: stays open
    feed(cam, T0 + 22 * MIN, 3, objects=[CAR_IN], tag="still")
    ep.refresh_from_db()
    assert ep.state == "open"
    outs = feed(cam, T0 + 26 * MIN, 5, objects=[], tag="clear", snapshot=jpeg((30, 200, 30)))
    assert [len(o.closed) for o in outs] == [0, 0, 0, 0, 0, 1]
    e.refresh_from_db()
    ep.refresh_from_db()
    assert e.state == EventState.CLOSED and e.closed_at == T0 + 31 * MIN
    last = EventLog.objects.filter(event=e).order_by("-id").first()
    assert last.action == EventAction.VERIFY_PASS and last.post is None  # the platform
    assert "5" in last.note
    assert ep.state == "ended" and ep.end_reason == "auto_closed" and ep.close_snapshot
    assert ep.ended_at == T0 + 31 * MIN
    # the car comes back: a new episode needs a full dwell, and opens a new event
    outs = feed(cam, T0 + 40 * MIN, 10, objects=[CAR_IN], tag="again")
    assert sum(len(o.opened) for o in outs) == 1
    assert Episode.objects.filter(camera=cam, state="open").count() == 1
    assert Event.objects.filter(source="camera", external_ref=cam.code).count() == 2


def test_without_the_workflow_allowing_it_the_clear_zone_is_confirmed_and_verifiers_told(
    lane, post_of, monkeypatch
):
    """Should the table not let the platform verify (say, an administrator changed it), a
    refusal leaves a coherent state: the episode records that the zone is clear after handling
    and the grid worker is asked (once) to verify."""
    monkeypatch.setattr(
        W,
        "TRANSITIONS",
        tuple(
            W.Transition(t.sources, t.action, t.target, t.actors - {W.Actor.SYSTEM}, t.requires)
            if t.action == EventAction.VERIFY_PASS
            else t
            for t in W.TRANSITIONS
        ),
    )
    monkeypatch.setattr(W, "_BY_ACTION", {})
    for t in W.TRANSITIONS:
        W._BY_ACTION.setdefault(t.action, []).append(t)
    cam, _z = lane
    feed(cam, T0, 10, objects=[CAR_IN])
    ep = Episode.objects.get(camera=cam)
    e = _handle(post_of, ep.event, T0 + 12 * MIN)
    before = Notification.objects.filter(event=e, kind="verify").count()
    feed(cam, T0 + 14 * MIN, 8, objects=[], tag="clear")
    ep.refresh_from_db()
    e.refresh_from_db()
    assert e.state == EventState.HANDLED and ep.state == "open"
    assert ep.clear_confirmed_at == T0 + 19 * MIN
    assert Notification.objects.filter(event=e, kind="verify").count() == before + 1
    # the grid worker verifies by hand: the episode ends as closed by people
    events.event_transition(actor=post_of("grid"), event=e, action="verify_pass")
    ep.refresh_from_db()
    assert ep.state == "ended" and ep.end_reason == "closed"


def test_clear_before_anyone_handled_it_is_recorded_and_closes_once_handled(lane, post_of):
    cam, _z = lane
    feed(cam, T0, 10, objects=[CAR_IN])
    feed(cam, T0 + 11 * MIN, 10, objects=[], tag="gone")  # the driver left by himself
    ep = Episode.objects.get(camera=cam)
    assert ep.state == "open" and ep.cleared_at == T0 + 11 * MIN
    assert ep.event.state == EventState.REPORTED  # still for people to handle
    e = _handle(post_of, ep.event, T0 + 30 * MIN)
    # frames after the handling still have to show it clear for the window
    feed(cam, T0 + 32 * MIN, 3, objects=[], tag="after")
    e.refresh_from_db()
    assert e.state == EventState.HANDLED
    feed(cam, T0 + 36 * MIN, 0, objects=[], tag="after2")
    e.refresh_from_db()
    assert e.state == EventState.CLOSED


def test_people_closing_or_rejecting_the_event_end_the_episode(lane, post_of):
    cam, z = lane
    feed(cam, T0, 10, objects=[CAR_IN])
    ep = Episode.objects.get(camera=cam)
    events.event_transition(
        actor=post_of("community"),
        event=ep.event,
        action="reject",
        data={"reason": "invalid"},
        note="误报：施工车辆",
    )
    ep.refresh_from_db()
    z.refresh_from_db()
    assert ep.state == "ended" and ep.end_reason == "rejected" and z.presence_since is None
    # the vehicle still there does not reopen at once: a full dwell first
    outs = feed(cam, T0 + 11 * MIN, 9, objects=[CAR_IN], tag="more")
    assert not any(o.opened for o in outs)
    outs = feed(cam, T0 + 21 * MIN, 0, objects=[CAR_IN], tag="more2")
    assert len(outs[0].opened) == 1


def test_the_same_frame_twice_is_stored_and_counted_once(lane):
    cam, _z = lane
    feed(cam, T0, 9, objects=[CAR_IN])
    a = detection_ingest(
        camera=cam, frame_id="F-10", at=T0 + 10 * MIN, objects=[CAR_IN], now=T0 + 10 * MIN
    )
    b = detection_ingest(
        camera=cam, frame_id="F-10", at=T0 + 10 * MIN, objects=[CAR_IN], now=T0 + 10 * MIN
    )
    assert a.created and not b.created and a.detection.pk == b.detection.pk
    assert len(a.opened) == 1 and b.opened == []
    assert (
        Episode.objects.filter(camera=cam).count() == 1
        and Detection.objects.filter(frame_id="F-10").count() == 1
    )


@pytest.mark.parametrize(
    "objects, field",
    [
        ("car", "objects"),
        ([{"class": "car", "confidence": 1.5, "box": [0, 0, 1, 1]}], "objects[0].confidence"),
        ([{"class": "car", "confidence": 0.9, "box": [0, 0, 1]}], "objects[0].box"),
        ([{"class": "car", "confidence": 0.9, "box": [0.5, 0, 0.2, 1]}], "objects[0].box"),
        ([{"class": "car", "confidence": 0.9, "box": [0, 0, 1, 1.2]}], "objects[0].box"),
        ([{"class": "", "confidence": 0.9, "box": [0, 0, 1, 1]}], "objects[0].class"),
        ([CAR_IN, {"confidence": 0.9, "box": [0, 0, 1, 1]}], "objects[1].class"),
    ],
)
def test_bad_frames_are_refused_whole(lane, objects, field):
    cam, _z = lane
    with pytest.raises(ValidationError) as exc:
        detection_ingest(camera=cam, frame_id="bad", at=T0, objects=objects, now=T0)
    assert field in exc.value.details["fields"]
    assert not Detection.objects.filter(camera=cam).exists()


def test_bad_times_and_ids(lane):
    cam, _z = lane
    for at in ("yesterday", "", T0 + 10 * MIN):
        with pytest.raises(ValidationError) as exc:
            detection_ingest(camera=cam, frame_id="x", at=at, objects=[], now=T0)
        assert "time" in exc.value.details["fields"]
    with pytest.raises(ValidationError):
        detection_ingest(camera=cam, frame_id="", at=T0, objects=[], now=T0)
    assert not Detection.objects.filter(camera=cam).exists()


def test_retention_purge_keeps_the_episode_frames(lane, settings):
    settings.WANGGE_CAMERA_DETECTION_DAYS = 7
    cam, _z = lane
    feed(cam, T0, 12, objects=[CAR_IN], snapshot=jpeg())
    ep = Episode.objects.get(camera=cam)
    assert detections_purge(now=T0 + timedelta(days=6)) == 0
    assert detections_purge(now=T0 + timedelta(days=8)) == 12
    assert list(Detection.objects.filter(camera=cam)) == [ep.open_detection]


def test_the_sweep_reports_an_episode_whose_event_could_not_be_opened(lane, monkeypatch):
    cam, z = lane
    calls = []
    real = events.event_report

    def refusing(**kw):
        calls.append(kw)
        raise ValidationError("category switched off", code="invalid_category")

    monkeypatch.setattr(events, "event_report", refusing)
    feed(cam, T0, 10, objects=[CAR_IN])
    ep = Episode.objects.get(camera=cam)
    assert calls and ep.event is None  # the frame was still taken
    monkeypatch.setattr(events, "event_report", real)
    assert cameras_sweep(now=T0 + 11 * MIN)["reported"] == 1
    ep.refresh_from_db()
    assert ep.event.source == "camera"
    assert cameras_sweep(now=T0 + 12 * MIN)["reported"] == 0
