"""Benchmark: importing residents (validation, encryption, blind index) and exact-ID lookup.

    python benchmarks/people_import.py --rows 1000000          # SQLite and PostgreSQL
    python benchmarks/people_import.py --smoke                 # 5,000 rows, SQLite only (CI)

Prints, for each database: import rows/s through ``people_import`` (the real service), peak
resident memory, the CPU per row of this process (both of the import's threads) and, on
PostgreSQL, of its server backend; a raw COPY of the same rows into a bare table on PostgreSQL
and the ratio; the same residents written again server-side only, into a table with the
resident table's indexes and foreign key (2,000 a transaction) — the ceiling of any import
into this schema on this machine — and the ratio; and the p50/p99 of a lookup by exact ID number
(blind index) over the imported residents. The load average before and after each run says
how busy the machine was. Asserts nothing about time.
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
from django.db import connection
from wangge.accounts.scope import SYSTEM
from wangge.people.imports import people_import
from wangge.people.models import Resident
from wangge.people.crypto import Field, get_keyring
from pathlib import Path

def backend_cpu():  # CPU seconds of this connection's PostgreSQL backend (local), else None
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def own_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime

before = Resident.objects.count()
load = os.getloadavg()[0]
cpu0, backend0 = own_cpu(), backend_cpu()
t = time.perf_counter()
r = people_import(actor=SYSTEM, path=Path({str(csv_path)!r}), mode="good")
secs = time.perf_counter() - t
cpu, backend1 = own_cpu() - cpu0, backend_cpu()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"  import: {{r.created:,}} created, {{len(r.errors)}} errors in {{secs:.1f}}s = "
      f"{{r.rows / secs:,.0f}} rows/s; peak RSS {{peak:,.0f}} MB")
per_row = f"  CPU per row: this process {{cpu / r.rows * 1e6:.0f}} µs"
if backend0 is not None and backend1 is not None:
    per_row += f", PostgreSQL backend {{(backend1 - backend0) / r.rows * 1e6:.0f}} µs"
print(per_row + f" ({{os.cpu_count()}} cores; load average {{load:.1f}} before, "
      f"{{os.getloadavg()[0]:.1f}} after)")
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


def server_side_write(db_url: str) -> float:
    """Rows/s of writing the imported residents again, server-side only, into a table with the
    resident table's columns, indexes and foreign key, 2,000 rows a transaction: what the
    database alone costs an import into this schema (no parsing, validation, encryption or
    client round trips)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_people_like")
        conn.execute("CREATE TABLE bench_people_like (LIKE people_resident INCLUDING ALL)")
        conn.execute(
            "ALTER TABLE bench_people_like ADD FOREIGN KEY (house_id) REFERENCES people_house (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        low, high = conn.execute("SELECT min(id), max(id) FROM people_resident").fetchone()
        t = time.perf_counter()
        n = 0
        for start in range(low, high + 1, 2_000):
            with conn.transaction():
                n += conn.execute(
                    "INSERT INTO bench_people_like SELECT * FROM people_resident "
                    "WHERE id >= %s AND id < %s",
                    [start, start + 2_000],
                ).rowcount
        secs = time.perf_counter() - t
        conn.execute("DROP TABLE bench_people_like")
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
        ceiling = server_side_write(args.pg)
        print(
            f"  the same residents written server-side only (the resident table's indexes and "
            f"foreign key, 2,000 a transaction): {ceiling:,.0f} rows/s; import / that = "
            f"{rate / ceiling:.2f}"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
