"""Benchmark: deadlines on the working calendar (``wangge.core.workcal``), one process.

    python benchmarks/workcal.py            # 200,000 calls of each
    python benchmarks/workcal.py --smoke    # 20,000 (CI)

Prints calls/s of add_working_time (hours, days; local and UTC input), working_time_between and
is_workday over report times spread across 2025–2027 (package years and a Monday–Friday year),
and, as a baseline measured in the same run, a bare ``start + timedelta``: the ratio says what
the working calendar costs over wall-clock arithmetic, and is steadier than the figures on a
busy machine. Goal: ≥ 50,000 add_working_time calls/s.
Uses a fresh SQLite database in a temporary data directory; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 50_000


def rate(fn, args, repeat: int = 3) -> float:
    """Best-of-``repeat`` calls per second of ``fn`` over ``args``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for a in args:
            fn(a)
        best = min(best, time.perf_counter() - t)
    return len(args) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 calls")
    opts = parser.parse_args()
    n = 20_000 if opts.smoke else opts.calls

    data_dir = Path(tempfile.mkdtemp(prefix="wangge-bench-workcal-"))
    try:
        os.environ["WANGGE_DATA_DIR"] = str(data_dir)
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(n)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(n: int) -> None:
    import datetime as dt
    import logging
    from zoneinfo import ZoneInfo

    from wangge.core import workcal

    logging.getLogger("wangge.core.workcal").setLevel(logging.ERROR)  # the 2027 fallback
    tz = ZoneInfo("Asia/Shanghai")
    rng = random.Random(1)
    origin = dt.datetime(2025, 1, 1, tzinfo=tz)
    span = 3 * 365 * 24 * 3600
    starts = [origin + dt.timedelta(seconds=rng.randrange(span)) for _ in range(n)]
    pairs = list(zip(starts, starts[1:] + starts[:1], strict=True))
    utc_starts = [s.astimezone(dt.UTC) for s in starts]  # as read from the database
    dates = [s.date() for s in starts]
    workcal.add_working_time(starts[0], hours=1)  # load the calendar once

    def hours(s):
        return workcal.add_working_time(s, hours=4)

    def days(s):
        return workcal.add_working_time(s, days=2)

    def between(p):
        return workcal.working_time_between(p[0], p[1])

    four_hours = dt.timedelta(hours=4)

    def wall(s):
        return s + four_hours

    figures = {
        "add_working_time(hours=4)": rate(hours, starts),
        "add_working_time(days=2)": rate(days, starts),
        "  the same, UTC input": rate(days, utc_starts),
        "working_time_between": rate(between, pairs),
        "is_workday": rate(workcal.is_workday, dates),
        "baseline: start + timedelta": rate(wall, starts),
    }
    base = figures["baseline: start + timedelta"]
    print(f"workcal, {n:,} calls each, one process, best of 3")
    for name, value in figures.items():
        print(f"  {name:<30} {value:>12,.0f} calls/s   {base / value:6.1f}× the baseline's time")
    add = min(v for k, v in figures.items() if "add_working_time" in k or "UTC" in k)
    verdict = "meets" if add >= GOAL else "MISSES"
    print(f"  add_working_time, the slower: {add:,.0f} calls/s, {verdict} the goal of {GOAL:,}/s")


if __name__ == "__main__":
    main()
