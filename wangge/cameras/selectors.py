"""Reads of the camera registry, always through the acting post's scope: a post sees the cameras
of its subtree (and what they saw); missing and out of scope are the same 404."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.cameras.models import Camera, Detection, Episode, Zone
from wangge.core.errors import NotFound
from wangge.regions import codes as C


def may_view(*, actor) -> bool:
    return actor is SYSTEM or has_perm(actor, Perm.SENSING_VIEW) or may_manage(actor=actor)


def may_manage(*, actor) -> bool:
    return actor is SYSTEM or has_perm(actor, Perm.SENSING_MANAGE)


def _visible(actor) -> QuerySet[Camera]:
    if not may_view(actor=actor):
        return Camera.objects.none()
    return scope_for(actor).filter(Camera.objects.all(), "grid_code")


def camera_list(*, actor, filters: dict | None = None) -> QuerySet[Camera]:
    """Cameras in scope; filters: q (code, name or address), grid (code prefix), status
    (active, inactive, offline), vendor."""
    f = filters or {}
    qs = _visible(actor)
    if f.get("q"):
        q = f["q"].strip()
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(address__icontains=q))
    if f.get("grid"):
        qs = qs.filter(**C.prefix_filter(C.normalize(f["grid"]), "grid_code"))
    status = f.get("status") or ""
    if status == "active":
        qs = qs.filter(active=True)
    elif status == "inactive":
        qs = qs.filter(active=False)
    elif status == "offline":
        qs = qs.filter(active=True, offline=True)
    if f.get("vendor"):
        qs = qs.filter(vendor__iexact=f["vendor"].strip())
    return qs.order_by("code")


def camera_get(*, actor, camera_id) -> Camera:
    try:
        pk = int(camera_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such camera.")) from None
    cam = _visible(actor).filter(pk=pk).first()
    if cam is None:
        raise NotFound(_("No such camera."))
    return cam


def camera_zones(*, actor, camera: Camera) -> list[Zone]:
    camera_get(actor=actor, camera_id=camera.pk)
    return list(camera.zones.order_by("name"))


def zone_get(*, actor, camera: Camera, zone_id) -> Zone:
    camera_get(actor=actor, camera_id=camera.pk)
    try:
        z = camera.zones.filter(pk=int(zone_id)).first()
    except (TypeError, ValueError):
        z = None
    if z is None:
        raise NotFound(_("No such zone."))
    return z


def camera_detections(*, actor, camera: Camera) -> QuerySet[Detection]:
    camera_get(actor=actor, camera_id=camera.pk)
    return camera.detections.order_by("-at", "-id")


def camera_episodes(*, actor, camera: Camera) -> QuerySet[Episode]:
    camera_get(actor=actor, camera_id=camera.pk)
    return camera.episodes.select_related("zone", "event").order_by("-opened_at", "-id")


def episode_get(*, actor, episode_id) -> Episode:
    try:
        pk = int(episode_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such episode.")) from None
    ep = Episode.objects.select_related("camera", "zone", "event").filter(pk=pk).first()
    if ep is None or not may_view(actor=actor) or not scope_for(actor).covers(ep.camera.grid_code):
        raise NotFound(_("No such episode."))
    return ep


def open_episode_cameras(*, actor, camera_ids: list[int]) -> list[int]:
    """Which of these cameras (in scope) have an open episode now."""
    visible = _visible(actor).filter(pk__in=camera_ids).values("pk")
    return list(
        Episode.objects.filter(camera_id__in=visible, state="open")
        .values_list("camera_id", flat=True)
        .distinct()
    )
