"""Photo checks: by content, metadata stripped except capture time and GPS, re-encoded, thumbnail.

All images are made in memory with Pillow (or by hand, for headers Pillow would not write); no
test needs the database.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational

from wangge.core.errors import ValidationError
from wangge.core.images import THUMBNAIL_SIZE, CleanPhoto, clean_photo

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAKE, MODEL, SOFTWARE, ARTIST, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0131, 0x013B, 0x0112, 0x132
EXIF_IFD, GPS_IFD, DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x8769, 0x8825, 0x9003, 0x9011
# Chengdu: 104.07° E, 30.67° N as cameras write it, degrees / minutes / seconds.
CHENGDU_LON = (IFDRational(104), IFDRational(4), IFDRational(12))  # 104° 4' 12" = 104.07
CHENGDU_LAT = (IFDRational(30), IFDRational(40), IFDRational(12))  # 30° 40' 12" = 30.67


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def two_tone(size=(400, 200)) -> Image.Image:
    """Left half red, right half blue: shows which way the pixels were turned."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    return image


def camera_exif(orientation: int = 6, gps: dict | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Huawei"
    exif[MODEL] = "Mate 60 Pro"
    exif[SOFTWARE] = "SecretFirmware 1.0"
    exif[ARTIST] = "Zhang San"
    exif[ORIENTATION] = orientation
    exif[DATETIME] = "2025:05:02 08:00:00"
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: "2025:05:01 09:59:58"}
    exif[GPS_IFD] = gps if gps is not None else {1: "N", 2: CHENGDU_LAT, 3: "E", 4: CHENGDU_LON}
    return exif


def refused(data, code: str, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        clean_photo(data, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert caught.value.status == 422
    return caught.value


def png_header_only(width: int, height: int, *, rows: bool = True) -> bytes:
    """A valid 1-bit PNG of the given size whose pixel data compresses to almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height if rows else 0))
    idat += compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- a phone photo: what is kept and what goes ---------------------------------------------


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    return encode(
        two_tone(),
        "JPEG",
        quality=95,
        exif=camera_exif(),
        comment=b"comment: serial 12345",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SecretXMP</x:xmpmeta>',
    )


def test_phone_jpeg_keeps_capture_time_and_gps(phone_jpeg):
    photo = clean_photo(phone_jpeg, filename="IMG_0001.jpg")

    assert photo.format == "JPEG" and photo.content_type == "image/jpeg"
    assert photo.taken_at == datetime(2025, 5, 1, 9, 59, 58, tzinfo=SHANGHAI)
    assert photo.lon == pytest.approx(104.07, abs=1e-9)
    assert photo.lat == pytest.approx(30.67, abs=1e-9)

    cleaned = Image.open(io.BytesIO(photo.data))
    assert cleaned.format == "JPEG"
    exif = cleaned.getexif()
    assert exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] == "2025:05:01 09:59:58"
    assert exif[DATETIME] == "2025:05:02 08:00:00"
    gps = exif.get_ifd(GPS_IFD)
    assert gps[1] == "N" and gps[3] == "E"
    lat = sum(float(v) / 60**i for i, v in enumerate(gps[2]))
    lon = sum(float(v) / 60**i for i, v in enumerate(gps[4]))
    assert (lon, lat) == (pytest.approx(104.07, abs=1e-7), pytest.approx(30.67, abs=1e-7))


def test_phone_jpeg_loses_identifying_metadata_and_orientation(phone_jpeg):
    photo = clean_photo(phone_jpeg)
    cleaned = Image.open(io.BytesIO(photo.data))
    exif = cleaned.getexif()

    assert set(exif) == {DATETIME, EXIF_IFD, GPS_IFD}
    assert set(exif.get_ifd(EXIF_IFD)) == {DATETIME_ORIGINAL}
    for tag in (MAKE, MODEL, SOFTWARE, ARTIST, ORIENTATION):
        assert tag not in exif
    for secret in (b"Huawei", b"Mate 60", b"SecretFirmware", b"Zhang San", b"12345", b"SecretXMP"):
        assert secret not in photo.data
    assert "comment" not in cleaned.info and "xmp" not in cleaned.info


def test_orientation_is_applied_to_the_pixels(phone_jpeg):
    photo = clean_photo(phone_jpeg)
    cleaned = Image.open(io.BytesIO(photo.data)).convert("RGB")

    # Orientation 6: the camera was turned a quarter clockwise; upright, the left (red) half
    # of the sensor is on top and the picture is portrait.
    assert (photo.width, photo.height) == cleaned.size == (200, 400)
    top, bottom = cleaned.getpixel((100, 50)), cleaned.getpixel((100, 350))
    assert top[0] > 180 and top[2] < 60  # red
    assert bottom[2] > 180 and bottom[0] < 60  # blue
    assert ImageOps.exif_transpose(cleaned).size == (200, 400)  # nothing left to rotate


def test_capture_time_offset_and_datetime_fallback():
    exif = Image.Exif()
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: "2025:05:01 09:59:58", OFFSET_TIME_ORIGINAL: "+02:00"}
    photo = clean_photo(encode(two_tone(), "JPEG", exif=exif))
    assert photo.taken_at == datetime(2025, 5, 1, 9, 59, 58, tzinfo=timezone(timedelta(hours=2)))
    kept = Image.open(io.BytesIO(photo.data)).getexif().get_ifd(EXIF_IFD)
    assert kept[OFFSET_TIME_ORIGINAL] == "+02:00"

    only_datetime = Image.Exif()
    only_datetime[DATETIME] = "2024:12:31 23:59:59"
    photo = clean_photo(encode(two_tone(), "JPEG", exif=only_datetime))
    assert photo.taken_at == datetime(2024, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "value", ["0000:00:00 00:00:00", "    ", "yesterday", "2025:13:45 99:00:00"]
)
def test_unknown_capture_time_is_none(value):
    exif = Image.Exif()
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: value}
    photo = clean_photo(encode(two_tone(), "JPEG", exif=exif))
    assert photo.taken_at is None
    assert EXIF_IFD not in Image.open(io.BytesIO(photo.data)).getexif()


def test_no_metadata_means_no_exif_at_all():
    photo = clean_photo(encode(two_tone(), "JPEG"))
    assert photo.taken_at is None and photo.lon is None and photo.lat is None
    assert "exif" not in Image.open(io.BytesIO(photo.data)).info


@pytest.mark.parametrize(
    "gps,expected",
    [
        ({1: "S", 2: CHENGDU_LAT, 3: "W", 4: CHENGDU_LON}, (-104.07, -30.67)),
        ({1: b"N\0", 2: CHENGDU_LAT, 3: b"E\0", 4: CHENGDU_LON}, (104.07, 30.67)),
        ({1: "N", 2: (30.67,), 3: "E", 4: (104.07,)}, (104.07, 30.67)),  # decimal degrees
        ({1: "N", 2: (IFDRational(95), 0.0, 0.0), 3: "E", 4: CHENGDU_LON}, None),  # lat > 90
        ({1: "N", 2: CHENGDU_LAT, 3: "E", 4: (IFDRational(181), 0.0, 0.0)}, None),  # lon > 180
        ({1: "N", 2: (IFDRational(30), IFDRational(75), 0.0), 3: "E", 4: CHENGDU_LON}, None),
        ({1: "N", 2: (IFDRational(30), IFDRational(1, 0), 0.0), 3: "E", 4: CHENGDU_LON}, None),
        ({1: "X", 2: CHENGDU_LAT, 3: "E", 4: CHENGDU_LON}, None),  # unknown reference
        ({2: CHENGDU_LAT, 4: CHENGDU_LON}, None),  # no references: the sign is unknown
        ({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}, None),  # no fix
        ({1: "N", 2: CHENGDU_LAT}, None),  # half a position
    ],
)
def test_gps_parsing_ignores_nonsense(gps, expected):
    photo = clean_photo(encode(two_tone(), "JPEG", exif=camera_exif(orientation=1, gps=gps)))
    exif = Image.open(io.BytesIO(photo.data)).getexif()
    if expected is None:
        assert photo.lon is None and photo.lat is None
        assert GPS_IFD not in exif
    else:
        assert photo.lon == pytest.approx(expected[0], abs=1e-9)
        assert photo.lat == pytest.approx(expected[1], abs=1e-9)
        assert exif.get_ifd(GPS_IFD)[1] == ("N" if expected[1] > 0 else "S")


def test_gps_free_text_and_other_fields_are_dropped():
    gps = {
        1: "N",
        2: CHENGDU_LAT,
        3: "E",
        4: CHENGDU_LON,
        6: IFDRational(500),  # altitude
        17: IFDRational(90),  # image direction
        27: b"ASCII\0\0\0secret-network-name",  # processing method
    }
    photo = clean_photo(encode(two_tone(), "JPEG", exif=camera_exif(gps=gps)))
    kept = Image.open(io.BytesIO(photo.data)).getexif().get_ifd(GPS_IFD)
    assert set(kept) == {0, 1, 2, 3, 4}
    assert b"secret-network-name" not in photo.data


def test_png_text_chunks_are_removed():
    info = PngInfo()
    info.add_text("Author", "Zhang San")
    info.add_text("Comment", "compressed secret " * 20, zip=True)
    info.add_itxt("Description", "内部资料", lang="zh", tkey="描述")
    data = encode(two_tone(), "PNG", pnginfo=info)
    assert Image.open(io.BytesIO(data)).text  # the fixture does carry text

    photo = clean_photo(data)
    cleaned = Image.open(io.BytesIO(photo.data))
    assert photo.format == "PNG" and photo.content_type == "image/png"
    assert cleaned.text == {}
    assert b"tEXt" not in photo.data and b"zTXt" not in photo.data and b"iTXt" not in photo.data
    assert b"Zhang San" not in photo.data


def test_png_keeps_gps_and_transparency():
    image = Image.new("P", (60, 30), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    data = encode(image, "PNG", transparency=0, exif=camera_exif(orientation=1))
    photo = clean_photo(data)
    cleaned = Image.open(io.BytesIO(photo.data))
    assert cleaned.mode == "P" and cleaned.info["transparency"] == 0
    assert (photo.lon, photo.lat) == (pytest.approx(104.07), pytest.approx(30.67))
    assert MAKE not in cleaned.getexif() and GPS_IFD in cleaned.getexif()


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_stays_webp(lossless):
    image = two_tone().convert("RGBA")
    image.putalpha(200)  # fully opaque pixels would be stored without an alpha channel
    data = encode(image, "WEBP", lossless=lossless, exif=camera_exif())
    photo = clean_photo(data, filename="x.webp")
    cleaned = Image.open(io.BytesIO(photo.data))
    assert photo.format == "WEBP" and photo.content_type == "image/webp"
    assert cleaned.mode == "RGBA" and cleaned.size == (200, 400)
    assert (b"VP8L" in photo.data) is lossless
    exif = cleaned.getexif()
    assert MAKE not in exif and ORIENTATION not in exif
    assert exif.get_ifd(GPS_IFD)[3] == "E"
    assert photo.taken_at == datetime(2025, 5, 1, 9, 59, 58, tzinfo=SHANGHAI)


def test_icc_profile_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = clean_photo(encode(two_tone(), "JPEG", icc_profile=icc))
    assert Image.open(io.BytesIO(photo.data)).info["icc_profile"] == icc


def test_junk_icc_profile_is_dropped():
    photo = clean_photo(encode(two_tone(), "JPEG", icc_profile=b"not a profile, a payload"))
    assert "icc_profile" not in Image.open(io.BytesIO(photo.data)).info
    assert b"payload" not in photo.data


def test_multi_picture_jpeg_keeps_the_primary_picture():
    data = encode(two_tone(), "MPO", save_all=True, append_images=[Image.new("RGB", (16, 16))])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    photo = clean_photo(data)
    assert photo.format == "JPEG" and (photo.width, photo.height) == (400, 200)
    assert Image.open(io.BytesIO(photo.data)).format == "JPEG"


def test_cmyk_jpeg_becomes_rgb():
    photo = clean_photo(encode(two_tone().convert("CMYK"), "JPEG"))
    assert Image.open(io.BytesIO(photo.data)).mode == "RGB"


def test_content_decides_not_the_name():
    photo = clean_photo(encode(two_tone(), "PNG"), filename="holiday.jpg")
    assert photo.format == "PNG" and photo.extension == ".png"


def test_result_fields():
    photo = clean_photo(encode(two_tone(), "JPEG"))
    import hashlib

    assert isinstance(photo, CleanPhoto)
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
    assert "data" not in repr(photo)  # no megabytes in logs


def test_stream_input():
    data = encode(two_tone(), "JPEG", exif=camera_exif())
    assert clean_photo(io.BytesIO(data)).lat == pytest.approx(30.67)


# --- thumbnails ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,fmt,mode",
    [
        ((1600, 900), "JPEG", "RGB"),
        ((900, 1600), "PNG", "RGBA"),
        ((5000, 10), "WEBP", "RGB"),
        ((1000, 1000), "PNG", "LA"),
        ((700, 500), "PNG", "I;16"),
    ],
)
def test_thumbnail_is_a_small_jpeg(size, fmt, mode):
    photo = clean_photo(encode(Image.new(mode, size), fmt))
    thumb = Image.open(io.BytesIO(photo.thumbnail))
    assert thumb.format == "JPEG"
    assert max(thumb.size) == THUMBNAIL_SIZE
    assert abs(thumb.width / thumb.height - size[0] / size[1]) < 0.05 or min(thumb.size) <= 2


def test_thumbnail_is_never_enlarged():
    photo = clean_photo(encode(Image.new("RGB", (50, 30)), "PNG"))
    assert Image.open(io.BytesIO(photo.thumbnail)).size == (50, 30)


def test_thumbnail_flattens_transparency_on_white():
    photo = clean_photo(encode(Image.new("RGBA", (400, 400), (0, 0, 0, 0)), "PNG"))
    r, g, b = Image.open(io.BytesIO(photo.thumbnail)).getpixel((160, 160))
    assert min(r, g, b) > 245


# --- refusals ------------------------------------------------------------------------------


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "hello")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF\n",
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        _zip(),
        b"\x00" * 1000,
        b"",
    ],
    ids=["pdf", "html", "zip", "zeros", "empty"],
)
def test_not_an_image_whatever_its_name(data):
    error = refused(data, "not_an_image", filename="photo.jpg")
    assert error.message.startswith("photo.jpg: ")
    assert error.details == {"filename": "photo.jpg"}


@pytest.mark.parametrize(
    "data,kind",
    [
        (encode(two_tone(), "GIF"), "GIF"),
        (encode(two_tone(), "BMP"), "BMP"),
        (encode(two_tone(), "TIFF"), "TIFF"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 200, "HEIC"),
    ],
    ids=["gif", "bmp", "tiff", "heic"],
)
def test_other_image_formats_are_unsupported(data, kind):
    error = refused(data, "unsupported_format", filename="photo.jpg")
    assert kind in error.message and "JPEG, PNG or WebP" in error.message


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_unsupported(fmt):
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue", "green")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).is_animated
    error = refused(data, "unsupported_format")
    assert "Animated" in error.message


def test_one_byte_over_the_limit_is_too_large():
    data = encode(two_tone(), "JPEG")
    with override_settings(WANGGE_PHOTO_MAX_BYTES=len(data)):
        assert clean_photo(data).format == "JPEG"
    with override_settings(WANGGE_PHOTO_MAX_BYTES=len(data) - 1):
        error = refused(data, "too_large")
    assert "MB" in error.message


class CountingStream(io.RawIOBase):
    """An endless upload that counts what it was asked for and hands out small pieces."""

    def __init__(self):
        self.given = 0

    def readable(self):
        return True

    def read(self, size=-1):
        assert size is not None and size >= 0, "the whole stream must never be asked for"
        piece = min(size, 4096)
        self.given += piece
        return b"\xff" * piece


def test_stream_read_stops_after_limit_plus_one():
    stream = CountingStream()
    with override_settings(WANGGE_PHOTO_MAX_BYTES=100_000):
        refused(stream, "too_large")
    assert stream.given == 100_001


def test_default_limit_is_ten_megabytes():
    refused(b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "too_large")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_corrupt(fmt):
    noisy = Image.effect_noise((300, 200), 64).convert("RGB")
    data = encode(noisy, fmt)
    refused(data[: len(data) // 2], "corrupt_image", filename=f"cut.{fmt.lower()}")


def test_broken_png_checksum_is_corrupt():
    data = bytearray(encode(two_tone(), "PNG"))
    data[40] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    refused(bytes(data), "corrupt_image")


def test_jpeg_signature_with_garbage_is_corrupt():
    refused(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt_image")


def test_decompression_bomb_is_refused_from_its_header():
    bomb = png_header_only(20_000, 20_000)  # 400 MP in about 50 kB
    assert len(bomb) < 100_000
    error = refused(bomb, "too_many_pixels")
    assert "50 million" in error.message


def test_pixel_limit_is_ours_not_only_pillows():
    refused(png_header_only(8_000, 7_000), "too_many_pixels")  # 56 MP: below Pillow's own limit
    with override_settings(WANGGE_PHOTO_MAX_PIXELS=1_000):
        refused(encode(Image.new("RGB", (40, 30)), "PNG"), "too_many_pixels")
        assert clean_photo(encode(Image.new("RGB", (40, 25)), "PNG")).width == 40


# --- property: any small picture survives, upright ---------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 64),
    height=st.integers(1, 64),
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
    orientation=st.integers(1, 8),
    seed=st.integers(0, 255),
)
def test_random_images_survive_with_their_dimensions(width, height, fmt, orientation, seed):
    image = Image.frombytes(
        "RGB", (width, height), bytes((seed + i * 7) % 256 for i in range(width * height * 3))
    )
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    photo = clean_photo(encode(image, fmt, exif=exif))

    expected = (height, width) if orientation >= 5 else (width, height)
    cleaned = Image.open(io.BytesIO(photo.data))
    assert (photo.width, photo.height) == cleaned.size == expected
    assert cleaned.format == photo.format == fmt
    assert ORIENTATION not in cleaned.getexif()
    assert max(Image.open(io.BytesIO(photo.thumbnail)).size) <= THUMBNAIL_SIZE
