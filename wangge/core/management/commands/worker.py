"""``wangge worker``: run background tasks (django-tasks-db) and schedule the periodic ones.

One process: a scheduler thread enqueues each periodic task every WANGGE_PERIODIC_SECONDS unless
one is already waiting, and the main thread runs the database worker. Several workers may run
at once (tasks are claimed with row locks); the periodic jobs are idempotent, so a worker killed
half-way loses nothing: the next run finishes the work.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections


def periodic_jobs() -> list:
    """Every installed app's ``tasks.PERIODIC`` (the deadline sweep, notice delivery, points
    expiry …): core names no app above it."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps

    jobs = []
    for app in apps.get_app_configs():
        name = f"{app.name}.tasks"
        if app.name.startswith("wangge.") and find_spec(name) is not None:
            jobs += list(getattr(import_module(name), "PERIODIC", ()))
    return jobs


def schedule_once() -> int:
    """Enqueue each periodic task that has no run waiting; returns how many were enqueued."""
    from django_tasks_db.models import DBTaskResult

    n = 0
    for job in periodic_jobs():
        waiting = DBTaskResult.objects.ready().filter(task_path=job.module_path).exists()
        if not waiting:
            job.enqueue()
            n += 1
    return n


class Command(BaseCommand):
    help = "Run the background worker (tasks and the periodic deadline sweep)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--once", action="store_true", help="schedule once, run all, exit")

    def handle(self, *args, interval, once, **options):
        if once:
            schedule_once()
            call_command("db_worker", batch=True, interval=0, verbosity=0)
            return
        stop = threading.Event()

        def scheduler():
            while not stop.is_set():
                try:
                    schedule_once()
                except Exception:  # the database may be briefly unavailable
                    pass
                finally:
                    close_old_connections()
                stop.wait(settings.WANGGE_PERIODIC_SECONDS)

        threading.Thread(target=scheduler, daemon=True, name="wangge-scheduler").start()
        try:
            call_command("db_worker", interval=interval, verbosity=1)
        finally:
            stop.set()
            time.sleep(0)
