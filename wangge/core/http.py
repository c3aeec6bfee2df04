"""Request helpers shared by the apps."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_ip(request: Any) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind our own reverse proxy
    (``WANGGE_TRUST_X_FORWARDED_FOR``) the last ``X-Forwarded-For`` entry — the one the proxy
    appended; anything left of it is only the client's claim. None if it is not an address."""
    meta = getattr(request, "META", {}) or {}
    addr = meta.get("REMOTE_ADDR")
    if getattr(settings, "WANGGE_TRUST_X_FORWARDED_FOR", False):
        forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if forwarded:
            addr = forwarded[-1]
    try:
        return str(ipaddress.ip_address(str(addr).strip())) if addr else None
    except ValueError:
        return None
