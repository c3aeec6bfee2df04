"""What the cockpit's tests share: counting reports straight from the event table."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

from wangge.events.models import Event
from wangge.regions import codes as C


def raw_reported(code: str, period) -> int:
    """Events reported under ``code`` within the period's days (local midnights)."""
    start = timezone.make_aware(datetime.combine(period.start, time.min))
    end = timezone.make_aware(datetime.combine(period.end + timedelta(days=1), time.min))
    return Event.objects.filter(
        reported_at__gte=start, reported_at__lt=end, **C.prefix_filter(code, "grid_code")
    ).count()
