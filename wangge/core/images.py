"""Photos of events: checked by content, cleaned of metadata, re-encoded and thumbnailed.

``clean_photo(data, filename=...)`` is the one entry point. It is a pure function: it reads
the upload, never writes a file or touches the database, and either returns a ``CleanPhoto``
whose bytes are safe to store and serve, or raises ``wangge.core.errors.ValidationError`` with
one of these stable codes:

- ``too_large``        more than ``settings.WANGGE_PHOTO_MAX_BYTES`` (default 10 MiB), counted
                       on the raw bytes before anything is decoded;
- ``not_an_image``     empty, or not an image at all (a PDF, a page, an archive … whatever
                       its name says);
- ``unsupported_format`` an image, but not JPEG, PNG or WebP (GIF, BMP, TIFF, HEIC, …), or an
                       animated one;
- ``too_many_pixels``  more than ``settings.WANGGE_PHOTO_MAX_PIXELS`` (default 50 MP): a
                       decompression bomb is refused from its header, before any decoding;
- ``corrupt_image``    looks like JPEG/PNG/WebP but fails to verify or decode (truncated, bad
                       checksums, broken headers).

The format is what Pillow detects in the content (``Image.open`` restricted to the three
accepted formats, ``verify()``, then a fresh open that decodes every pixel); the file name and
the client's content type are never consulted. Multi-picture JPEGs (MPO: phones store HDR gain
maps and depth maps this way) are accepted as JPEG and keep only the primary picture.

Metadata. The EXIF orientation is applied to the pixels first, so the result is upright with no
orientation tag. Everything else is dropped — camera make and model, serial numbers, software,
artist and copyright, thumbnails embedded in the EXIF, XMP, IPTC, JPEG comments, PNG text
chunks — except, on purpose:

- the capture time: EXIF ``DateTimeOriginal`` and ``DateTime`` with their UTC offsets
  (``OffsetTimeOriginal``, ``OffsetTime``) when the camera wrote them;
- the GPS position (latitude and longitude with their N/S/E/W references), because where the
  photo was taken is evidence of where the problem is. Altitude, GPS time, speed, direction,
  and the free-text GPS fields are dropped.

These are written back as a new, minimal EXIF block (JPEG, WebP, and PNG's ``eXIf`` chunk).
The ICC colour profile is *kept* when it is a well-formed profile of at most 1 MiB: it is colour
data, not personal data, and dropping it would shift the colours of wide-gamut phone photos
(Display P3). It is dropped when the pixels have to change colour model (CMYK JPEG → RGB).

Re-encoding keeps the format: JPEG as baseline JPEG at quality 85, PNG as PNG (zlib level 3),
WebP as lossy WebP at quality 85, or lossless when the upload was lossless (fast libwebp
settings: see ``WEBP_METHOD``). The thumbnail is always a JPEG
of at most ``THUMBNAIL_SIZE`` pixels on the long side, transparency flattened onto white.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from PIL.TiffImagePlugin import IFDRational

from wangge.core.errors import ValidationError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
THUMBNAIL_SIZE = 320
JPEG_QUALITY = 85
WEBP_QUALITY = 85
# libwebp's effort: Pillow's defaults (method 4; for lossless, quality 80 as effort) take 2–20 s
# on a 12-MP photo here, method 0 (and effort 25 for lossless) about a second, files ±10%.
WEBP_METHOD = 0
WEBP_LOSSLESS_EFFORT = 25
# zlib level 3: about three times faster than Pillow's default 6 on photos, files about as big.
PNG_COMPRESS_LEVEL = 3
THUMBNAIL_QUALITY = 80
MAX_ICC_BYTES = 1024 * 1024
# Capture times without a UTC offset are local time of the place the platform serves.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# Pillow's names: MPO is what Pillow calls a JPEG that carries more than one picture.
_PILLOW_FORMATS = ("JPEG", "PNG", "WEBP")
_ACCEPTED = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}

# EXIF tags (CIPA DC-008).
_ORIENTATION = 0x0112
_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_VERSION, _GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 0, 1, 2, 3, 4

_ORIENTATION_TRANSPOSE = {2, 3, 4, 5, 6, 7, 8}
_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    """A photo fit to store: re-encoded bytes, what they are, and what was kept of the EXIF.

    ``format`` is ``"JPEG"``, ``"PNG"`` or ``"WEBP"``; ``width``/``height`` are of the upright
    picture; ``taken_at`` is aware (Asia/Shanghai when the camera wrote no offset);
    ``lon``/``lat`` are decimal degrees as the camera wrote them (WGS-84 for phone cameras);
    ``sha256`` is the hex digest of ``data``; ``thumbnail`` is a JPEG, long side ≤ 320 px.
    """

    data: bytes = field(repr=False)
    format: str
    content_type: str
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None
    sha256: str
    thumbnail: bytes = field(repr=False)

    @property
    def extension(self) -> str:
        return {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[self.format]


def clean_photo(data: bytes | IO[bytes], *, filename: str = "") -> CleanPhoto:
    """Check an uploaded photo by its content and return it cleaned (see the module docs).

    ``data`` is the upload's bytes or a binary file-like object read from its current position
    (at most the size limit plus one byte is read). ``filename`` only labels error messages.
    """
    max_bytes = int(getattr(settings, "WANGGE_PHOTO_MAX_BYTES", DEFAULT_MAX_BYTES))
    max_pixels = int(getattr(settings, "WANGGE_PHOTO_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    raw = _read_limited(data, max_bytes)
    if len(raw) > max_bytes:
        raise _refuse(
            "too_large",
            _("The photo is larger than %(limit)s MB.") % {"limit": _megabytes(max_bytes)},
            filename,
        )
    if not raw:
        raise _refuse("not_an_image", _("The file is empty."), filename)

    image = _open_checked(raw, filename, max_pixels)
    fmt = _ACCEPTED[image.format]
    lossless_webp = fmt == "WEBP" and _webp_is_lossless(raw)
    try:
        exif = image.getexif()
    except Exception:  # a broken EXIF block is dropped like a good one, it is not the photo
        exif = Image.Exif()
    taken_at, kept_times = _capture_time(exif)
    lon, lat = _gps_position(exif)
    icc = _usable_icc(image.info.get("icc_profile"))

    try:
        image = _upright(image, exif)
    except Exception as exc:
        raise _refuse(
            "corrupt_image", _("The image is damaged and cannot be read."), filename
        ) from exc

    image, icc = _encodable(image, fmt, icc)
    # Pillow's savers fall back to ``image.info`` for some metadata (the JPEG comment, the PNG
    # ICC profile): keep only the transparency there, so only what we pass is written.
    image.info = {k: v for k, v in image.info.items() if k == "transparency"}
    new_exif = _minimal_exif(kept_times, lon, lat)
    cleaned = _encode(image, fmt, new_exif, icc, lossless=lossless_webp)
    return CleanPhoto(
        data=cleaned,
        format=fmt,
        content_type=CONTENT_TYPES[fmt],
        width=image.width,
        height=image.height,
        taken_at=taken_at,
        lon=lon,
        lat=lat,
        sha256=hashlib.sha256(cleaned).hexdigest(),
        thumbnail=_thumbnail(image, icc),
    )


# --- reading and checking ------------------------------------------------------------------


def _read_limited(data: bytes | IO[bytes], max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data[: max_bytes + 1])
    chunks: list[bytes] = []
    left = max_bytes + 1
    while left > 0:  # a stream may return fewer bytes than asked for before its end
        chunk = data.read(min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _open_checked(raw: bytes, filename: str, max_pixels: int) -> Image.Image:
    """The decoded first picture, or a ValidationError saying why not."""
    corrupt = _("The image is damaged and cannot be read.")
    try:
        probe = Image.open(io.BytesIO(raw), formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels, filename) from exc
    except UnidentifiedImageError as exc:
        sniffed = _sniff(raw)
        if sniffed in _ACCEPTED:  # the signature of an accepted format, a header Pillow refused
            raise _refuse("corrupt_image", corrupt, filename) from exc
        if sniffed:
            raise _unsupported(sniffed, filename) from exc
        raise _refuse(
            "not_an_image",
            _("The file is not an image. Photos must be JPEG, PNG or WebP."),
            filename,
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise _refuse("corrupt_image", corrupt, filename) from exc

    with probe:
        if probe.format not in _ACCEPTED:  # defensive: the formats= argument guarantees it
            raise _unsupported(str(probe.format), filename)
        if probe.width * probe.height > max_pixels:
            raise _too_many_pixels(max_pixels, filename)
        if probe.format != "MPO" and getattr(probe, "is_animated", False):
            raise _refuse(
                "unsupported_format",
                _("Animated images are not accepted; upload a still photo."),
                filename,
            )
        try:
            probe.verify()
        except Exception as exc:
            raise _refuse("corrupt_image", corrupt, filename) from exc

    # verify() leaves the image unusable: open again and decode every pixel of the first frame.
    try:
        image = Image.open(io.BytesIO(raw), formats=_PILLOW_FORMATS)
        image.load()
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels, filename) from exc
    except Exception as exc:
        raise _refuse("corrupt_image", corrupt, filename) from exc
    return image


# Signatures of image formats we refuse, to tell "wrong kind of image" from "not an image".
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _sniff(raw: bytes) -> str:
    head = raw[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "BMP"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return "HEIC"
        if head[8:12] in _AVIF_BRANDS:
            return "AVIF"
    if head.startswith((b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "JPEG 2000"
    if head.startswith((b"\xff\x0a", b"\0\0\0\x0cJXL \r\n\x87\n")):
        return "JPEG XL"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head[:4] == b"\0\0\1\0" and len(head) >= 6 and head[4:6] != b"\0\0":
        return "ICO"
    return ""


def _webp_is_lossless(raw: bytes) -> bool:
    """Whether the WebP's image chunk is VP8L (lossless) rather than VP8 (lossy)."""
    pos = 12
    while pos + 8 <= len(raw):
        fourcc = raw[pos : pos + 4]
        (size,) = struct.unpack("<I", raw[pos + 4 : pos + 8])
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        pos += 8 + size + (size & 1)
    return False


# --- metadata ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip().strip("\0").strip() if value is not None else ""


def _parse_offset(value: Any) -> timezone | None:
    match = _EXIF_OFFSET.fullmatch(_text(value))
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return timezone(-delta if sign == "-" else delta)


def _parse_datetime(value: Any) -> datetime | None:
    match = _EXIF_DATETIME.match(_text(value))
    if not match:
        return None  # also "0000:00:00 00:00:00" and blanks, which cameras write for "unknown"
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _capture_time(exif: Image.Exif) -> tuple[datetime | None, dict[tuple[int, int], str]]:
    """The aware capture time and the (ifd, tag) → value pairs to write back."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    kept: dict[tuple[int, int], str] = {}
    found: list[datetime] = []
    # (where the time is, its tag, the tag of its offset): DateTimeOriginal is the capture time;
    # DateTime (last change) is the fallback cameras that write no DateTimeOriginal leave.
    for ifd, tag, source, offset_tag in (
        (_EXIF_IFD, _DATETIME_ORIGINAL, sub, _OFFSET_TIME_ORIGINAL),
        (0, _DATETIME, exif, _OFFSET_TIME),
    ):
        moment = _parse_datetime(source.get(tag))
        if moment is None:
            continue
        kept[(ifd, tag)] = moment.strftime("%Y:%m:%d %H:%M:%S")
        offset = _parse_offset(sub.get(offset_tag))
        if offset is not None:
            kept[(_EXIF_IFD, offset_tag)] = _text(sub.get(offset_tag))
        found.append(moment.replace(tzinfo=offset or LOCAL_TZ))
    return (found[0] if found else None), kept


def _rational(value: Any) -> float:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator) from old readers
        numerator, denominator = value
        return float(numerator) / float(denominator) if denominator else math.nan
    return float(value)


def _coordinate(value: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    """Decimal degrees from EXIF degrees/minutes/seconds and a reference letter, or None."""
    ref_text = _text(ref).upper()[:1]
    if ref_text not in (positive, negative) or value is None:
        return None
    try:
        parts = [_rational(part) for part in (value if isinstance(value, tuple) else (value,))]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    degrees, minutes, seconds = (parts + [0.0, 0.0])[:3]
    if minutes >= 60 or seconds >= 60:
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    if decimal > limit:
        return None
    return -decimal if ref_text == negative else decimal


def _gps_position(exif: Image.Exif) -> tuple[float | None, float | None]:
    """(lon, lat) in decimal degrees, or (None, None) when missing or nonsense."""
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:
        return None, None
    lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "N", "S", 90.0)
    lon = _coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0 and lon == 0):  # 0,0: a fix never obtained
        return None, None
    return lon, lat


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """|value| as EXIF degrees, minutes and seconds (seconds to 1/10,000″, about 3 mm)."""
    units = round(abs(value) * 3600 * 10_000)
    degrees, rest = divmod(units, 3600 * 10_000)
    minutes, seconds = divmod(rest, 60 * 10_000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 10_000)


def _minimal_exif(
    times: dict[tuple[int, int], str], lon: float | None, lat: float | None
) -> Image.Exif | None:
    """A new EXIF block with only the capture time and the GPS position, or None if neither."""
    if not times and lon is None:
        return None
    exif = Image.Exif()
    sub: dict[int, Any] = {}
    for (ifd, tag), value in times.items():
        if ifd == _EXIF_IFD:
            sub[tag] = value
        else:
            exif[tag] = value
    if sub:
        exif[_EXIF_IFD] = sub
    if lon is not None and lat is not None:
        exif[_GPS_IFD] = {
            _GPS_VERSION: b"\x02\x02\x00\x00",
            _GPS_LAT_REF: "N" if lat >= 0 else "S",
            _GPS_LAT: _dms(lat),
            _GPS_LON_REF: "E" if lon >= 0 else "W",
            _GPS_LON: _dms(lon),
        }
    return exif


def _usable_icc(icc: Any) -> bytes | None:
    """The ICC profile when it is one (parsed by LittleCMS) and not oversized, else None."""
    if not isinstance(icc, bytes) or not icc or len(icc) > MAX_ICC_BYTES:
        return None
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except Exception:
        return None
    return icc


# --- pixels --------------------------------------------------------------------------------


def _upright(image: Image.Image, exif: Image.Exif) -> Image.Image:
    """The picture with its EXIF orientation applied (in place: no copy of upright photos)."""
    if exif.get(_ORIENTATION) in _ORIENTATION_TRANSPOSE:
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _encodable(image: Image.Image, fmt: str, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """The image in a mode its format can store; the ICC profile only if the colours kept."""
    if fmt == "JPEG" and image.mode not in ("L", "RGB"):
        return image.convert("RGB"), None  # CMYK/YCCK: the profile was for the old model
    if fmt == "PNG" and image.mode not in _PNG_MODES:
        has_alpha = "A" in image.mode or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB"), None
    if fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB"), icc
    return image, icc


def _encode(
    image: Image.Image, fmt: str, exif: Image.Exif | None, icc: bytes | None, *, lossless: bool
) -> bytes:
    options: dict[str, Any] = {}
    if exif is not None:
        options["exif"] = exif
    if icc is not None:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options["quality"] = JPEG_QUALITY
    elif fmt == "PNG":
        options["compress_level"] = PNG_COMPRESS_LEVEL
        if "transparency" in image.info and image.mode in ("P", "L", "RGB", "1"):
            options["transparency"] = image.info["transparency"]
    elif lossless:
        options.update(lossless=True, quality=WEBP_LOSSLESS_EFFORT, method=WEBP_METHOD)
    else:
        options.update(quality=WEBP_QUALITY, method=WEBP_METHOD)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _thumbnail(image: Image.Image, icc: bytes | None) -> bytes:
    """A JPEG of at most THUMBNAIL_SIZE on the long side (never enlarged), transparency on white."""
    grey = image.mode in ("1", "L", "LA", "I;16")
    small = image
    if image.has_transparency_data:
        small = image.convert("RGBA" if image.mode != "LA" else "LA")
    elif image.mode not in ("L", "RGB"):
        small = image.convert("L" if grey else "RGB")
    scale = min(1.0, THUMBNAIL_SIZE / max(small.width, small.height))
    size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
    if size != small.size:
        small = small.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if small.mode in ("RGBA", "LA"):
        flat = Image.new(small.mode[:-1], small.size, "white")
        flat.paste(small, mask=small.getchannel("A"))
        small = flat
    options: dict[str, Any] = {"quality": THUMBNAIL_QUALITY}
    if icc is not None:  # the profile fits: grey stayed grey, colour stayed colour
        options["icc_profile"] = icc
    out = io.BytesIO()
    small.save(out, "JPEG", **options)
    return out.getvalue()


# --- errors --------------------------------------------------------------------------------


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g}"


def _refuse(code: str, reason: str, filename: str) -> ValidationError:
    name = filename[-100:]
    message = (
        _("%(filename)s: %(reason)s") % {"filename": name, "reason": reason} if name else reason
    )
    return ValidationError(message, code=code, details={"filename": name} if name else None)


def _unsupported(kind: str, filename: str) -> ValidationError:
    return _refuse(
        "unsupported_format",
        _("%(format)s images are not accepted; photos must be JPEG, PNG or WebP.")
        % {"format": kind},
        filename,
    )


def _too_many_pixels(max_pixels: int, filename: str) -> ValidationError:
    return _refuse(
        "too_many_pixels",
        _("The image has more than %(limit)s million pixels.")
        % {"limit": f"{max_pixels / 1_000_000:g}"},
        filename,
    )
