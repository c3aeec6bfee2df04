"""Benchmark: importing residents (validation, encryption, blind index) and exact-ID lookup.

    python benchmarks/people_import.py --rows 1000000          # SQLite and PostgreSQL
    python benchmarks/people_import.py --smoke                 # 5,000 rows, SQLite only (CI)

Prints, for each database: import rows/s through ``people_import`` (the real service), peak
resident memory, a raw COPY of the same rows into a bare table on PostgreSQL and the ratio, and
the p50/p99 of a lookup by exact ID number (blind index) over the imported residents.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_file(path: Path, rows: int) -> None:
    """A CSV of ``rows`` residents in the 锦江区 demo grids, valid ID numbers, ~2.5 a house."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    import django

    django.setup()
    from wangge.people.idcard import make_id_number

    micro = "510104017001001"  # micro-grids 001..007 of 水井坊社区第1网格 exist in the demo
    start = date(1940, 1, 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "grid_code",
                "address",
                "building",
                "unit",
                "floor",
                "room",
                "name",
                "id_number",
                "phone",
                "relation",
            ]
        )
        for i in range(rows):
            house = i * 2 // 5
            building = house // 40
            birth = start + timedelta(days=(i * 7919) % 25_000)
            seq = 2 * ((i // 25_000) % 500)  # even; make_id_number sets the parity by sex
            w.writerow(
                [
                    f"{micro}{1 + building % 7:03d}",
                    f"锦江区测试路{building}号",
                    f"{building}栋",
                    str(1 + house % 2),
                    str(1 + house % 40 // 4),
                    f"{house % 40:03d}",
                    f"测试{i}",
                    make_id_number("510104", birth, seq, "male" if i % 2 else "female"),
                    f"139{i:08d}",
                    "户主" if i * 2 % 5 < 2 else "配偶",
                ]
            )


def run_one(db_url: str | None, rows: int, data_dir: Path, csv_path: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANGGE_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    code = f"""
import os, time, resource, statistics, random
import django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
from wangge.demo.registry import DemoContext
from wangge.demo.services import demo_build
from wangge.demo.models import DemoRun
if not DemoRun.objects.filter(step="places").exists():
    demo_build(scale="district", seed=1, ctx=DemoContext(seed=1, verbose=False, residents=0))
from wangge.accounts.scope import SYSTEM
from wangge.people.imports import people_import
from wangge.people.models import Resident
from wangge.people.crypto import Field, get_keyring
from pathlib import Path
before = Resident.objects.count()
t = time.perf_counter()
r = people_import(actor=SYSTEM, path=Path({str(csv_path)!r}), mode="good")
secs = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"  import: {{r.created:,}} created, {{len(r.errors)}} errors in {{secs:.1f}}s = "
      f"{{r.rows / secs:,.0f}} rows/s; peak RSS {{peak:,.0f}} MB")
keys = get_keyring()
ids = list(Resident.objects.exclude(id_number_enc="").order_by("?").values_list(
    "id_number_enc", flat=True)[:300])
plain = [keys.decrypt(x, field=Field.ID_NUMBER) for x in ids]
lat = []
for p in plain:
    t = time.perf_counter()
    idx = keys.blind_index(p, field=Field.ID_NUMBER)
    found = Resident.objects.filter(id_number_index=idx).values_list("id", flat=True).first()
    lat.append((time.perf_counter() - t) * 1000)
    assert found
lat.sort()
print(f"  lookup by exact ID number over {{Resident.objects.count():,}} residents: "
      f"p50 {{lat[len(lat)//2]:.2f}} ms, p99 {{lat[int(len(lat)*0.99)-1]:.2f}} ms")
print(f"IMPORT_RATE {{r.rows / secs:.0f}}")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode:
        print(out.stdout, out.stderr)
        raise SystemExit(out.returncode)
    rate = None
    for line in out.stdout.splitlines():
        if line.startswith("IMPORT_RATE"):
            rate = float(line.split()[1])
        else:
            print(line)
    return rate


def raw_copy(db_url: str, csv_path: Path) -> float:
    """Rows/s of a raw COPY of the same file into a bare table (the ceiling)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_people_raw")
        conn.execute(
            "CREATE UNLOGGED TABLE bench_people_raw (grid_code text, address text, "
            "building text, unit text, floor text, room text, name text, "
            "id_number text, phone text, relation text)"
        )
        t = time.perf_counter()
        with (
            open(csv_path, encoding="utf-8") as fh,
            conn.cursor().copy(
                "COPY bench_people_raw FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as cp,
        ):
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        secs = time.perf_counter() - t
        n = conn.execute("SELECT count(*) FROM bench_people_raw").fetchone()[0]
        conn.execute("DROP TABLE bench_people_raw")
    return n / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/wangge_bench_people")
    args = ap.parse_args()
    if args.smoke:
        args.rows = 5_000
    tmp = Path(tempfile.mkdtemp(prefix="wangge-people-bench-"))
    try:
        csv_path = tmp / "people.csv"
        t = time.perf_counter()
        make_file(csv_path, args.rows)
        print(
            f"people import benchmark — {args.rows:,} rows "
            f"({csv_path.stat().st_size / 1e6:.0f} MB CSV made in {time.perf_counter() - t:.0f}s)"
        )
        print("SQLite (WAL):")
        run_one(None, args.rows, tmp / "sqlite", csv_path)
        if args.smoke:
            return
        import psycopg

        admin = args.pg.rsplit("/", 1)[0] + "/postgres"
        name = args.pg.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        print("PostgreSQL:")
        rate = run_one(args.pg, args.rows, tmp / "pg", csv_path)
        copy = raw_copy(args.pg, csv_path)
        print(
            f"  raw COPY of the same rows: {copy:,.0f} rows/s; import / COPY = "
            f"{rate / copy:.3f} ({copy / rate:.0f}× slower than a raw COPY)"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
