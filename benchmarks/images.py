"""Benchmark: clean_photo() on synthetic 12-MP (4000×3000) phone photos.

    python benchmarks/images.py            # 5 runs of each case
    python benchmarks/images.py --smoke    # 1 run, 1000×750 (CI)

Prints figures; asserts nothing about time (the machines are shared and noisy). For each case:
the median seconds of ``clean_photo`` and, as the baseline measured in the same run, of the bare
work any re-encoder must do (Pillow open + decode + save at the same settings), and the ratio.
Cases: a photo-like JPEG (smooth content, camera EXIF with Orientation=6 and GPS, so the
pixels are turned), the same upright, pure noise (the worst case for JPEG), a PNG screenshot,
a lossy and a lossless WebP.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")

import django  # noqa: E402

django.setup()

from PIL import Image, ImageDraw  # noqa: E402
from PIL.TiffImagePlugin import IFDRational  # noqa: E402

from wangge.core.images import clean_photo  # noqa: E402


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def photo_like(size: tuple[int, int]) -> Image.Image:
    """Low-resolution noise blown up: smooth areas and edges, like a photo, not like static."""
    small = Image.effect_noise((size[0] // 4, size[1] // 4), 60).convert("RGB")
    return small.resize(size, Image.Resampling.BICUBIC)


def screenshot() -> Image.Image:
    """A phone screenshot: flat colours and text (a 12-MP photo as PNG exceeds 10 MB)."""
    image = Image.new("RGB", (1080, 2400), "white")
    draw = ImageDraw.Draw(image)
    for y in range(0, 2400, 40):
        draw.text((20, y), f"work order {y}: blocked fire lane", fill="black")
        draw.rectangle((600, y, 1000, y + 20), fill=(y % 255, 100, 200))
    return image


def camera_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Huawei", "Mate 60 Pro", orientation
    exif[0x8769] = {0x9003: "2025:05:01 09:59:58"}
    exif[0x8825] = {
        1: "N",
        2: (IFDRational(30), IFDRational(40), IFDRational(12)),
        3: "E",
        4: (IFDRational(104), IFDRational(4), IFDRational(12)),
    }
    return exif


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def bare(data: bytes, fmt: str, **options) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    encode(image, fmt, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one small run (CI)")
    args = parser.parse_args()
    size = (1000, 750) if args.smoke else (4000, 3000)
    repeat = 1 if args.smoke else 5

    photo = photo_like(size)
    noise = Image.effect_noise(size, 64).convert("RGB")
    cases = [
        (
            "JPEG photo, Orientation=6",
            encode(photo, "JPEG", quality=92, exif=camera_exif(6)),
            "JPEG",
            {"quality": 85},
        ),
        (
            "JPEG photo, upright",
            encode(photo, "JPEG", quality=92, exif=camera_exif(1)),
            "JPEG",
            {"quality": 85},
        ),
        ("JPEG noise (worst case)", encode(noise, "JPEG", quality=92), "JPEG", {"quality": 85}),
        ("PNG screenshot 1080×2400", encode(screenshot(), "PNG"), "PNG", {"compress_level": 3}),
        ("WebP photo", encode(photo, "WEBP", quality=90), "WEBP", {"quality": 85, "method": 0}),
        (
            "WebP lossless, half size",
            encode(photo.reduce(2), "WEBP", lossless=True, method=0),
            "WEBP",
            {"lossless": True, "quality": 25, "method": 0},
        ),
    ]
    print(
        f"clean_photo, {size[0]}×{size[1]} ({size[0] * size[1] / 1e6:g} MP), "
        f"median of {repeat}, one thread, {os.cpu_count()} CPUs"
    )
    print(f"{'case':28} {'input MB':>9} {'output MB':>9} {'clean s':>8} {'bare s':>7} {'ratio':>6}")
    for name, data, fmt, options in cases:
        result = clean_photo(data)
        clean_s = timed(lambda data=data: clean_photo(data), repeat)
        bare_s = timed(
            lambda data=data, fmt=fmt, options=options: bare(data, fmt, **options), repeat
        )
        print(
            f"{name:28} {len(data) / 1e6:9.2f} {len(result.data) / 1e6:9.2f} "
            f"{clean_s:8.3f} {bare_s:7.3f} {clean_s / bare_s:6.2f}"
        )
    print(
        "bare = Pillow open + decode + save at the same settings (no checks, no rotation, "
        "no thumbnail); ratio = clean / bare"
    )


if __name__ == "__main__":
    main()
