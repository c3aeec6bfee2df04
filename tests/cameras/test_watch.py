"""The built-in OpenCV analyser over synthetic frames: a car that stays in the fire lane opens
one event, one that passes through opens none; the ONNX detector's errors and decoding; the
command; a dropped stream reconnects."""

import threading
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.cameras.factories import T0, camera
from wangge.cameras import services, synth
from wangge.cameras.models import Episode
from wangge.cameras.watch import (
    BackgroundDetector,
    DetectorError,
    Frame,
    OnnxDetector,
    feed,
    stream_frames,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cam(post_of):
    c, _key = camera(post_of("community"))
    services.zone_save(
        actor=post_of("community"),
        camera=c,
        name="消防通道",
        polygon=synth.FIRE_LANE,
        kind="vehicle_in_fire_lane",
    )
    return c


def frames(images, *, every=timedelta(minutes=1), start=T0, tag="f"):
    return [Frame(f"{tag}{i:03d}", start + i * every, img) for i, img in enumerate(images)]


def test_the_background_detector_sees_a_parked_car_for_as_long_as_it_stays():
    d = BackgroundDetector()
    for i in range(3):
        assert d.detect(synth.frame(seed=i)) == []
    assert d.ready
    seen = [d.detect(synth.frame(car=synth.CAR, seed=10 + i)) for i in range(40)]
    assert all(len(s) == 1 for s in seen)  # not learnt into the background
    x1, y1, x2, y2 = seen[-1][0]["box"]
    assert abs(x1 - synth.CAR[0]) < 0.03 and abs(y2 - synth.CAR[3]) < 0.03
    assert d.detect(synth.frame(seed=99)) == []  # gone: nothing left behind


def test_a_car_that_stays_in_the_lane_opens_one_event(cam):
    images = [synth.frame(seed=i) for i in range(3)]
    images += [synth.frame(car=synth.CAR, seed=10 + i) for i in range(16)]
    s = feed(cam, frames(images), BackgroundDetector())
    assert s.analysed == 17 and s.occupied == 16  # two frames learn the scene
    assert len(s.opened) == 1 and s.opened[0] is not None
    ep = Episode.objects.get(camera=cam)
    assert ep.event.source == "camera" and ep.event.photos.count() == 1
    assert ep.started_at == T0 + 3 * timedelta(minutes=1)


def test_a_car_that_passes_through_opens_nothing(cam):
    images = [synth.frame(seed=i) for i in range(3)]
    for k in range(30):  # drives across the picture through the lane in 30 frames
        x = -0.3 + k * 0.05
        images.append(synth.frame(car=(x, 0.6, x + 0.26, 0.9), seed=50 + k))
    images += [synth.frame(seed=200 + i) for i in range(20)]
    s = feed(cam, frames(images, every=timedelta(seconds=2)), BackgroundDetector())
    assert s.occupied > 5  # it was seen in the lane on its way
    assert s.opened == [] and not Episode.objects.filter(camera=cam).exists()


def test_the_command_over_a_folder_with_a_time_scale(cam, tmp_path, capsys):
    synth.blocked_then_clear(tmp_path, empty=3, parked=13)
    call_command(
        "camera_watch",
        camera=cam.code,
        source=str(tmp_path),
        fps=1,
        time_scale=60,
        end_now=True,
        once=True,
    )
    out = capsys.readouterr().out
    assert "event E" in out and "opened 1" in out
    ep = Episode.objects.get(camera=cam)
    assert (ep.opened_at - ep.started_at) == timedelta(minutes=10)
    # watching the same folder again stores and opens nothing twice
    call_command("camera_watch", camera=cam.code, source=str(tmp_path), fps=1, once=True)
    assert "opened 0" in capsys.readouterr().out
    assert Episode.objects.filter(camera=cam).count() == 1


def test_the_command_refuses_what_it_cannot_watch(cam, tmp_path):
    with pytest.raises(CommandError, match="No camera"):
        call_command("camera_watch", camera="NOPE", source=str(tmp_path), once=True)
    with pytest.raises(CommandError, match="neither a folder"):
        call_command("camera_watch", camera=cam.code, source=str(tmp_path / "x"), once=True)
    with pytest.raises(CommandError, match="ONNX model not found"):
        call_command(
            "camera_watch",
            camera=cam.code,
            source=str(tmp_path),
            onnx=str(tmp_path / "missing.onnx"),
            once=True,
        )


def test_onnx_detector_errors_are_clear(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        OnnxDetector(tmp_path / "yolo.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(DetectorError, match="Not a readable ONNX model"):
        OnnxDetector(bad)


def test_onnx_output_decoding_yolov8_layout():
    d = OnnxDetector.__new__(OnnxDetector)
    d.size, d.confidence, d.nms, d.classes = 640, 0.4, 0.45, ("person", "bicycle", "car")
    raw = np.zeros((1, 4 + 3, 3), np.float32)  # (batch, 4 + classes, candidates)
    raw[0, :4, 0] = [320, 400, 128, 96]  # a car
    raw[0, 4 + 2, 0] = 0.9
    raw[0, :4, 1] = [322, 402, 128, 96]  # the same car again, weaker: suppressed
    raw[0, 4 + 2, 1] = 0.6
    raw[0, :4, 2] = [100, 100, 20, 60]  # a person below the threshold
    raw[0, 4 + 0, 2] = 0.2
    found = d.decode(raw)
    assert len(found) == 1 and found[0]["class"] == "car" and found[0]["confidence"] == 0.9
    assert found[0]["box"] == pytest.approx([0.4, 0.55, 0.6, 0.7], abs=1e-3)


class FakeCapture:
    """Opens fail once, then a stream that drops after two frames, then one that goes on."""

    opened = 0

    def __init__(self, url):
        FakeCapture.opened += 1
        self.n = FakeCapture.opened
        self.reads = 0

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self.n != 1

    def read(self):
        self.reads += 1
        if self.n == 2 and self.reads > 2:
            return False, None
        return True, synth.frame(seed=self.reads)

    def release(self):
        pass


def test_a_dropped_stream_is_reopened(monkeypatch):
    stop = threading.Event()
    waits = []
    monkeypatch.setattr(stop, "wait", lambda s: waits.append(s) or False)
    got = []
    for f in stream_frames("rtsp://cam/1", fps=0, stop=stop, capture=FakeCapture):
        got.append(f)
        if len(got) == 5:
            stop.set()
    assert FakeCapture.opened == 3 and len(got) == 5
    assert waits == [1.0, 1.0]  # the failed open, then the drop (backoff reset by frames)
