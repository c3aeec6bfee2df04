"""Storing event photos: every upload is checked and cleaned by ``core.images.clean_photo``
(content, size, metadata) *before* anything is written, so a bad photo stores nothing. Files are
content-addressed (``events/ab/abcdef….jpg``) under the data directory's uploads, written
atomically, and served only through a view that checks the event's scope — never as public
media."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from wangge.core.errors import ValidationError
from wangge.core.images import CleanPhoto, clean_photo
from wangge.events.models import Event, EventLog, Photo

MAX_PHOTOS = 9


def photos_clean(files, *, already: int = 0) -> list[CleanPhoto]:
    """Check and clean uploads (Django ``UploadedFile``, file objects or bytes); all or none."""
    files = [f for f in (files or []) if f is not None]
    limit = int(getattr(settings, "WANGGE_EVENT_PHOTOS", MAX_PHOTOS))
    if already + len(files) > limit:
        raise ValidationError(
            _("At most %(n)d photos an event.") % {"n": limit},
            code="too_many_photos",
            details={"fields": {"photos": _("too many")}},
        )
    out = []
    for i, f in enumerate(files):
        name = getattr(f, "name", "") or ""
        try:
            out.append(clean_photo(f if isinstance(f, bytes) else f, filename=name))
        except ValidationError as exc:
            exc.details = {"fields": {"photos": exc.message}, "index": i, "name": name}
            raise
    return out


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "events"


def _write(rel: str, data: bytes) -> None:
    path = _root() / rel
    if path.exists():
        return  # content-addressed: the same bytes are already there
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def photos_store(
    event: Event, cleaned: list[CleanPhoto], *, kind: str, log: EventLog | None = None
) -> list[Photo]:
    """Write cleaned photos and their rows (inside the caller's transaction)."""
    rows = []
    for c in cleaned:
        rel = f"{c.sha256[:2]}/{c.sha256}{c.extension}"
        thumb = f"{c.sha256[:2]}/{c.sha256}.thumb.jpg"
        _write(rel, c.data)
        _write(thumb, c.thumbnail)
        rows.append(
            Photo(
                event=event,
                log=log,
                kind=kind,
                file=rel,
                thumbnail=thumb,
                content_type=c.content_type,
                sha256=c.sha256,
                width=c.width,
                height=c.height,
                taken_at=c.taken_at,
                lon=c.lon,
                lat=c.lat,
            )
        )
    return Photo.objects.bulk_create(rows)


def photo_path(photo: Photo, *, thumbnail: bool = False) -> Path:
    return _root() / (photo.thumbnail if thumbnail else photo.file)
