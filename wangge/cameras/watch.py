"""The built-in analyser behind ``wangge camera-watch``: frames from a folder or an RTSP/HTTP
stream, objects found by a ``Detector``, fed to the same rule engine as a vendor's AI box.

``BackgroundDetector`` needs no model weights: it keeps a background picture of the scene and
reports what differs from it as generic objects (class ``object``). The background follows slow
changes (light, shadows) where nothing stands, but a region that differs is absorbed only over
``absorb_seconds`` of scene time (an hour by default), so a car parked in a fire lane stays
foreground for as long as it stays — unlike a default MOG2 model, which learns a parked car into
the background within a few hundred frames. ``OnnxDetector`` runs a YOLO-style ONNX model
(``cv2.dnn``) for a site that has one and reports its classes (COCO names by default).

Frame times: for a folder, ``--fps`` spaces the files (sorted by name) ``time_scale / fps``
seconds of scene time apart, from now (or ending now); without ``--fps`` a file's time is its
modification time. For a stream, the wall clock, one frame analysed every ``1 / fps`` seconds.
Frame ids are the file names (or the stream's timestamps), so watching the same folder twice
stores nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from django.utils import timezone

from wangge.cameras.detections import detection_ingest
from wangge.cameras.enums import GENERIC_CLASS
from wangge.cameras.models import Camera

logger = logging.getLogger("wangge.cameras.watch")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DetectorError(Exception):
    """A detector cannot be used (missing or unreadable model)."""


class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> list[dict]:
        """Objects in a BGR frame: ``{"class", "confidence", "box": [x1, y1, x2, y2]}`` with
        the box normalised to 0..1 (y down)."""
        ...


# --- background subtraction -----------------------------------------------------------------------
class BackgroundDetector:
    """Lasting foreground against a selectively updated background (see the module docs)."""

    def __init__(
        self,
        *,
        width: int = 320,
        warmup: int = 2,
        threshold: int = 30,
        min_area: float = 0.004,
        adapt: float = 0.05,
        absorb_frames: float = 3600.0,
    ) -> None:
        self.width, self.warmup, self.threshold = width, warmup, threshold
        self.min_area, self.adapt = min_area, adapt
        self.absorb = 1.0 / max(absorb_frames, 1.0)
        self.background: np.ndarray | None = None
        self.frames = 0

    @property
    def ready(self) -> bool:
        """Whether the background is learnt (frames before are not reported at all)."""
        return self.frames > self.warmup

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if w != self.width:
            frame = cv2.resize(frame, (self.width, max(1, round(h * self.width / w))))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        return cv2.GaussianBlur(gray, (5, 5), 0).astype(np.float32)

    def detect(self, frame: np.ndarray) -> list[dict]:
        g = self._prepare(frame)
        self.frames += 1
        if self.background is None or self.background.shape != g.shape:
            self.background = g.copy()
            return []
        if not self.ready:
            self.background = (self.background + g) / 2
            return []
        diff = cv2.absdiff(g, self.background)
        mask = (diff > self.threshold).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        fg = mask.astype(bool)
        rate = np.where(fg, self.absorb, self.adapt).astype(np.float32)
        self.background += rate * (g - self.background)
        h, w = mask.shape
        n, _labels, stats, _c = cv2.connectedComponentsWithStats(mask, connectivity=8)
        out = []
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < self.min_area * w * h:
                continue
            out.append(
                {
                    "class": GENERIC_CLASS,
                    "confidence": 1.0,
                    "box": [
                        round(x / w, 4),
                        round(y / h, 4),
                        round((x + bw) / w, 4),
                        round((y + bh) / h, 4),
                    ],
                }
            )
        return out


# --- an ONNX model --------------------------------------------------------------------------------
COCO = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat "
    "baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork knife spoon "
    "bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave "
    "oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
).split()


class OnnxDetector:
    """A YOLO-style ONNX model (YOLOv5/v8 output: boxes as centre x, y, width, height in input
    pixels, then class scores; v5 with an objectness score before them)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        size: int = 640,
        confidence: float = 0.4,
        nms: float = 0.45,
        classes: tuple[str, ...] = tuple(COCO),
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(f"ONNX model not found: {path}")
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise DetectorError(f"Not a readable ONNX model: {path} ({exc.err or exc})") from None
        self.size, self.confidence, self.nms, self.classes = size, confidence, nms, classes

    def detect(self, frame: np.ndarray) -> list[dict]:
        s = self.size
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (s, s), swapRB=True, crop=False)
        self.net.setInput(blob)
        return self.decode(self.net.forward())

    def decode(self, raw: np.ndarray) -> list[dict]:
        out = np.squeeze(np.asarray(raw, dtype=np.float32))
        if out.ndim != 2:
            return []
        n_cls = len(self.classes)
        widths = (n_cls + 4, n_cls + 5)
        if out.shape[1] not in widths and out.shape[0] in widths:
            out = out.T  # YOLOv8: (4 + classes, N) → (N, 4 + classes)
        if out.shape[1] not in widths:
            raise DetectorError(f"Unexpected model output {out.shape} for {n_cls} classes")
        if out.shape[1] == n_cls + 5:  # YOLOv5: objectness before the class scores
            scores = out[:, 5:] * out[:, 4:5]
        else:
            scores = out[:, 4 : 4 + n_cls]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(scores)), cls]
        keep = conf >= self.confidence
        boxes = []
        for cx, cy, w, h in out[keep, :4]:
            boxes.append([float(cx - w / 2), float(cy - h / 2), float(w), float(h)])
        kept = conf[keep].astype(float).tolist()
        ids = cls[keep].tolist()
        picked = cv2.dnn.NMSBoxes(boxes, kept, self.confidence, self.nms) if boxes else []
        s = float(self.size)
        found = []
        for i in np.array(picked).flatten():
            x, y, w, h = boxes[int(i)]
            box = [min(max(v / s, 0.0), 1.0) for v in (x, y, x + w, y + h)]
            found.append(
                {
                    "class": self.classes[ids[int(i)]],
                    "confidence": round(kept[int(i)], 3),
                    "box": [round(v, 4) for v in box],
                }
            )
        return found


# --- sources --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    id: str
    at: datetime
    image: np.ndarray


def folder_frames(
    folder: Path,
    *,
    fps: float | None,
    time_scale: float = 1.0,
    start: datetime | None = None,
    end_now: bool = False,
    seen: set[str] | None = None,
) -> Iterator[Frame]:
    """The folder's images in name order (skipping names in ``seen``)."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    step = timedelta(seconds=time_scale / fps) if fps else None
    base = start or timezone.now()
    if step is not None and end_now:
        base = timezone.now() - step * max(len(files) - 1, 0)
    for i, p in enumerate(files):
        if seen is not None and p.name in seen:
            continue
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            logger.warning("camera-watch: %s is not a readable image, skipped", p.name)
            continue
        at = base + step * i if step is not None else datetime.fromtimestamp(p.stat().st_mtime, UTC)
        yield Frame(f"{folder.name}/{p.name}", at, img)


def stream_frames(
    url: str,
    *,
    fps: float = 1.0,
    stop: threading.Event,
    backoff_max: float = 30.0,
    capture=None,
) -> Iterator[Frame]:
    """Frames of an RTSP/HTTP stream, one every ``1 / fps`` seconds; a dropped stream is
    reopened with a backoff doubling from one second up to ``backoff_max``."""
    capture = capture or cv2.VideoCapture
    backoff = 1.0
    interval = 1.0 / fps if fps else 0.0
    last = 0.0
    while not stop.is_set():
        cap = capture(url)
        if not cap.isOpened():
            logger.warning("camera-watch: cannot open %s; retrying in %.0f s", url, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, backoff_max)
            continue
        try:
            while not stop.is_set():
                ok, img = cap.read()
                if not ok or img is None:
                    logger.warning("camera-watch: the stream dropped; reconnecting")
                    break
                backoff = 1.0
                now = time.monotonic()
                if now - last < interval:
                    continue
                last = now
                at = timezone.now()
                yield Frame(f"stream-{at.timestamp():.3f}", at, img)
        finally:
            cap.release()
        if not stop.is_set():
            stop.wait(backoff)
            backoff = min(backoff * 2, backoff_max)


# --- the loop -------------------------------------------------------------------------------------
@dataclass
class Summary:
    frames: int = 0
    analysed: int = 0
    occupied: int = 0
    duplicates: int = 0
    opened: list[int] = field(default_factory=list)  # events opened
    closed: list[int] = field(default_factory=list)  # events closed


def _jpeg(img: np.ndarray) -> bytes | None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None


def feed(camera: Camera, frames, detector: Detector, *, summary: Summary | None = None, out=None):
    """Detect in each frame and hand it to the rule engine; returns the summary."""
    summary = summary or Summary()
    for f in frames:
        summary.frames += 1
        objects = detector.detect(f.image)
        if not getattr(detector, "ready", True):
            continue  # still learning the scene: nothing known yet
        result = detection_ingest(
            camera=camera,
            frame_id=f"watch-{f.id}"[:100],
            at=f.at,
            objects=objects,
            snapshot=lambda img=f.image: _jpeg(img),
            future_ok=True,
        )
        summary.analysed += 1
        summary.duplicates += not result.created
        summary.occupied += bool(result.present)
        for ep in result.opened:
            summary.opened.append(ep.event_id)
            if out is not None:
                number = ep.event.number if ep.event_id else "—"
                out(
                    f"{f.id}: zone {ep.zone.name} occupied since "
                    f"{timezone.localtime(ep.started_at):%H:%M}, event {number} opened"
                )
        for ep in result.closed:
            summary.closed.append(ep.event_id)
            if out is not None:
                out(f"{f.id}: zone {ep.zone.name} clear, event {ep.event.number} closed")
    return summary


def watch_folder(
    camera: Camera,
    folder: Path,
    detector: Detector,
    *,
    fps: float | None,
    time_scale: float = 1.0,
    end_now: bool = False,
    once: bool = True,
    stop: threading.Event | None = None,
    poll: float = 1.0,
    out=None,
) -> Summary:
    """Every image of the folder; without ``once``, then the images added to it, until
    stopped."""
    stop = stop or threading.Event()
    summary = Summary()
    seen: set[str] = set()
    start = None
    step = timedelta(seconds=time_scale / fps) if fps else None
    while True:
        frames = list(
            folder_frames(
                folder,
                fps=fps,
                time_scale=time_scale,
                start=start,
                end_now=end_now and start is None,
                seen=seen,
            )
        )
        if frames and step is not None and start is None:
            start = frames[0].at  # later files continue the same clock
        feed(camera, frames, detector, summary=summary, out=out)
        seen.update(f.id.rsplit("/", 1)[-1] for f in frames)
        if once or stop.wait(poll):
            return summary
