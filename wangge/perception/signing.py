"""The HTTP ingestion signature, shared by the endpoint, the simulator and the tests.

``X-Signature: hex(HMAC-SHA256(device key, "<X-Timestamp>." + body))`` where the timestamp is
unix seconds (the ``X-Timestamp`` header) and the body the exact bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MAX_SKEW_SECONDS = 300  # a timestamp older or further in the future than this is refused


def sign(key: str, timestamp: int | str, body: bytes) -> str:
    """The hex signature of ``body`` sent at ``timestamp`` under the device's ``key``."""
    msg = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(key.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def verify(key: str, timestamp: int | str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is right (compared in constant time)."""
    try:
        expected = sign(key, timestamp, body)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, (signature or "").strip().lower())


def headers(device_id: str, key: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three request headers for a signed message (for clients: simulator, tests)."""
    return {
        "X-Device-Id": device_id,
        "X-Timestamp": str(int(timestamp)),
        "X-Signature": sign(key, timestamp, body),
    }


def new_key() -> str:
    """A fresh device key: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)
