"""Person–house data: buildings, houses (households) and residents, with tags and care levels.

Every row carries the code of its grid (the micro-grid where there is one), so a scope's rows
are one indexed prefix query away. ID numbers and phone numbers are stored only encrypted
(``*_enc``, see ``crypto.py``) with a keyed blind index (``*_index``) for exact search.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.people.enums import BuildingKind, CareLevel, HouseUse, Registration, Relation
from wangge.people.idcard import Sex


class Building(models.Model):
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    address = models.CharField(_("address"), max_length=200)
    name = models.CharField(_("building"), max_length=50)
    kind = models.CharField(
        _("kind"), max_length=20, choices=BuildingKind.choices, default=BuildingKind.RESIDENTIAL
    )
    floors = models.PositiveSmallIntegerField(_("floors"), default=1)
    lon = models.FloatField(_("longitude"))
    lat = models.FloatField(_("latitude"))

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        constraints = [models.UniqueConstraint(fields=["address"], name="building_address_unique")]

    def __str__(self) -> str:
        return self.address


class House(models.Model):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="houses")
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    unit = models.CharField(_("unit"), max_length=10, blank=True)
    floor = models.SmallIntegerField(_("floor"), default=1)
    room = models.CharField(_("room"), max_length=10)
    use = models.CharField(
        _("use"), max_length=20, choices=HouseUse.choices, default=HouseUse.SELF_OCCUPIED
    )
    head = models.ForeignKey(
        "Resident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("household head"),
    )

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")
        constraints = [
            models.UniqueConstraint(fields=["building", "unit", "room"], name="house_room_unique")
        ]

    def __str__(self) -> str:
        unit = f"{self.unit}单元" if self.unit else ""
        return f"{self.building.address}{unit}{self.room}室"


class Tag(models.Model):
    """A vulnerable group or other label. Sensitive tags are visible only to posts with the
    ``people.sensitive`` permission: for anyone else they do not exist."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=80)
    sensitive = models.BooleanField(_("sensitive"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Resident(models.Model):
    house = models.ForeignKey(
        House, null=True, blank=True, on_delete=models.PROTECT, related_name="residents"
    )
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    name = models.CharField(_("name"), max_length=50, db_index=True)
    # pinyin initials of the name (王秀英 → wxy), for search; see pinyin.py
    name_initials = models.CharField(max_length=20, blank=True, db_index=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    id_number_enc = models.TextField(blank=True)
    id_number_index = models.CharField(max_length=64, blank=True, db_index=True)
    phone_enc = models.TextField(blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    registration = models.CharField(
        _("registration"),
        max_length=20,
        choices=Registration.choices,
        default=Registration.HOUSEHOLD,
    )
    relation = models.CharField(
        _("relation to the head"), max_length=20, choices=Relation.choices, default=Relation.HEAD
    )
    moved_in = models.DateField(_("moved in"), null=True, blank=True)
    moved_out = models.DateField(_("moved out"), null=True, blank=True)
    # Emergency contacts hold names and phones: stored encrypted as one JSON token.
    contacts_enc = models.TextField(blank=True)
    care_level = models.CharField(
        _("care level"), max_length=10, choices=CareLevel.choices, blank=True
    )
    tags = models.ManyToManyField(Tag, through="ResidentTag", related_name="residents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        constraints = [
            # one person, one record: the ID number's blind index is unique when present
            models.UniqueConstraint(
                fields=["id_number_index"],
                condition=~models.Q(id_number_index=""),
                name="resident_id_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"resident {self.pk}"


class ResidentTag(models.Model):
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resident", "tag"], name="resident_tag_unique")
        ]

    def __str__(self) -> str:
        return f"{self.resident_id}:{self.tag_id}"


class CareAssessment(models.Model):
    """One assessment of a resident's care level; the newest is the resident's current one."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="assessments")
    level = models.CharField(_("care level"), max_length=10, choices=CareLevel.choices)
    reason = models.CharField(_("reason"), max_length=300)
    assessor = models.ForeignKey(
        "accounts.Post", null=True, on_delete=models.PROTECT, related_name="+"
    )
    assessed_at = models.DateTimeField(_("assessed at"), auto_now_add=True)

    class Meta:
        ordering = ["-assessed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.level} ({self.assessed_at:%Y-%m-%d})"


class UnmaskApproval(models.Model):
    """The community secretary's approval to unmask a child's record (under 14)."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="approvals")
    post = models.ForeignKey("accounts.Post", on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey("accounts.Post", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"approval for resident {self.resident_id} until {self.expires_at:%Y-%m-%d %H:%M}"
