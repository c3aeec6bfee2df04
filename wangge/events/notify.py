"""Delivering notices beyond the inbox (SMS, WeChat Work …) from the outbox.

Notices are written in the same transaction as the change that causes them (``Notification``
rows), so none is lost if the process dies after the commit; ``notifications_deliver`` hands the
rows not yet delivered to each backend in ``settings.WANGGE_NOTIFY_BACKENDS`` (dotted paths of
callables taking a notification) and marks them delivered. A backend that fails leaves the row
for the next run (``attempts`` counts the tries). The default backend writes a line to the log:
the post and the kind, never personal data.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from wangge.events.models import Notification

logger = logging.getLogger("wangge.notify")
MAX_ATTEMPTS = 10


def log_backend(notice: Notification) -> None:
    logger.info(
        "notice %s to post %s: %s (event %s)",
        notice.pk,
        notice.post_id,
        notice.kind,
        notice.event_id,
    )


def notifications_deliver(*, batch: int = 500) -> int:
    """Deliver what is waiting; returns how many were delivered. Safe to run on several
    workers at once (rows are claimed with SKIP LOCKED where the database has it)."""
    backends = [import_string(b) for b in settings.WANGGE_NOTIFY_BACKENDS]
    delivered = 0
    while True:
        with transaction.atomic():
            rows = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(delivered_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .order_by("id")[:batch]
            )
            if not rows:
                return delivered
            ok = []
            for n in rows:
                n.attempts += 1
                try:
                    for b in backends:
                        b(n)
                    n.delivered_at = timezone.now()
                    ok.append(n)
                except Exception:  # a channel is down: try again next time
                    logger.exception("delivering notice %s failed", n.pk)
            Notification.objects.bulk_update(rows, ["attempts", "delivered_at"])
            delivered += len(ok)
            if len(ok) < len(rows):
                return delivered
