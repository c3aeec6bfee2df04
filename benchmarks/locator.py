"""Benchmark: the point→grid locator at city scale, against PostGIS on the same data.

    python benchmarks/locator.py                 # city scale, 1 M points, with PostGIS and demo
    python benchmarks/locator.py --smoke         # district scale, 20 k points (CI)
    python benchmarks/locator.py --no-demo       # skip timing `wangge demo --scale city`

Prints figures; asserts nothing about time (the machines are shared and noisy). Figures:
- `wangge demo --scale city --no-serve` (region/grid part) wall time, in a fresh data directory;
- locator build from that database (seconds, resident memory added);
- locate_many on one thread and on two threads (points/s), single locate calls (calls/s);
- the same points joined to the same polygons in PostGIS (ST_Contains, GiST index), and the ratio.
  Without PostGIS the ratio is to a per-point Python loop, and the output says so.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "wangge_bench"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, repeat: int = 3):
    """Median seconds of ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def build_demo(scale: str, data_dir: str) -> float:
    env = {**os.environ, "WANGGE_DATA_DIR": data_dir}
    env.pop("DATABASE_URL", None)
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from wangge.cli import main; main()",
            "demo",
            "--scale",
            scale,
            "--residents",
            "0",  # places only: that is what this benchmark times
            "--no-serve",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def random_points(n: int, area, rng) -> tuple[np.ndarray, np.ndarray]:
    shapely.prepare(area)
    minx, miny, maxx, maxy = area.bounds
    xs, ys = [], []
    have = 0
    while have < n:
        x = rng.uniform(minx, maxx, 2 * n)
        y = rng.uniform(miny, maxy, 2 * n)
        keep = shapely.contains_xy(area, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def postgis_join(loc, lons, lats) -> tuple[float, str] | None:
    """Seconds for the ST_Contains join in PostGIS, or None when PostGIS is not available."""
    try:
        import psycopg
    except ImportError:
        return None
    base = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    except Exception as exc:  # no server, or no rights
        print(f"  PostGIS: not reachable ({exc.__class__.__name__})")
        return None
    try:
        with psycopg.connect(f"{base}/{BENCH_DB}", autocommit=True) as conn:
            try:
                conn.execute("CREATE EXTENSION postgis")
            except Exception as exc:
                print(f"  PostGIS: extension not installed ({exc.__class__.__name__})")
                return None
            version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
            conn.execute("CREATE UNLOGGED TABLE grids (id int PRIMARY KEY, geom geometry)")
            conn.execute("CREATE UNLOGGED TABLE pts (id int PRIMARY KEY, geom geometry)")
            geoms = loc.tree.geometries
            t = time.perf_counter()
            with conn.cursor().copy("COPY grids (id, geom) FROM STDIN") as cp:
                wkbs = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
                for i, wkb in enumerate(wkbs):
                    cp.write_row((i, wkb))
            with conn.cursor().copy("COPY pts (id, geom) FROM STDIN") as cp:
                wkbs = shapely.to_wkb(
                    shapely.set_srid(shapely.points(lons, lats), 4326), hex=True, include_srid=True
                )
                for i, wkb in enumerate(wkbs):
                    cp.write_row((i, wkb))
            conn.execute("CREATE INDEX ON grids USING gist (geom)")
            conn.execute("ANALYZE grids")
            conn.execute("ANALYZE pts")
            load = time.perf_counter() - t
            print(
                f"  PostGIS {version}: loaded {len(geoms):,} polygons and {len(lons):,} points "
                f"in {load:.1f}s"
            )
            sql = "SELECT count(*) FROM pts p JOIN grids g ON ST_Contains(g.geom, p.geom)"
            secs, row = timed(
                lambda: conn.execute(sql).fetchone(), repeat=1 if len(lons) > 1e5 else 3
            )
            print(f"  PostGIS join matched {row[0]:,} points")
            return secs, version
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["district", "city"], default="city")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    ap.add_argument("--no-demo", action="store_true", help="build the places in-process only")
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--data-dir", help="reuse a data directory built at this scale")
    args = ap.parse_args()
    if args.smoke:
        args.scale, args.points, args.no_postgis = "district", 20_000, True

    data_dir = args.data_dir or tempfile.mkdtemp(prefix="wangge-bench-")
    if not args.data_dir:
        atexit.register(shutil.rmtree, data_dir, True)
    print(
        f"wangge locator benchmark — scale {args.scale}, {args.points:,} points, "
        f"{os.cpu_count()} cores"
    )
    if not args.no_demo and not args.data_dir:
        secs = build_demo(args.scale, data_dir)
        print(f"wangge demo --scale {args.scale} --no-serve (places): {secs:.1f}s")
    os.environ["WANGGE_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from wangge.regions import locator as L
    from wangge.regions.models import Grid, Region

    if args.no_demo and not args.data_dir:
        call_command("migrate", verbosity=0)
        from wangge.demo.registry import DemoContext
        from wangge.demo.services import demo_build

        t = time.perf_counter()
        demo_build(
            scale=args.scale,
            seed=20260101,
            ctx=DemoContext(scale=args.scale, seed=20260101, verbose=False, residents=0),
        )
        print(f"places built in-process: {time.perf_counter() - t:.1f}s")

    n_grids = Grid.objects.count()
    print(f"grids in the database: {n_grids:,} (regions {Region.objects.count():,})")
    before = rss_mb()
    t = time.perf_counter()
    loc = L.build_from_db()
    build = time.perf_counter() - t
    print(
        f"locator build from the database: {build:.2f}s, +{rss_mb() - before:.0f} MB resident "
        f"({len(loc.tree):,} leaf polygons in the tree)"
    )

    detailed = Region.objects.filter(level="district")
    if args.scale == "district":
        detailed = detailed.filter(code="510104")
    area = shapely.union_all(
        shapely.from_geojson(
            np.array(list(detailed.values_list("geometry", flat=True)), dtype=object)
        )
    )
    rng = np.random.default_rng(42)
    lons, lats = random_points(args.points, area, rng)

    repeat = 3
    one, codes = timed(lambda: loc.locate_many(lons, lats, threads=1), repeat)
    two, codes2 = timed(lambda: loc.locate_many(lons, lats, threads=2), repeat)
    assert (codes == codes2).all()
    found = int(np.count_nonzero(codes != None))  # noqa: E711 (object array)
    print(
        f"locate_many, 1 thread : {args.points / one:>12,.0f} points/s "
        f"(median of {repeat}; {found:,} of {args.points:,} points in a grid)"
    )
    print(
        f"locate_many, 2 threads: {args.points / two:>12,.0f} points/s "
        f"({one / two:.2f}× one thread)"
    )

    n_single = min(100_000, args.points)
    single, _ = timed(
        lambda: [
            loc.locate(x, y)
            for x, y in zip(lons[:n_single].tolist(), lats[:n_single].tolist(), strict=True)
        ],
        repeat,
    )
    print(f"single locate() calls : {n_single / single:>12,.0f} calls/s")
    rate_many = args.points / two

    pg = None if args.no_postgis else postgis_join(loc, lons, lats)
    if pg is not None:
        secs, _version = pg
        rate = args.points / secs
        print(f"PostGIS ST_Contains join: {rate:>9,.0f} points/s")
        print(
            f"ratio locate_many (2 threads) / PostGIS: {rate_many / rate:.1f}×  "
            f"(1 thread: {args.points / one / rate:.1f}×)"
        )
    else:
        # Fallback baseline: a per-point Python loop, each point tested against the polygons
        # whose bounding box holds it (what one writes without a spatial index library).
        geoms = loc.tree.geometries
        bounds = shapely.bounds(geoms)
        m = min(2_000, args.points)

        def loop():
            out = []
            for x, y in zip(lons[:m], lats[:m], strict=True):
                cand = np.flatnonzero(
                    (bounds[:, 0] <= x)
                    & (bounds[:, 2] >= x)
                    & (bounds[:, 1] <= y)
                    & (bounds[:, 3] >= y)
                )
                pt = shapely.Point(x, y)
                out.append(next((i for i in cand if geoms[i].contains(pt)), -1))
            return out

        secs, _ = timed(loop, 1)
        rate = m / secs
        print(f"PostGIS not used; per-point Python loop baseline: {rate:,.0f} points/s")
        print(f"ratio locate_many (2 threads) / per-point loop: {rate_many / rate:.0f}×")


if __name__ == "__main__":
    main()
