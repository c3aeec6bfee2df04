from django.db import models
from django.utils.translation import gettext_lazy as _


class BuildingKind(models.TextChoices):
    RESIDENTIAL = "residential", _("Residential")
    MIXED = "mixed", _("Mixed use")
    BUNGALOW = "bungalow", _("Bungalow / courtyard")
    COMMERCIAL = "commercial", _("Commercial")
    OTHER = "other", _("Other")


class HouseUse(models.TextChoices):
    SELF_OCCUPIED = "self_occupied", _("Self-occupied")
    RENTED = "rented", _("Rented")
    VACANT = "vacant", _("Vacant")
    COMMERCIAL = "commercial", _("Commercial")
    GROUP_RENTED = "group_rented", _("Group-rented")


class Registration(models.TextChoices):
    HOUSEHOLD = "household", _("Registered (户籍)")
    FLOATING = "floating", _("Floating (流动)")
    OVERSEAS = "overseas", _("Overseas (境外)")


class Relation(models.TextChoices):
    HEAD = "head", _("Household head")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    GRANDCHILD = "grandchild", _("Grandchild")
    RELATIVE = "relative", _("Other relative")
    TENANT = "tenant", _("Tenant")


class CareLevel(models.TextChoices):
    RED = "red", _("Red")
    YELLOW = "yellow", _("Yellow")
    GREEN = "green", _("Green")


# Visit frequency a care level sets (days between visits); the care issue uses it.
CARE_VISIT_DAYS = {CareLevel.RED: 7, CareLevel.YELLOW: 30, CareLevel.GREEN: 90}


class PersonalField(models.TextChoices):
    ID_NUMBER = "id_number", _("ID number")
    PHONE = "phone", _("Phone")
    NAME = "name", _("Full name")
