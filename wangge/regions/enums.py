from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    CITY = "city", _("City")
    DISTRICT = "district", _("District/county")
    STREET = "street", _("Street/town")
    COMMUNITY = "community", _("Community/village")
    GRID = "grid", _("Grid")
    MICRO = "micro", _("Micro-grid")


REGION_LEVELS = (Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY)


class GridKind(models.TextChoices):
    GENERAL = "general", _("General grid")
    MICRO = "micro", _("Micro-grid")
    EXCLUSIVE = "exclusive", _("Exclusive grid")


class ExclusiveType(models.TextChoices):
    SCHOOL = "school", _("School")
    HOSPITAL = "hospital", _("Hospital")
    MARKET = "market", _("Market")
    INDUSTRIAL_PARK = "industrial_park", _("Industrial park")
    BUILDING_SITE = "building_site", _("Building site")
    PARK = "park", _("Park")
    OTHER = "other", _("Other")
