"""``wangge camera-watch``: the built-in analyser for a camera without a vendor's AI box.

    wangge camera-watch --camera JJ-CAM-001 --source rtsp://10.0.0.5/stream1 --fps 1
    wangge camera-watch --camera JJ-CAM-003 --source ./frames --fps 1 --time-scale 60 --once

Frames go through the camera's zones and the same rule engine as vendor detections (see
``wangge/cameras/watch.py``). Ctrl-C stops cleanly; a dropped stream is reconnected.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wangge.cameras.models import Camera
from wangge.cameras.watch import (
    BackgroundDetector,
    DetectorError,
    OnnxDetector,
    Summary,
    feed,
    stream_frames,
    watch_folder,
)


class Command(BaseCommand):
    help = "Watch a camera's frames (a folder or an RTSP/HTTP stream) for lasting occupancy."

    def add_arguments(self, parser):
        parser.add_argument("--camera", required=True, help="the camera's code")
        parser.add_argument("--source", required=True, help="a folder of images, or a stream URL")
        parser.add_argument(
            "--fps",
            type=float,
            default=None,
            help="frames a second (folder: spacing of the files' times, default their "
            "modification times; stream: how often a frame is analysed, default 1)",
        )
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="folder: seconds of scene time a second of frames stands for (60: each "
            "frame at 1 fps is a minute)",
        )
        parser.add_argument(
            "--end-now",
            action="store_true",
            help="folder with --fps: the last frame is now (the frames lie in the past)",
        )
        parser.add_argument(
            "--once", action="store_true", help="folder: the images there now, then stop"
        )
        parser.add_argument(
            "--onnx", default="", help="a YOLO-style ONNX model instead of background subtraction"
        )
        parser.add_argument(
            "--absorb-minutes",
            type=float,
            default=60.0,
            help="scene minutes after which a still object becomes background (default 60)",
        )

    def handle(self, *args, **opts):
        cam = Camera.objects.filter(code=opts["camera"]).first()
        if cam is None:
            raise CommandError(f"No camera has the code {opts['camera']}.")
        if not cam.active:
            raise CommandError(f"Camera {cam.code} is disabled.")
        if not cam.zones.filter(active=True).exists():
            raise CommandError(f"Camera {cam.code} has no active zone to watch.")
        source = opts["source"]
        folder = Path(source)
        is_folder = "://" not in source
        fps = opts["fps"]
        if fps is not None and fps <= 0:
            raise CommandError("--fps must be positive.")
        if opts["time_scale"] <= 0:
            raise CommandError("--time-scale must be positive.")
        if is_folder and not folder.is_dir():
            raise CommandError(f"{source} is neither a folder nor a stream URL.")
        scene_per_frame = (opts["time_scale"] / fps) if (is_folder and fps) else 1.0 / (fps or 1)
        try:
            detector = (
                OnnxDetector(opts["onnx"])
                if opts["onnx"]
                else BackgroundDetector(
                    absorb_frames=opts["absorb_minutes"] * 60 / max(scene_per_frame, 1e-6)
                )
            )
        except DetectorError as exc:
            raise CommandError(str(exc)) from None
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_a: stop.set())
        summary = Summary()
        self.stdout.write(f"Watching {cam.code} ({cam.name}) from {source}; Ctrl-C stops.")
        try:
            if is_folder:
                summary = watch_folder(
                    cam,
                    folder,
                    detector,
                    fps=fps,
                    time_scale=opts["time_scale"],
                    end_now=opts["end_now"],
                    once=opts["once"],
                    stop=stop,
                    out=self.stdout.write,
                )
            else:
                feed(
                    cam,
                    stream_frames(source, fps=fps or 1.0, stop=stop),
                    detector,
                    summary=summary,
                    out=self.stdout.write,
                )
        except KeyboardInterrupt:
            stop.set()
            self.stdout.write("Stopped.")
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(
            f"{summary.frames} frames, {summary.analysed} analysed ({summary.duplicates} seen "
            f"before), {summary.occupied} with a zone occupied; events opened "
            f"{len(summary.opened)}, closed {len(summary.closed)}."
        )
