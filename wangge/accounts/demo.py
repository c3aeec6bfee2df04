"""Demo step: one account for each role at sensible places of the demo city.

Passwords are random per install, written with the TOTP keys of the administrators to
``demo-accounts.txt`` (mode 0600) in the data directory and printed at the end of the build.
"""

from __future__ import annotations

import os
import secrets

import pyotp
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role, UnitKind
from wangge.accounts.models import Post, TotpDevice, Unit
from wangge.accounts.rules import rule
from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_grant
from wangge.demo.registry import DemoContext, demo_step

STREET = "510104017"  # 锦官驿街道, 锦江区
COMMUNITY = STREET + "001"  # 水井坊社区
GRID = COMMUNITY + "001"
MICRO = GRID + "001"
ACCOUNTS_FILE = "demo-accounts.txt"

# username, display name, role, place code, unit code
DEMO_ACCOUNTS: list[tuple[str, str, Role, str, str]] = [
    ("commander", "市指挥中心值班长", Role.CITY_COMMANDER, "5101", ""),
    ("district", "锦江区调度员", Role.DISTRICT_DISPATCHER, "510104", ""),
    ("street", "锦官驿街道调度员", Role.STREET_DISPATCHER, STREET, ""),
    ("community", "水井坊社区书记", Role.COMMUNITY_SECRETARY, COMMUNITY, ""),
    ("grid", "水井坊社区第1网格专职网格员", Role.GRID_WORKER, GRID, ""),
    ("micro", "第1微网格微网格员", Role.MICRO_GRID_WORKER, MICRO, ""),
    ("cadre", "下沉干部", Role.SUNK_CADRE, COMMUNITY + "002", ""),
    ("volunteer", "志愿者", Role.VOLUNTEER, COMMUNITY + "003", ""),
    ("handler", "锦江区城管处置人员", Role.UNIT_HANDLER, "", "JJ-CG"),
    ("sysadmin", "系统管理员", Role.SYSTEM_ADMIN, "", ""),
    ("secadmin", "安全管理员", Role.SECURITY_ADMIN, "", ""),
    ("auditadmin", "审计管理员", Role.AUDIT_ADMIN, "", ""),
    ("resident", "居民", Role.RESIDENT, "", ""),
]
UNITS = [("JJ-CG", "锦江区综合行政执法局（城管）", UnitKind.URBAN_MANAGEMENT, "510104")]


@demo_step("accounts", order=20, description=_("an account for each role"))
def accounts(ctx: DemoContext) -> dict:
    User = get_user_model()
    lines = []
    with transaction.atomic():
        units = {
            code: Unit.objects.update_or_create(
                code=code, defaults={"name": name, "kind": kind, "region_code": region}
            )[0]
            for code, name, kind, region in UNITS
        }
        for username, name, role, place, unit in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            user, _created = User.objects.get_or_create(username=username)
            user.first_name = name
            user.set_password(password)
            user.save()
            if not Post.objects.filter(user=user, role=role, is_active=True).exists():
                post_grant(
                    actor=SYSTEM, user=user, role=role, place_code=place, unit=units.get(unit)
                )
            extra = ""
            if rule(role).two_factor:
                secret = pyotp.random_base32()
                TotpDevice.objects.update_or_create(
                    user=user, defaults={"secret": secret, "confirmed": True, "last_step": 0}
                )
                extra = f"TOTP key {secret}"
            lines.append(f"{username}\t{password}\t{role.label}\t{place or unit}\t{extra}")
    ctx.accounts = lines
    if ctx.data_dir is not None:
        path = ctx.data_dir / ACCOUNTS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# user\tpassword\trole\tplace or unit\ttwo-factor key (RFC 6238)\n")
            fh.write("\n".join(str(x) for x in lines) + "\n")
    return {"accounts": len(lines)}
