"""``wangge cockpit``: the cockpit's rollups.

wangge cockpit rebuild    empty the rollups and count every event again from its row
wangge cockpit drain      count what the event triggers queued (the worker does this)
wangge cockpit check      compare the rollups with the raw events (reads every event)
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.cockpit import services


class Command(BaseCommand):
    help = "Cockpit rollups: rebuild from the raw events, drain the change log, check."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("rebuild", help="Recompute the rollups from the raw events.")
        sub.add_parser("drain", help="Count the queued event changes.")
        sub.add_parser("check", help="Compare the rollups with the raw events.")

    def handle(self, *args, subcommand, **options):
        started = time.monotonic()
        if subcommand == "rebuild":
            last = [0.0]

            def progress(done: int, total: int) -> None:
                now = time.monotonic()
                if now - last[0] >= 2 or done >= total:
                    last[0] = now
                    rate = done / max(now - started, 1e-9)
                    eta = (total - done) / rate if rate else 0
                    self.stdout.write(f"  {done:,}/{total:,} events, {rate:,.0f}/s, ETA {eta:.0f}s")

            out = services.rollups_rebuild(actor=SYSTEM, progress=progress)
            self.stdout.write(
                ", ".join(f"{k}: {v:,}" for k, v in out.items())
                + f" — {time.monotonic() - started:.1f}s"
            )
        elif subcommand == "drain":
            n = services.rollups_drain()
            self.stdout.write(f"changes counted: {n:,} — {time.monotonic() - started:.1f}s")
        else:
            r = services.rollups_check()
            for line in r.mismatches:
                self.stdout.write(line)
            self.stdout.write(f"events: {r.events:,}, differences: {len(r.mismatches)}")
            if not r.ok:
                raise CommandError(
                    "the rollups differ from the raw events: run `wangge cockpit rebuild`"
                )
