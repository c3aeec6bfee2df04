"""The place tree: regions (city → district → street → community) and grids below them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.regions.codes import format_code
from wangge.regions.enums import ExclusiveType, GridKind, Level


class Place(models.Model):
    """Fields shared by every node of the tree. ``code`` is the path (see ``codes.py``)."""

    code = models.CharField(_("code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices)
    # The polygon as GeoJSON geometry text (Polygon or MultiPolygon, WGS-84 lon/lat), and the
    # columns derived from it so lists and maps need not parse it.
    geometry = models.TextField(_("boundary (GeoJSON)"), blank=True, default="")
    min_lon = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lon = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    centroid_lon = models.FloatField(null=True, blank=True)
    centroid_lat = models.FloatField(null=True, blank=True)
    area_km2 = models.FloatField(_("area (km²)"), default=0)
    # Filled by the person–house data (later issues); zero until then.
    households = models.PositiveIntegerField(_("households"), default=0)
    residents = models.PositiveIntegerField(_("residents"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({format_code(self.code)})"

    @property
    def display_code(self) -> str:
        return format_code(self.code)

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        if self.min_lon is None:
            return None
        return (self.min_lon, self.min_lat, self.max_lon, self.max_lat)


class Region(Place):
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta(Place.Meta):
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__in=["city", "district", "street", "community"]),
                name="region_level_valid",
            ),
        ]


class Grid(Place):
    """A general, micro or exclusive grid. General and exclusive grids hang under a community;
    micro-grids under a general grid. ``community`` is denormalised for every kind."""

    kind = models.CharField(_("kind"), max_length=12, choices=GridKind.choices)
    subtype = models.CharField(
        _("exclusive grid type"), max_length=20, choices=ExclusiveType.choices, blank=True
    )
    community = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="grids", verbose_name=_("community")
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta(Place.Meta):
        verbose_name = _("grid")
        verbose_name_plural = _("grids")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="micro", level="micro", parent__isnull=False, subtype="")
                    | models.Q(kind="general", level="grid", parent__isnull=True, subtype="")
                    | (
                        models.Q(kind="exclusive", level="grid", parent__isnull=True)
                        & ~models.Q(subtype="")
                    )
                ),
                name="grid_kind_shape",
            ),
        ]


class Zone(models.Model):
    """A functional zone managed like a district (e.g. 成都高新区): a management overlay that
    takes over some streets of the statutory tree without replacing it."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    streets = models.ManyToManyField(
        Region,
        related_name="zones",
        limit_choices_to={"level": "street"},
        verbose_name=_("streets"),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("functional zone")
        verbose_name_plural = _("functional zones")

    def __str__(self) -> str:
        return self.name


class GeometryVersion(models.Model):
    """A counter bumped by every write to grid or region polygons; the in-process locator
    compares it to the version it was built from and rebuilds when they differ."""

    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"geometry version {self.version}"
