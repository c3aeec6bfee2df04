"""A fixed-window rate limit on the cache (shared between processes when Redis is configured)."""

from __future__ import annotations

import time

from django.core.cache import cache


def _now() -> float:
    return time.time()


def limited(key: str, *, limit: int, window: int) -> bool:
    """Count one hit on ``key``; True when the window already holds ``limit`` hits."""
    bucket = f"rl:{key}:{int(_now()) // window}"
    if cache.add(bucket, 1, timeout=window + 1):
        return False
    try:
        hits = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 1)
        return False
    return hits > limit
