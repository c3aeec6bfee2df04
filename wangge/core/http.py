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


def is_busy(exc: BaseException) -> bool:
    """The database was too busy to take a write in time (SQLite's write lock not granted
    within its busy timeout; PostgreSQL's deadlock or serialization victim): nothing was
    written, and the same request may simply be sent again."""
    from django.db import OperationalError

    text = str(exc).lower()
    return isinstance(exc, OperationalError) and (
        "database is locked" in text or "deadlock detected" in text or "could not serialize" in text
    )


class BusyMiddleware:
    """Pages answer a busy database with 503 and "send it again" (forms carry their key, so
    a second send makes one record) instead of the 500 page. The API does the same in its own
    error format (``core.api``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        import logging

        from django.http import HttpResponse
        from django.template.loader import render_to_string

        if not is_busy(exc):
            return None
        logging.getLogger("wangge").warning("busy on %s: %s", request.path, exc)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "1"
        return response
