from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CITY_COMMANDER = "city_commander", _("City commander")
    DISTRICT_DISPATCHER = "district_dispatcher", _("District dispatcher")
    STREET_DISPATCHER = "street_dispatcher", _("Street dispatcher")
    COMMUNITY_SECRETARY = "community_secretary", _("Community secretary")
    GRID_WORKER = "grid_worker", _("Full-time grid worker")
    MICRO_GRID_WORKER = "micro_grid_worker", _("Micro-grid worker")
    SUNK_CADRE = "sunk_cadre", _("Sunk cadre")
    VOLUNTEER = "volunteer", _("Volunteer")
    LIAISON = "liaison", _("Professional liaison")
    UNIT_HANDLER = "unit_handler", _("Unit handler")
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    SECURITY_ADMIN = "security_admin", _("Security administrator")
    AUDIT_ADMIN = "audit_admin", _("Audit administrator")
    RESIDENT = "resident", _("Resident")


# 三员分立: no user may hold two of these (a partial unique index enforces it too).
ADMIN_ROLES = (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)


class Perm(models.TextChoices):
    """What a post may do. Which role has which is declared once, in ``rules.py``."""

    PLACES_VIEW = "places.view", _("View places and grids")
    PLACES_IMPORT = "places.import", _("Import and edit places and grids")
    USERS_MANAGE = "users.manage", _("Create and disable user accounts")
    POSTS_MANAGE = "posts.manage", _("Grant and end posts")
    ACCOUNTS_UNLOCK = "accounts.unlock", _("Unlock locked accounts")
    AUDIT_VIEW = "audit.view", _("Read the audit trail")
    AUDIT_EXPORT = "audit.export", _("Export the audit trail")
    TOKENS_OWN = "tokens.own", _("Create and revoke own API tokens")
    PEOPLE_VIEW = "people.view", _("View person–house data (masked)")
    PEOPLE_UNMASK = "people.unmask", _("Unmask personal data, with a reason")
    PEOPLE_SENSITIVE = "people.sensitive", _("See sensitive tags (disability, illness …)")
    PEOPLE_APPROVE_CHILD = "people.approve_child", _("Approve unmasking a child's record")
    PEOPLE_EDIT = "people.edit", _("Register and correct person–house data")
    WORKFORCE_VIEW = "workforce.view", _("View grid workers and their coverage (masked phones)")
    WORKFORCE_MANAGE = (
        "workforce.manage",
        _("Register grid workers, assign them to grids and hand their work over"),
    )
    DUTY_CHECKIN = "duty.checkin", _("Check in and out of duty and send the patrol route")
    COCKPIT_VIEW = "cockpit.view", _("See the command cockpit of one's place")
    COCKPIT_EXPORT = "cockpit.export", _("Export the cockpit's tables and print its daily brief")
    SENSING_VIEW = "sensing.view", _("See the sensors, cameras and alarms of one's place")
    ALARMS_HANDLE = "alarms.handle", _("Acknowledge and resolve alarms, mark false alarms")
    SENSING_MANAGE = (
        "sensing.manage",
        _("Register and import sensors and cameras, draw camera zones, edit response plans"),
    )


class UnitKind(models.TextChoices):
    URBAN_MANAGEMENT = "urban_management", _("Urban management (城管)")
    HOUSING = "housing", _("Housing and construction (住建)")
    FIRE = "fire", _("Fire and rescue (消防)")
    CIVIL_AFFAIRS = "civil_affairs", _("Civil affairs (民政)")
    POLICE = "police", _("Public security (公安)")
    EMERGENCY = "emergency", _("Emergency management (应急)")
    HEALTH = "health", _("Health (卫健)")
    PROPERTY = "property", _("Property management company (物业)")
    OTHER = "other", _("Other")
