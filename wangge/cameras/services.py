"""Writes of the camera registry: cameras (with their AI box's key), zones and their rules, and
the reference snapshot zones are drawn on. Each function takes the acting post first, runs in
one transaction and writes its audit row inside it. What frames do to zones lives in
``detections.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.cameras.engine import polygon_of
from wangge.cameras.enums import KIND_DEFAULTS, ZoneKind
from wangge.cameras.models import Camera, Zone
from wangge.core import audit
from wangge.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from wangge.core.images import CleanPhoto, clean_photo
from wangge.events.enums import Urgency
from wangge.events.models import Category
from wangge.regions import codes as C
from wangge.regions.models import Grid

KEY_PREFIX = "wgcam_"
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
SNAPSHOT_TIMEOUT = 5.0  # seconds, connecting and reading the camera's snapshot URL
CAMERA_FIELDS = (
    "name",
    "grid_code",
    "lon",
    "lat",
    "address",
    "stream_url",
    "snapshot_url",
    "vendor",
    "active",
)


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError(message, code=code, details={"fields": {field: message}})


# --- keys -----------------------------------------------------------------------------------------
def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# --- cameras --------------------------------------------------------------------------------------
def _clean_camera(values: dict[str, Any], *, actor) -> dict[str, Any]:
    out = dict(values)
    out["name"] = (out.get("name") or "").strip()[:100]
    if not out["name"]:
        raise _invalid("name", _("Give the camera a name."), "name_required")
    for f in ("lon", "lat"):
        v = out.get(f)
        if v in ("", None):
            out[f] = None
            continue
        try:
            out[f] = float(v)
        except (TypeError, ValueError):
            raise _invalid(f, _("Not a number."), "invalid_point") from None
    if (out["lon"] is None) != (out["lat"] is None):
        raise _invalid("lon", _("Give both longitude and latitude, or neither."), "invalid_point")
    for f in ("stream_url", "snapshot_url"):
        url = (out.get(f) or "").strip()
        if url and not re.match(r"^(rtsp|rtsps|http|https)://", url, re.I):
            raise _invalid(f, _("Use an rtsp://, http:// or https:// address."), "invalid_url")
        out[f] = url[:500]
    out["address"] = (out.get("address") or "").strip()[:200]
    out["vendor"] = (out.get("vendor") or "").strip()[:60]
    out["active"] = bool(out.get("active", True))
    grid = C.normalize(out.get("grid_code") or "")
    if not grid and out["lon"] is not None:
        from wangge.regions.locator import locate

        hit = locate(out["lon"], out["lat"])
        if hit is None or not C.is_valid(hit.code) or len(hit.code) < 15:
            raise _invalid(
                "lon", _("The point is not inside any grid; choose the grid."), "outside_grids"
            )
        grid = hit.code
    if not grid:
        raise _invalid("grid_code", _("Give the location or choose the grid."), "location_required")
    if not Grid.objects.filter(code=grid).exists():
        raise _invalid("grid_code", _("No grid has the code %(code)s.") % {"code": grid})
    if not scope_for(actor).covers(grid):
        raise _invalid("grid_code", _("This grid is outside your area."), "out_of_scope")
    out["grid_code"] = grid
    return out


@transaction.atomic
def camera_register(*, actor, code: str, **values) -> tuple[Camera, str]:
    """Register a camera. Returns it and its AI box's key — shown this once, stored hashed."""
    require(actor, Perm.SENSING_MANAGE)
    code = (code or "").strip()
    if not CODE_RE.match(code):
        raise _invalid(
            "code", _("Letters, digits, '.', '_' or '-', up to 40 characters."), "invalid_code"
        )
    clean = _clean_camera({f: values.get(f) for f in CAMERA_FIELDS if f in values}, actor=actor)
    if Camera.objects.filter(code=code).exists():
        raise _invalid("code", _("A camera with this code exists."), "code_taken")
    raw = _new_key()
    try:
        with transaction.atomic():
            cam = Camera.objects.create(
                code=code,
                key_hash=key_hash(raw),
                key_prefix=raw[:12],
                key_set_at=timezone.now(),
                **clean,
            )
    except IntegrityError:
        raise _invalid("code", _("A camera with this code exists."), "code_taken") from None
    audit.record(
        actor=actor,
        action="cameras.register",
        obj=cam,
        details={"code": cam.code, "grid": cam.grid_code, "key_prefix": cam.key_prefix},
    )
    return cam, raw


def _locked(actor, camera: Camera) -> Camera:
    cam = Camera.objects.select_for_update().filter(pk=camera.pk).first()
    if cam is None or not scope_for(actor).covers(cam.grid_code):
        raise NotFound(_("No such camera."))
    return cam


@transaction.atomic
def camera_update(*, actor, camera: Camera, **values) -> Camera:
    require(actor, Perm.SENSING_MANAGE)
    cam = _locked(actor, camera)
    merged = {f: getattr(cam, f) for f in CAMERA_FIELDS}
    merged.update({f: values[f] for f in CAMERA_FIELDS if f in values})
    moved = any(f in values and values[f] != getattr(cam, f) for f in ("lon", "lat"))
    if moved and not values.get("grid_code"):
        merged["grid_code"] = ""  # locate the new point
    clean = _clean_camera(merged, actor=actor)
    changed = {f: clean[f] for f in CAMERA_FIELDS if clean[f] != getattr(cam, f)}
    for f, v in changed.items():
        setattr(cam, f, v)
    cam.save()
    if changed:
        audit.record(
            actor=actor,
            action="cameras.update",
            obj=cam,
            details={"code": cam.code, "changed": sorted(changed)},
        )
    return cam


@transaction.atomic
def camera_rotate_key(*, actor, camera: Camera) -> tuple[Camera, str]:
    """A new key for the AI box; the old one stops working at once."""
    require(actor, Perm.SENSING_MANAGE)
    cam = _locked(actor, camera)
    raw = _new_key()
    cam.key_hash, cam.key_prefix, cam.key_set_at = key_hash(raw), raw[:12], timezone.now()
    cam.save(update_fields=["key_hash", "key_prefix", "key_set_at", "updated_at"])
    audit.record(
        actor=actor,
        action="cameras.rotate_key",
        obj=cam,
        details={"code": cam.code, "key_prefix": cam.key_prefix},
    )
    return cam, raw


@transaction.atomic
def camera_disable(*, actor, camera: Camera) -> Camera:
    """Stop taking the camera's frames (its key is refused); history stays."""
    require(actor, Perm.SENSING_MANAGE)
    cam = _locked(actor, camera)
    if cam.active:
        cam.active = False
        cam.save(update_fields=["active", "updated_at"])
        audit.record(actor=actor, action="cameras.disable", obj=cam, details={"code": cam.code})
    return cam


# --- snapshots (files) ----------------------------------------------------------------------------
def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "cameras"


def snapshot_path(rel: str) -> Path:
    return _root() / rel


def snapshot_store(clean: CleanPhoto) -> str:
    """Write a cleaned picture content-addressed under uploads/cameras; returns its path."""
    rel = f"{clean.sha256[:2]}/{clean.sha256}{clean.extension}"
    path = _root() / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(clean.data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return rel


def _set_snapshot(cam: Camera, clean: CleanPhoto) -> None:
    cam.snapshot = snapshot_store(clean)
    cam.snapshot_width, cam.snapshot_height = clean.width, clean.height
    cam.snapshot_at = timezone.now()
    cam.save(
        update_fields=["snapshot", "snapshot_width", "snapshot_height", "snapshot_at", "updated_at"]
    )


def camera_snapshot_set(*, actor, camera: Camera, data) -> Camera:
    """Store an uploaded picture of the camera's view (checked and cleaned by content)."""
    require(actor, Perm.SENSING_MANAGE)
    clean = clean_photo(data, filename=getattr(data, "name", "") or "")
    with transaction.atomic():
        cam = _locked(actor, camera)
        _set_snapshot(cam, clean)
        audit.record(
            actor=actor,
            action="cameras.snapshot",
            obj=cam,
            details={"code": cam.code, "sha256": clean.sha256},
        )
    return cam


def _fetch(url: str, *, timeout: float, max_bytes: int) -> bytes:
    if not re.match(r"^https?://", url, re.I):
        raise ValidationError(
            _("Only http:// and https:// snapshot addresses can be fetched."), code="invalid_url"
        )
    req = urllib.request.Request(url, headers={"User-Agent": "wangge-cameras"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            data = resp.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise ApplicationError(
            _("The camera's snapshot could not be fetched: %(e)s") % {"e": exc},
            code="snapshot_unreachable",
            status=502,
        ) from None
    if len(data) > max_bytes:
        raise ValidationError(_("The snapshot is too large."), code="too_large")
    return data


def camera_snapshot_fetch(*, actor, camera: Camera, timeout: float = SNAPSHOT_TIMEOUT) -> Camera:
    """Fetch the camera's current picture from its snapshot URL (with timeouts) and keep it."""
    require(actor, Perm.SENSING_MANAGE)
    if not scope_for(actor).covers(camera.grid_code):
        raise NotFound(_("No such camera."))
    if not camera.snapshot_url:
        raise _invalid("snapshot_url", _("The camera has no snapshot URL."), "no_snapshot_url")
    limit = int(getattr(settings, "WANGGE_PHOTO_MAX_BYTES", 10 * 1024 * 1024))
    data = _fetch(camera.snapshot_url, timeout=timeout, max_bytes=limit)
    return camera_snapshot_set(actor=actor, camera=camera, data=data)


# --- zones ----------------------------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)"


def parse_points(text) -> list[list[float]]:
    """Points from a JSON list (``[[x, y], …]``) or text (``x,y; x,y; …`` or one per line)."""
    if isinstance(text, list | tuple):
        pts = text
    else:
        s = str(text or "").strip()
        if s.startswith("["):
            import json

            try:
                pts = json.loads(s)
            except ValueError:
                raise _invalid(
                    "polygon", _("The points are not valid JSON."), "invalid_polygon"
                ) from None
        else:
            pairs = re.findall(rf"({_NUM})\s*[, ]\s*({_NUM})", s)
            leftover = re.sub(rf"({_NUM})\s*[, ]\s*({_NUM})", "", s)
            if re.search(r"[^\s;]", leftover):
                raise _invalid(
                    "polygon",
                    _("Write the points as x,y pairs separated by ';' (e.g. 0.1,0.5; 0.4,0.5; …)."),
                    "invalid_polygon",
                )
            pts = [[float(a), float(b)] for a, b in pairs]
    out = []
    for p in pts:
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError, IndexError):
            raise _invalid("polygon", _("Each point needs x and y."), "invalid_polygon") from None
        out.append([round(x, 4), round(y, 4)])
    return out


def _clean_polygon(points) -> list[list[float]]:
    pts = parse_points(points)
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        raise _invalid("polygon", _("A zone needs at least three points."), "invalid_polygon")
    if len(pts) > 100:
        raise _invalid("polygon", _("At most 100 points."), "invalid_polygon")
    if any(not (0 <= v <= 1) for p in pts for v in p):
        raise _invalid(
            "polygon",
            _("Points lie on the picture: x and y between 0 and 1."),
            "invalid_polygon",
        )
    poly = polygon_of(pts)
    if not poly.is_valid or poly.area <= 1e-5:
        raise _invalid(
            "polygon",
            _("The outline crosses itself or encloses nothing; draw it point by point around."),
            "invalid_polygon",
        )
    return pts


def _clean_rule(values: dict[str, Any]) -> dict[str, Any]:
    try:
        kind = ZoneKind(values.get("kind") or "")
    except ValueError:
        raise _invalid("kind", _("Choose a rule."), "invalid_kind") from None
    d = KIND_DEFAULTS[kind]
    out: dict[str, Any] = {"kind": kind}
    classes = values.get("classes")
    if classes in (None, "", []):
        classes = d["classes"]
    if isinstance(classes, str):
        classes = [c for c in re.split(r"[\s,;]+", classes) if c]
    classes = sorted({str(c).strip().lower()[:40] for c in classes if str(c).strip()})
    if not classes:
        raise _invalid("classes", _("Name at least one object class."), "invalid_classes")
    out["classes"] = classes
    for f, lo, hi in (
        ("min_confidence", 0.0, 1.0),
        ("min_count", 1, 10000),
        ("dwell_minutes", 0.0, 7 * 24 * 60),
        ("clear_minutes", 0.0, 24 * 60),
    ):
        v = values.get(f)
        if v in (None, ""):
            v = d[f]
        try:
            v = int(v) if f == "min_count" else float(v)
        except (TypeError, ValueError):
            raise _invalid(f, _("Not a number."), "invalid_number") from None
        if not lo <= v <= hi:
            raise _invalid(
                f, _("Between %(lo)s and %(hi)s.") % {"lo": lo, "hi": hi}, "out_of_range"
            )
        out[f] = v
    cat = (values.get("category_code") or d["category_code"]).strip()
    if not Category.objects.filter(code=cat, is_active=True, parent__isnull=False).exists():
        raise _invalid("category_code", _("Choose a small category (小类)."), "invalid_category")
    out["category_code"] = cat
    try:
        out["urgency"] = Urgency(values.get("urgency") or d["urgency"])
    except ValueError:
        raise _invalid("urgency", _("Unknown urgency."), "invalid_urgency") from None
    out["active"] = bool(values.get("active", True))
    return out


RULE_FIELDS = ("kind", "classes", "min_confidence", "min_count", "polygon")


@transaction.atomic
def zone_save(*, actor, camera: Camera, zone: Zone | None = None, **values) -> Zone:
    """Create a zone on the camera (``zone`` None) or change one. A changed outline or rule
    starts the zone's occupancy afresh; an open episode stays open."""
    require(actor, Perm.SENSING_MANAGE)
    cam = _locked(actor, camera)
    name = (values.get("name") or "").strip()[:60]
    if not name:
        raise _invalid("name", _("Give the zone a name."), "name_required")
    clean = {"name": name, "polygon": _clean_polygon(values.get("polygon")), **_clean_rule(values)}
    if zone is None:
        z = Zone(camera=cam)
    else:
        z = Zone.objects.select_for_update().filter(pk=zone.pk, camera=cam).first()
        if z is None:
            raise NotFound(_("No such zone."))
    if Zone.objects.filter(camera=cam, name=name).exclude(pk=z.pk).exists():
        raise _invalid("name", _("The camera has a zone of this name."), "name_taken")
    changed = sorted(f for f, v in clean.items() if getattr(z, f, None) != v)
    if z.pk is not None and any(f in RULE_FIELDS for f in changed):
        z.presence_since = z.last_present_at = z.clear_since = z.last_frame_at = None
    for f, v in clean.items():
        setattr(z, f, v)
    try:
        with transaction.atomic():
            z.save()
    except IntegrityError:
        raise Conflict(_("The camera has a zone of this name."), code="name_taken") from None
    audit.record(
        actor=actor,
        action="cameras.zone_save",
        obj=z,
        details={"camera": cam.code, "zone": z.name, "kind": z.kind, "changed": changed},
    )
    return z
