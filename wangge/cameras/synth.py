"""Synthetic camera frames: a road seen from above a gate with a fire lane painted across it and,
when asked, a car (a dark rectangle) standing in it. The demo writes a folder of them for
``wangge camera-watch``; the tests draw their own the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 320, 240
# The fire lane's outline in normalised image coordinates (what the demo's zone is drawn as).
FIRE_LANE = [[0.12, 0.55], [0.88, 0.55], [0.95, 0.97], [0.05, 0.97]]
CAR = (0.36, 0.6, 0.62, 0.9)  # a car parked in the lane: x1, y1, x2, y2


def frame(*, car: Sequence[float] | None = None, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """One BGR frame; ``car`` a normalised box (or None)."""
    rng = np.random.default_rng(seed)
    img = np.full((HEIGHT, WIDTH, 3), (150, 150, 145), np.uint8)  # pavement
    cv2.rectangle(img, (0, 0), (WIDTH, int(0.35 * HEIGHT)), (95, 105, 120), -1)  # buildings
    for i in range(6):  # windows
        x = 15 + i * 52
        cv2.rectangle(img, (x, 20), (x + 30, 50), (170, 190, 200), -1)
    lane = (np.array(FIRE_LANE) * [WIDTH, HEIGHT]).astype(np.int32)
    cv2.fillPoly(img, [lane], (60, 60, 170))  # the red-painted lane
    for k in range(8):  # its yellow hatching
        x = int((0.14 + k * 0.1) * WIDTH)
        cv2.line(img, (x, int(0.57 * HEIGHT)), (x + 20, int(0.95 * HEIGHT)), (40, 200, 220), 3)
    if car is not None:
        x1, y1, x2, y2 = (int(round(v * s)) for v, s in zip(car, (WIDTH, HEIGHT) * 2, strict=True))
        cv2.rectangle(img, (x1, y1), (x2, y2), (90, 30, 20), -1)  # a dark blue body
        cv2.rectangle(
            img,
            (x1 + (x2 - x1) // 6, y1 + (y2 - y1) // 5),
            (x2 - (x2 - x1) // 6, y1 + (y2 - y1) // 2),
            (200, 170, 150),
            -1,
        )  # the windscreen
    if noise:
        img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return img


def write(folder: Path, frames: Sequence[np.ndarray], *, first: int = 0) -> list[Path]:
    """Write frames as ``frame-0000.jpg`` … (names sort in time order)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, img in enumerate(frames, start=first):
        p = folder / f"frame-{i:04d}.jpg"
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(p)
    return out


def blocked_then_clear(folder: Path, *, empty: int = 3, parked: int = 14, after: int = 0):
    """``empty`` frames of the road, ``parked`` with the car in the lane, ``after`` without."""
    frames = [frame(seed=i) for i in range(empty)]
    frames += [frame(car=CAR, seed=100 + i) for i in range(parked)]
    frames += [frame(seed=200 + i) for i in range(after)]
    return write(folder, frames)
