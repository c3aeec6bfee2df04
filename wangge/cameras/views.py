"""The camera pages: the list and a camera's page (zones, recent frames, episodes and their
events) for posts that see sensing; registration, editing, keys, snapshots and the zone editor
for posts that manage it. Reads go through the selectors, writes through the services."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from wangge.cameras import selectors, services
from wangge.cameras.enums import KIND_DEFAULTS, EpisodeState, ZoneKind
from wangge.cameras.forms import CameraForm, SnapshotForm, ZoneForm
from wangge.core.errors import ApplicationError
from wangge.regions import codes as C

PAGE_SIZE = 25


def _need(ok: bool) -> None:
    if not ok:
        raise Http404


def _camera_or_404(post, camera_id):
    try:
        return selectors.camera_get(actor=post, camera_id=camera_id)
    except ApplicationError:
        raise Http404 from None


def _form_errors(form, exc: ApplicationError) -> None:
    fields = (exc.details or {}).get("fields", {}) if isinstance(exc.details, dict) else {}
    placed = False
    for name, msg in fields.items():
        if name in form.fields:
            form.add_error(name, str(msg))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _query(request, *drop: str) -> str:
    q = request.GET.copy()
    for k in ("page", *drop):
        q.pop(k, None)
    return q.urlencode()


# --- list and detail ------------------------------------------------------------------------------
def camera_list(request):
    post = request.post
    _need(selectors.may_view(actor=post))
    g = request.GET
    f = {
        "q": g.get("q", "").strip(),
        "grid": C.normalize(g.get("grid", "") or ""),
        "status": g.get("status", ""),
        "vendor": g.get("vendor", "").strip(),
    }
    qs = selectors.camera_list(actor=post, filters=f)
    page = Paginator(qs, PAGE_SIZE).get_page(g.get("page"))
    cams = list(page)
    open_eps = set(selectors.open_episode_cameras(actor=post, camera_ids=[c.pk for c in cams]))
    return render(
        request,
        "cameras/list.html",
        {
            "f": f,
            "page": page,
            "cameras": cams,
            "open_eps": open_eps,
            "query": _query(request),
            "may_manage": selectors.may_manage(actor=post),
        },
    )


def camera_detail(request, camera_id: int):
    post = request.post
    _need(selectors.may_view(actor=post))
    cam = _camera_or_404(post, camera_id)
    zones = selectors.camera_zones(actor=post, camera=cam)
    episodes = Paginator(selectors.camera_episodes(actor=post, camera=cam), 10).get_page(
        request.GET.get("epage")
    )
    detections = Paginator(selectors.camera_detections(actor=post, camera=cam), 20).get_page(
        request.GET.get("dpage")
    )
    names = {z.pk: z.name for z in zones}
    for d in detections:
        d.zone_names = [names.get(z, "?") for z in d.present]
    return render(
        request,
        "cameras/detail.html",
        {
            "cam": cam,
            "zones": zones,
            "episodes": episodes,
            "detections": detections,
            "open_state": EpisodeState.OPEN,
            "may_manage": selectors.may_manage(actor=post),
            "equery": _query(request, "epage"),
            "dquery": _query(request, "dpage"),
        },
    )


# --- registering and editing ----------------------------------------------------------------------
def _camera_values(form) -> dict:
    d = form.cleaned_data
    return {k: d.get(k) for k in services.CAMERA_FIELDS}


def camera_create(request):
    post = request.post
    _need(selectors.may_manage(actor=post))
    form = CameraForm(request.POST or None, initial={"active": True})
    if request.method == "POST" and form.is_valid():
        try:
            cam, key = services.camera_register(
                actor=post, code=form.cleaned_data["code"], **_camera_values(form)
            )
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            return render(request, "cameras/key.html", {"cam": cam, "key": key, "new": True})
    status = 422 if request.method == "POST" else 200
    return render(request, "cameras/form.html", {"form": form, "cam": None}, status=status)


def camera_edit(request, camera_id: int):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    initial = {f: getattr(cam, f) for f in ("code", *services.CAMERA_FIELDS)}
    form = CameraForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.camera_update(actor=post, camera=cam, **_camera_values(form))
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Camera saved."))
            return redirect("cameras:detail", cam.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "cameras/form.html", {"form": form, "cam": cam}, status=status)


@require_POST
def camera_rotate_key(request, camera_id: int):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    cam, key = services.camera_rotate_key(actor=post, camera=cam)
    return render(request, "cameras/key.html", {"cam": cam, "key": key, "new": False})


@require_POST
def camera_disable(request, camera_id: int):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    services.camera_disable(actor=post, camera=cam)
    messages.success(request, _("Camera disabled: its key is refused from now on."))
    return redirect("cameras:detail", cam.pk)


# --- snapshots ------------------------------------------------------------------------------------
def _file(path, content_type="image/jpeg"):
    if not path.is_file():
        raise Http404
    resp = FileResponse(open(path, "rb"), content_type=content_type)
    resp["Cache-Control"] = "private, max-age=3600"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


def _content_type(rel: str) -> str:
    return {"png": "image/png", "webp": "image/webp"}.get(rel.rsplit(".", 1)[-1], "image/jpeg")


def camera_snapshot(request, camera_id: int):
    post = request.post
    _need(selectors.may_view(actor=post))
    cam = _camera_or_404(post, camera_id)
    _need(bool(cam.snapshot))
    return _file(services.snapshot_path(cam.snapshot), _content_type(cam.snapshot))


def episode_snapshot(request, episode_id: int, which: str):
    try:
        ep = selectors.episode_get(actor=request.post, episode_id=episode_id)
    except ApplicationError:
        raise Http404 from None
    rel = ep.open_snapshot if which == "open" else ep.close_snapshot
    _need(bool(rel))
    return _file(services.snapshot_path(rel), _content_type(rel))


@require_POST
def snapshot_upload(request, camera_id: int):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    form = SnapshotForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a picture to upload."))
    else:
        try:
            services.camera_snapshot_set(actor=post, camera=cam, data=form.cleaned_data["image"])
            messages.success(request, _("Picture saved; draw the zones on it."))
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect(_back(request, cam))


@require_POST
def snapshot_fetch(request, camera_id: int):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    try:
        services.camera_snapshot_fetch(actor=post, camera=cam)
        messages.success(request, _("Picture fetched from the camera."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(_back(request, cam))


def _back(request, cam) -> str:
    zone = request.POST.get("zone", "")
    if zone.isdigit():
        return reverse("cameras:zone_edit", args=[cam.pk, int(zone)])
    return reverse("cameras:zone_new", args=[cam.pk])


# --- zones ----------------------------------------------------------------------------------------
def _points_text(points) -> str:
    return "; ".join(f"{x:g},{y:g}" for x, y in points)


def zone_edit(request, camera_id: int, zone_id: int | None = None):
    post = request.post
    _need(selectors.may_manage(actor=post))
    cam = _camera_or_404(post, camera_id)
    zone = None
    if zone_id is not None:
        try:
            zone = selectors.zone_get(actor=post, camera=cam, zone_id=zone_id)
        except ApplicationError:
            raise Http404 from None
        initial = {
            "name": zone.name,
            "kind": zone.kind,
            "polygon": _points_text(zone.polygon),
            "classes": ", ".join(zone.classes),
            "min_confidence": zone.min_confidence,
            "min_count": zone.min_count,
            "dwell_minutes": zone.dwell_minutes,
            "clear_minutes": zone.clear_minutes,
            "category_code": zone.category_code,
            "urgency": zone.urgency,
            "active": zone.active,
        }
    else:
        d = KIND_DEFAULTS[ZoneKind.VEHICLE_IN_FIRE_LANE]
        initial = {"kind": ZoneKind.VEHICLE_IN_FIRE_LANE, "active": True, **d}
        initial["classes"] = ", ".join(d["classes"])
    form = ZoneForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            zone = services.zone_save(actor=post, camera=cam, zone=zone, **values)
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Zone saved."))
            return redirect("cameras:detail", cam.pk)
    others = [z for z in selectors.camera_zones(actor=post, camera=cam) if z != zone]
    return render(
        request,
        "cameras/zone.html",
        {
            "cam": cam,
            "zone": zone,
            "form": form,
            "others": [{"name": z.name, "points": z.polygon} for z in others],
            "defaults": {k: {**v, "urgency": str(v["urgency"])} for k, v in KIND_DEFAULTS.items()},
            "snapshot_form": SnapshotForm(),
        },
        status=422 if request.method == "POST" else 200,
    )
