from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role
from wangge.regions.enums import Level


class WorkerKind(models.TextChoices):
    FULL_TIME = "full_time", _("Full-time grid worker (专职网格员)")
    MICRO = "micro", _("Micro-grid worker (微网格员)")
    CADRE = "cadre", _("Sunk party cadre (下沉党员干部)")
    VOLUNTEER = "volunteer", _("Volunteer (志愿者)")
    POLICE = "police", _("Police liaison (社区民警)")
    EMERGENCY = "emergency", _("Emergency-management liaison (应急联络员)")
    VETERANS = "veterans", _("Veterans-affairs liaison (退役军人服务联络员)")


LIAISON_KINDS = (WorkerKind.POLICE, WorkerKind.EMERGENCY, WorkerKind.VETERANS)


class WorkerStatus(models.TextChoices):
    ACTIVE = "active", _("Active (在岗)")
    ON_LEAVE = "on_leave", _("On leave (请假)")
    LEFT = "left", _("Left (离岗)")


class AssignmentRole(models.TextChoices):
    PRIMARY = "primary", _("Primary (主责)")
    HELPER = "helper", _("Helper (协助)")


class Skill(models.TextChoices):
    FIRST_AID = "first_aid", _("First aid (急救)")
    MEDIATION = "mediation", _("Dispute mediation (调解)")
    FIRE_SAFETY = "fire_safety", _("Fire safety (消防)")
    ELDERLY_CARE = "elderly_care", _("Elderly care (养老照护)")
    LEGAL = "legal", _("Legal advice (法律)")
    PSYCHOLOGY = "psychology", _("Counselling (心理疏导)")
    SIGN_LANGUAGE = "sign_language", _("Sign language (手语)")
    DIALECT = "dialect", _("Sichuan dialect (方言)")
    IT = "it", _("Computers and phones (信息化)")
    DRIVING = "driving", _("Driving (驾驶)")


# The post an assignment brings with it, by kind of worker.
POST_ROLE: dict[str, Role] = {
    WorkerKind.FULL_TIME: Role.GRID_WORKER,
    WorkerKind.MICRO: Role.MICRO_GRID_WORKER,
    WorkerKind.CADRE: Role.SUNK_CADRE,
    WorkerKind.VOLUNTEER: Role.VOLUNTEER,
    WorkerKind.POLICE: Role.LIAISON,
    WorkerKind.EMERGENCY: Role.LIAISON,
    WorkerKind.VETERANS: Role.LIAISON,
}

# Where a worker of a kind may be assigned (the levels of the post's role), and where they may
# be the primary worker: the full-time worker of a grid, the micro-grid worker of a micro-grid.
PRIMARY_LEVEL: dict[str, Level] = {
    WorkerKind.FULL_TIME: Level.GRID,
    WorkerKind.MICRO: Level.MICRO,
}
