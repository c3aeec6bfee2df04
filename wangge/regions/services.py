"""Writes to the place tree: bulk loads (demo), GeoJSON import, and the locator's version."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.core import audit
from wangge.core.errors import ValidationError
from wangge.regions import codes as C
from wangge.regions import locator
from wangge.regions.enums import ExclusiveType, GridKind, Level
from wangge.regions.geometry import derived_fields, from_geojson_text, to_geojson_text
from wangge.regions.models import GeometryVersion, Grid, Region, Zone
from wangge.regions.synth import PlaceSpec

BATCH = 2_000
# Shared edges of neighbouring grids intersect in a line; only an overlap of more than this
# fraction of the smaller polygon's area counts as two siblings claiming the same ground.
OVERLAP_TOLERANCE = 1e-4
# A grid may stick out of its parent by this fraction of its own area (digitising noise).
OUTSIDE_TOLERANCE = 0.01


def geometry_version_bump() -> None:
    """Record that polygons changed; every process's locator rebuilds on its next use."""
    updated = GeometryVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        GeometryVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    transaction.on_commit(locator.reset)


# --- bulk load (the demo generator) --------------------------------------------------------
def places_bulk_create(*, actor, specs: Iterable[PlaceSpec]) -> dict[str, int]:
    """Insert regions and grids given parent-first; rows whose code exists are skipped.

    Parents must come before their children (in ``specs`` or already in the database).
    Runs in the caller's transaction; bumps the geometry version.
    """
    require(actor, Perm.PLACES_IMPORT)
    specs = list(specs)
    region_ids: dict[str, int] = {}
    grid_ids: dict[str, int] = {}
    codes_needed = {s.parent_code for s in specs if s.parent_code} | {s.code for s in specs}
    for code, pk in Region.objects.filter(code__in=codes_needed).values_list("code", "id"):
        region_ids[code] = pk
    for code, pk in Grid.objects.filter(code__in=codes_needed).values_list("code", "id"):
        grid_ids[code] = pk
    counts = {"regions": 0, "grids": 0}

    def flush(model, rows: list, ids: dict[str, int]) -> None:
        if not rows:
            return
        model.objects.bulk_create(rows, batch_size=BATCH)
        for code, pk in model.objects.filter(code__in=[r.code for r in rows]).values_list(
            "code", "id"
        ):
            ids[code] = pk
        counts["regions" if model is Region else "grids"] += len(rows)
        rows.clear()

    # Group by level so each level's parents are flushed (and have ids) before children.
    order = [Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID, Level.MICRO]
    for level in order:
        rows: list = []
        model = Grid if level in (Level.GRID, Level.MICRO) else Region
        ids = grid_ids if model is Grid else region_ids
        for s in specs:
            if s.level != level or s.code in ids:
                continue
            geo = (
                {"geometry": to_geojson_text(s.geom), **derived_fields(s.geom)}
                if s.geom is not None
                else {}
            )
            if model is Region:
                rows.append(
                    Region(
                        code=s.code,
                        name=s.name,
                        level=s.level,
                        parent_id=region_ids.get(s.parent_code) if s.parent_code else None,
                        **geo,
                    )
                )
            else:
                community = s.code[:12]
                rows.append(
                    Grid(
                        code=s.code,
                        name=s.name,
                        level=s.level,
                        kind=s.kind,
                        subtype=s.subtype,
                        community_id=region_ids[community],
                        parent_id=grid_ids[s.parent_code] if s.kind == GridKind.MICRO else None,
                        **geo,
                    )
                )
            if len(rows) >= BATCH * 5:
                flush(model, rows, ids)
        flush(model, rows, ids)
    if counts["regions"] or counts["grids"]:
        geometry_version_bump()
    return counts


def zones_save(*, actor, zones: Sequence[tuple[str, str, Sequence[str]]]) -> int:
    """Create or update functional zones and the streets each takes over."""
    require(actor, Perm.PLACES_IMPORT)
    n = 0
    for code, name, street_codes in zones:
        zone, _created = Zone.objects.update_or_create(code=code, defaults={"name": name})
        zone.streets.set(Region.objects.filter(code__in=street_codes, level=Level.STREET))
        n += 1
    return n


# --- GeoJSON import ------------------------------------------------------------------------
@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class _Feature:
    index: int
    code: str
    name: str
    kind: str
    subtype: str
    geom: Any
    text: str

    @property
    def parent_code(self) -> str:
        return self.code[:15] if self.kind == GridKind.MICRO else self.code[:12]


def _feature_kind(code: str, props: dict) -> str:
    kind = str(props.get("kind") or "").strip()
    if kind:
        return kind
    if len(code) == 18:
        return GridKind.MICRO
    if props.get("subtype") or (code[-3:].isdigit() and int(code[-3:]) >= C.EXCLUSIVE_FIRST_NUMBER):
        return GridKind.EXCLUSIVE
    return GridKind.GENERAL


def _parse_features(data: Any) -> tuple[list[_Feature], list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []

    def err(i: int, code: str | None, reason: str) -> None:
        errors.append({"index": i, "code": code, "reason": reason})

    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ValidationError(_("The file is not a GeoJSON FeatureCollection."))
    raw = data.get("features")
    if not isinstance(raw, list):
        raise ValidationError(_("The FeatureCollection has no list of features."))
    feats: list[_Feature] = []
    seen: dict[str, int] = {}
    for i, f in enumerate(raw):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            err(i, None, _("not a GeoJSON Feature"))
            continue
        props = f.get("properties") or {}
        code = C.normalize(props.get("code") or "")
        if not code:
            err(i, None, _("no code in the feature's properties"))
            continue
        if not code.isdigit() or len(code) not in (15, 18) or not code.startswith(C.CITY_CODE):
            err(
                i,
                code,
                _("a grid code has 15 digits (micro-grid: 18) and starts with %(city)s")
                % {"city": C.CITY_CODE},
            )
            continue
        if code in seen:
            err(i, code, _("duplicate code: feature %(j)d has it too") % {"j": seen[code]})
            continue
        seen[code] = i
        kind = _feature_kind(code, props)
        subtype = str(props.get("subtype") or "").strip()
        name = str(props.get("name") or "").strip()
        if kind not in GridKind.values:
            err(i, code, _("unknown kind %(kind)s") % {"kind": kind})
            continue
        number = int(code[-3:])
        if number == 0:
            err(i, code, _("the last three digits of a code are 001–999"))
            continue
        if kind == GridKind.MICRO and len(code) != 18:
            err(i, code, _("a micro-grid code has 18 digits"))
            continue
        if kind != GridKind.MICRO and len(code) != 15:
            err(i, code, _("a general or exclusive grid code has 15 digits"))
            continue
        if kind == GridKind.EXCLUSIVE:
            if number < C.EXCLUSIVE_FIRST_NUMBER:
                err(
                    i,
                    code,
                    _("exclusive grids are numbered from %(n)d within their community")
                    % {"n": C.EXCLUSIVE_FIRST_NUMBER},
                )
                continue
            if subtype not in ExclusiveType.values:
                err(
                    i,
                    code,
                    _("an exclusive grid needs a subtype, one of: %(types)s")
                    % {"types": ", ".join(ExclusiveType.values)},
                )
                continue
        elif subtype:
            err(i, code, _("only exclusive grids have a subtype"))
            continue
        elif kind == GridKind.GENERAL and number >= C.EXCLUSIVE_FIRST_NUMBER:
            err(
                i,
                code,
                _("general grids are numbered below %(n)d") % {"n": C.EXCLUSIVE_FIRST_NUMBER},
            )
            continue
        stated_parent = C.normalize(props.get("parent") or "")
        expected_parent = code[:15] if kind == GridKind.MICRO else code[:12]
        if stated_parent and stated_parent != expected_parent:
            err(
                i,
                code,
                _("the code does not fit its parent %(parent)s (it must start with it)")
                % {"parent": stated_parent},
            )
            continue
        if not name:
            err(i, code, _("no name"))
            continue
        geom_json = f.get("geometry")
        if not isinstance(geom_json, dict) or geom_json.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            err(i, code, _("the geometry must be a Polygon or MultiPolygon"))
            continue
        try:
            geom = from_geojson_text(json.dumps(geom_json))
        except Exception as exc:  # malformed coordinates of any shape
            err(i, code, _("the geometry cannot be read: %(reason)s") % {"reason": exc})
            continue
        if geom.is_empty:
            err(i, code, _("the polygon is empty"))
            continue
        if not geom.is_valid:
            err(
                i,
                code,
                _("invalid polygon: %(reason)s") % {"reason": shapely.is_valid_reason(geom)},
            )
            continue
        if geom.area == 0:
            err(i, code, _("the polygon has no area"))
            continue
        min_x, min_y, max_x, max_y = geom.bounds
        if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
            err(i, code, _("coordinates out of range (WGS-84 longitude, latitude expected)"))
            continue
        feats.append(_Feature(i, code, name, kind, subtype, geom, to_geojson_text(geom)))
    return feats, errors


def _check_tree(feats: list[_Feature], errors: list[dict[str, Any]]) -> None:
    """Parents exist and contain their children; siblings of one class do not overlap."""
    by_code = {f.code: f for f in feats}
    communities = {
        code: geom
        for code, geom in Region.objects.filter(
            code__in={f.code[:12] for f in feats}, level=Level.COMMUNITY
        ).values_list("code", "geometry")
    }
    db_grids = {
        code: (kind, geom)
        for code, kind, geom in Grid.objects.filter(
            code__in={f.code[:15] for f in feats if f.kind == GridKind.MICRO}
        ).values_list("code", "kind", "geometry")
    }
    parent_geom: dict[int, Any] = {}
    for f in feats:
        pc = f.parent_code
        if f.kind == GridKind.MICRO:
            if pc in by_code:
                pkind, pgeom = by_code[pc].kind, by_code[pc].geom
            elif pc in db_grids:
                pkind, pgeom = (
                    db_grids[pc][0],
                    (from_geojson_text(db_grids[pc][1]) if db_grids[pc][1] else None),
                )
            else:
                errors.append(
                    {
                        "index": f.index,
                        "code": f.code,
                        "reason": _("parent grid %(p)s does not exist") % {"p": pc},
                    }
                )
                continue
            if pkind != GridKind.GENERAL:
                errors.append(
                    {
                        "index": f.index,
                        "code": f.code,
                        "reason": _("the code does not fit its parent: %(p)s is not a general grid")
                        % {"p": pc},
                    }
                )
                continue
        else:
            if pc not in communities:
                errors.append(
                    {
                        "index": f.index,
                        "code": f.code,
                        "reason": _("parent community %(p)s does not exist") % {"p": pc},
                    }
                )
                continue
            pgeom = from_geojson_text(communities[pc]) if communities[pc] else None
        if pgeom is not None:
            parent_geom[f.index] = pgeom
            outside = f.geom.difference(pgeom).area
            if outside > OUTSIDE_TOLERANCE * f.geom.area:
                errors.append(
                    {
                        "index": f.index,
                        "code": f.code,
                        "reason": _("%(pct).0f%% of the polygon lies outside its parent %(p)s")
                        % {"pct": 100 * outside / f.geom.area, "p": pc},
                    }
                )

    # Siblings: features of the file plus grids already stored under the same parents, minus
    # those the file replaces.
    def klass(kind: str) -> str:
        return "exclusive" if kind == GridKind.EXCLUSIVE else kind

    groups = {(f.parent_code, klass(f.kind)) for f in feats}
    stored: list[tuple[str, str, Any]] = []
    parents = {g[0] for g in groups}
    for prefix in parents:
        depth = 18 if len(prefix) == 15 else 15
        for code, kind, geom in Grid.objects.filter(**C.prefix_filter(prefix)).values_list(
            "code", "kind", "geometry"
        ):
            if len(code) == depth and code not in by_code and geom:
                stored.append((code, kind, from_geojson_text(geom)))
    items = [(f.code, f.kind, f.geom, f.index) for f in feats] + [
        (c, k, g, None) for c, k, g in stored
    ]
    if len(items) < 2:
        return
    geoms = np.array([it[2] for it in items], dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    same = np.array(
        [
            items[a][0][:-3] == items[b][0][:-3] and klass(items[a][1]) == klass(items[b][1])
            for a, b in zip(left, right, strict=True)
        ],
        dtype=bool,
    )
    if len(same):
        left, right = left[same], right[same]
    if not len(left):
        return
    inter = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    for a, b, area, small in zip(left, right, inter, smaller, strict=True):
        if area > OVERLAP_TOLERANCE * small:
            fa, fb = items[a], items[b]
            target, other = (fa, fb) if fa[3] is not None else (fb, fa)
            errors.append(
                {
                    "index": target[3],
                    "code": target[0],
                    "reason": _("overlaps its sibling %(other)s (%(pct).1f%% of the smaller)")
                    % {"other": other[0], "pct": 100 * area / small},
                }
            )


@transaction.atomic
def grids_import(*, actor, data: Any) -> ImportReport:
    """Validate every feature first; write nothing if any is invalid. Idempotent."""
    require(actor, Perm.PLACES_IMPORT)
    feats, errors = _parse_features(data)
    if feats:
        _check_tree(feats, errors)
    if errors:
        errors.sort(key=lambda e: (e["index"], e["reason"]))
        raise ValidationError(
            _("%(n)d of %(total)d features are invalid; nothing was imported.")
            % {"n": len({e["index"] for e in errors}), "total": len(data.get("features", []))},
            code="import_invalid",
            details=errors,
        )
    report = ImportReport()
    existing = {g.code: g for g in Grid.objects.filter(code__in=[f.code for f in feats])}
    communities = dict(
        Region.objects.filter(code__in={f.code[:12] for f in feats}).values_list("code", "id")
    )
    # Parents first, so micro-grids find the general grid created a moment before.
    for f in sorted(feats, key=lambda f: (len(f.code), f.code)):
        fields = {
            "name": f.name,
            "kind": f.kind,
            "subtype": f.subtype,
            "level": Level.MICRO if f.kind == GridKind.MICRO else Level.GRID,
            "geometry": f.text,
            **derived_fields(f.geom),
        }
        g = existing.get(f.code)
        if g is None:
            parent_id = None
            if f.kind == GridKind.MICRO:
                parent_id = Grid.objects.only("id").get(code=f.parent_code).id
            Grid.objects.create(
                code=f.code, community_id=communities[f.code[:12]], parent_id=parent_id, **fields
            )
            report.created += 1
        elif (g.name, g.kind, g.subtype, g.geometry) == (f.name, f.kind, f.subtype, f.text):
            report.unchanged += 1
        else:
            for k, v in fields.items():
                setattr(g, k, v)
            g.save()
            report.updated += 1
    if report.created or report.updated:
        geometry_version_bump()
    audit.record(
        actor=actor,
        action="places.import",
        object_type="regions.grid",
        details={**report.as_dict(), "features": len(feats)},
    )
    return report


def grids_export(*, actor, code: str, kinds: list[str] | None = None) -> dict[str, Any]:
    """The grids under a node as GeoJSON, for a file; every export is audited."""
    from wangge.regions.selectors import grids_geojson

    fc = grids_geojson(actor=actor, code=code, kinds=kinds)
    audit.record(
        actor=actor,
        action="export.grids",
        object_type="regions.grid",
        object_id=code,
        details={"kinds": kinds or [], "features": len(fc["features"])},
    )
    return fc
