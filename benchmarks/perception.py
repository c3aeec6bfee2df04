"""Benchmark: device messages through a real Mosquitto broker and the MQTT bridge into the
database — the broker's own throughput as the reference, heartbeats stored per second with one
and two bridges (shared subscription), and alarm-to-inbox latency under load.

    python benchmarks/perception.py                  # PostgreSQL (bench_perception)
    python benchmarks/perception.py --db sqlite      # SQLite (one bridge: one writer)
    python benchmarks/perception.py --smoke          # SQLite, a few thousand messages (CI)
    python benchmarks/perception.py --no-alarm-lane  # the bridges without their alarm lane

Everything runs on 127.0.0.1: a private Mosquitto of the run (its own port, no persistence
file), the publishers and subscribers in processes of their own (paho, QoS 1), the bridges as
``wangge mqtt-bridge`` processes. The database gets the demo's place tree, accounts, workforce
and event categories, then ``--devices`` heartbeat devices and a pool of gas detectors in the
walk-through's micro-grid, written in bulk (it is a benchmark).

1. Reference: a publisher at full speed, a plain subscriber (QoS 1, auto acknowledged) counting:
   the broker's messages/s with nothing behind it.
2. Stored/s: ``--backlog`` heartbeats are published while the bridges are down (their sessions
   keep them), then the bridges start and drain them: rows stored per second, the bridges and
   the database alone on the machine. With 1 and 2 bridges (``--bridges``).
3. Under load: heartbeats at ``--rate``/s for ``--seconds`` s while gas alarms come at 2/s from
   different devices: the rate stored, whether the bridges kept up, and each alarm's latency
   from the publisher's clock to its notice's row (``Notification.created_at``, written in the
   batch's transaction) — p50 and p99. Each bridge has an alarm lane (a second client, queue
   and worker for ``…/+/alarm``; ``--no-alarm-lane`` runs them without it, for comparison):
   how many alarms it stored and in how many transactions.

Exits non-zero when a message is missing (stored ≠ published) or an alarm has no notice;
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "bench_perception"
MICRO = "510104017001001001"  # the walk-through's micro-grid: a micro-grid worker answers
GOAL_RATE = 3_000
GOAL_P99_MS = 1_000
ALARMS_PER_SECOND = 2
CLI = "import sys; from wangge.cli import main; sys.argv = ['wangge', *sys.argv[1:]]; main()"

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  WRONG: {message}")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


# --- roles run in processes of their own (paho only, no Django) -------------------------------
def _client(client_id: str = "", *, v5: bool = False):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    return mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )


def role_subscribe(port: int, n: int, out: str) -> None:
    """Count ``n`` QoS 1 messages on ``bench/ref`` (acknowledged by paho as they come)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    ready = threading.Event()

    def on_message(c, u, m):
        now = time.time()
        if not got["n"]:
            got["first"] = now
        got["n"] += 1
        got["last"] = now
        if got["n"] >= n:
            done.set()

    c = _client("bench-ref-sub", v5=True)
    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 1000
    c.connect("127.0.0.1", port, properties=props)
    c.subscribe("bench/ref", qos=1)
    c.loop_start()
    ready.wait(10)
    Path(out + ".ready").write_text("1")
    done.wait(120)
    c.disconnect()
    c.loop_stop()
    Path(out).write_text(json.dumps(got))


def role_publish(spec_file: str) -> None:
    """Publish as the spec says: ``count`` messages at full speed (``rate`` 0) or ``rate``/s for
    ``seconds``; heartbeats round-robin over ``devices`` with ``seq_base + i`` as sequence
    numbers, and ``alarm_devices`` one gas alarm each, ``alarms_per_second`` apart. Writes the
    publish times of the alarms and the count of PUBACKs."""
    spec = json.loads(Path(spec_file).read_text())
    c = _client()
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    acked = {"n": 0}
    lock = threading.Lock()

    def on_publish(*a):
        with lock:
            acked["n"] += 1

    c.on_publish = on_publish
    c.connect("127.0.0.1", spec["port"])
    c.loop_start()
    devices, alarm_devices = spec["devices"], list(spec.get("alarm_devices", []))
    rate, seconds, count = spec.get("rate", 0), spec.get("seconds", 0), spec.get("count", 0)
    total = count or int(rate * seconds)
    seq_base = spec["seq_base"]
    topic = spec.get("topic")
    alarm_times: dict[str, float] = {}
    start = time.monotonic()
    next_alarm = start + (1 / spec["alarms_per_second"] if alarm_devices else 1e18)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for i in range(total):
        if rate:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        device_id, dtype = devices[i % len(devices)]
        seq = seq_base + i
        body = (
            f'{{"device":"{device_id}","type":"{dtype}","event":"heartbeat","value":null,'
            f'"time":"{stamp}","seq":{seq},"battery":80,"rssi":-70}}'
        )
        c.publish(topic or f"wangge/devices/{device_id}/heartbeat", body, qos=1)
        if alarm_devices and time.monotonic() >= next_alarm:
            device_id = alarm_devices.pop()
            alarm_times[device_id] = time.time()
            body = (
                f'{{"device":"{device_id}","type":"gas","event":"gas","value":42.0,'
                f'"time":"{stamp}","seq":{seq},"battery":80,"rssi":-70}}'
            )
            c.publish(f"wangge/devices/{device_id}/alarm", body, qos=1)
            next_alarm += 1 / spec["alarms_per_second"]
    elapsed = time.monotonic() - start
    sent = total + len(alarm_times)
    deadline = time.monotonic() + 60
    while acked["n"] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    c.disconnect()
    c.loop_stop()
    out = {"sent": sent, "acked": acked["n"], "seconds": elapsed, "alarms": alarm_times}
    Path(spec["out"]).write_text(json.dumps(out))


# --- the broker, the bridges, the publisher ---------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_start(tmp: Path) -> tuple[subprocess.Popen, int]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(mosquitto):
        sys.exit("the mosquitto broker is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        ("user root\n" if os.geteuid() == 0 else "")
        + f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 1000\n"
    )
    proc = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    sys.exit("mosquitto did not start")


class Bridges:
    """``k`` ``wangge mqtt-bridge`` processes (shared subscription), each with a stable id."""

    def __init__(self, k: int, port: int, env: dict[str, str], *, alarm_lane: bool = True) -> None:
        self.k, self.port, self.env = k, port, env
        self.alarm_lane = alarm_lane
        self.lanes = 2 if alarm_lane else 1
        self.procs: list[subprocess.Popen] = []
        self.outputs: list[list[str]] = []

    def start(self) -> None:
        self.procs, self.outputs = [], []
        for i in range(self.k):
            cmd = [sys.executable, "-c", CLI, "mqtt-bridge", "--url"]
            cmd += [f"mqtt://127.0.0.1:{self.port}", "--client-id", f"bench-bridge-{i}"]
            cmd += ["--stats", "0"]
            if not self.alarm_lane:
                cmd += ["--no-alarm-lane"]
            proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            lines: list[str] = []
            threading.Thread(target=self._read, args=(proc, lines), daemon=True).start()
            self.procs.append(proc)
            self.outputs.append(lines)

    @staticmethod
    def _read(proc, lines) -> None:
        for line in proc.stdout:
            lines.append(line.rstrip())

    def wait_connected(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(
                sum(" subscribed to " in ln for ln in out) >= self.lanes for out in self.outputs
            ):
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.05)
        sys.exit("a bridge did not connect:\n" + "\n".join(sum(self.outputs, [])))

    def stop(self) -> list[dict[str, int]]:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        counters = []
        for p, out in zip(self.procs, self.outputs, strict=True):
            cpu = reap(p)
            time.sleep(0.05)
            last = next((ln for ln in reversed(out) if "stopped." in ln), "")
            found = re.findall(r"(\w+)=([\d,]+)", last)
            lane = next((ln for ln in reversed(out) if "alarms lane:" in ln), "")
            alarms = {k: int(v.replace(",", "")) for k, v in re.findall(r"(\w+)=([\d,]+)", lane)}
            counters.append(
                {k: int(v.replace(",", "")) for k, v in found} | {"cpu": cpu, "alarms": alarms}
            )
        return counters


def reap(proc: subprocess.Popen) -> float:
    """Wait for a child and return the CPU seconds (user + system) it used."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def publish(spec: dict, tmp: Path, *, wait: bool = True) -> subprocess.Popen | dict:
    spec_file = tmp / f"spec-{time.monotonic_ns()}.json"
    spec["out"] = str(spec_file) + ".out"
    spec_file.write_text(json.dumps(spec))
    proc = subprocess.Popen([sys.executable, __file__, "--role", "publish", str(spec_file)])
    if not wait:
        return proc
    proc.wait()
    return json.loads(Path(spec["out"]).read_text())


# --- the database -----------------------------------------------------------------------------
def build(n_devices: int, n_alarm_devices: int) -> tuple[list, list]:
    """Migrate, the demo's places, accounts, workforce and event categories, then the devices
    in bulk. Returns ``[(device id, type)]`` for heartbeats and the gas detectors' ids."""
    from django.core.management import call_command

    from wangge.demo.registry import DemoContext, all_steps
    from wangge.perception.enums import DeviceStatus
    from wangge.perception.models import Device

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    ctx = DemoContext(scale="district", seed=1, verbose=False, residents=0)
    for step in all_steps():
        if step.name in ("places", "accounts", "workforce", "events"):
            step.func(ctx)
    types = ["smoke", "gas", "door", "water", "button", "wearable"]
    rows = [
        Device(
            device_id=f"BENCH-{i:06d}",
            type=types[i % 6],
            grid_code=MICRO,
            status=DeviceStatus.ONLINE,
        )
        for i in range(n_devices)
    ]
    rows += [
        Device(device_id=f"BENCH-GAS-{i:05d}", type="gas", grid_code=MICRO, status="online")
        for i in range(n_alarm_devices)
    ]
    Device.objects.bulk_create(rows, batch_size=2000)
    print(
        f"  database built in {time.perf_counter() - t:.0f}s: places, accounts, workforce, "
        f"categories; {n_devices:,} devices and {n_alarm_devices} gas detectors"
    )
    heartbeat = [(d.device_id, d.type) for d in rows[:n_devices]]
    return heartbeat, [d.device_id for d in rows[n_devices:]]


def stored() -> int:
    from wangge.perception.models import DeviceMessage

    return DeviceMessage.objects.count()


def wait_stored(target: int, timeout: float) -> list[tuple[float, int]]:
    """Poll the row count until ``target``; the samples ``(time, rows)``."""
    from django.db import connection

    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = stored()
        samples.append((time.monotonic(), n))
        if n >= target:
            break
        time.sleep(0.2)
    connection.close()
    return samples


def steady_rate(samples: list[tuple[float, int]], lo: int, hi: int) -> float:
    """Rows/s between the first samples past ``lo`` and ``hi`` rows (start-up excluded)."""
    a = next((s for s in samples if s[1] >= lo), None)
    b = next((s for s in samples if s[1] >= hi), samples[-1])
    if a is None or b[0] <= a[0]:
        return float("nan")
    return (b[1] - a[1]) / (b[0] - a[0])


def cpu_line(counters: list[dict[str, int]], startup: float) -> str:
    """The bridges' CPU per message (less what starting a bridge costs): what a core could
    carry, whatever else the machine ran."""
    cpu = sum(max(0.0, c.get("cpu", 0) - startup) for c in counters)
    n = sum(c.get("received", 0) for c in counters)
    if not n:
        return "bridge CPU: no messages"
    per = cpu / n * 1e6
    return (
        f"bridge CPU: {per:,.0f} µs a message ({cpu:.1f} s for {n:,}, start-up of "
        f"{startup:.1f} s each left out) "
        f"→ ≈ {1e6 / per:,.0f} messages/s per core of bridge"
    )


def alarm_latencies(alarm_times: dict[str, float]) -> tuple[list[float], int]:
    """Milliseconds from publishing each alarm to its first notice row; and how many alarms
    have no notice."""
    from wangge.events.models import Notification
    from wangge.perception.alarms import alarm_url
    from wangge.perception.models import Alarm

    alarms = {
        a.device.device_id: a
        for a in Alarm.objects.filter(device__device_id__in=list(alarm_times)).select_related(
            "device"
        )
    }
    out, missing = [], 0
    for device_id, t in alarm_times.items():
        alarm = alarms.get(device_id)
        notice = (
            Notification.objects.filter(link=alarm_url(alarm)).order_by("created_at").first()
            if alarm
            else None
        )
        if notice is None:
            missing += 1
            continue
        out.append((notice.created_at.timestamp() - t) * 1000)
    return out, missing


# --- the run ------------------------------------------------------------------------------------
def run(args, db_url: str | None, tmp: Path) -> None:
    env = {
        **os.environ,
        "WANGGE_DATA_DIR": str(tmp / "data"),
        "DJANGO_SETTINGS_MODULE": "wangge.settings",
    }
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    (tmp / "data").mkdir(exist_ok=True)
    os.environ.update({k: env[k] for k in ("WANGGE_DATA_DIR", "DJANGO_SETTINGS_MODULE")})
    os.environ.pop("DATABASE_URL", None)
    if db_url:
        os.environ["DATABASE_URL"] = db_url
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    bridge_counts = [int(k) for k in args.bridges.split(",")]
    alarms_per_run = int(args.seconds * ALARMS_PER_SECOND) + 2
    devices, gas = build(args.devices, alarms_per_run * len(bridge_counts))
    connection.close()
    broker, port = broker_start(tmp)
    try:
        # 1. the broker alone
        out = str(tmp / "ref.json")
        sub = subprocess.Popen(
            [sys.executable, __file__, "--role", "subscribe", str(port), str(args.backlog), out]
        )
        for _ in range(200):
            if Path(out + ".ready").exists():
                break
            time.sleep(0.05)
        pub = publish(
            {
                "port": port,
                "devices": devices,
                "count": args.backlog,
                "seq_base": 1,
                "topic": "bench/ref",
            },
            tmp,
        )
        ref_cpu = reap(sub)
        ref = json.loads(Path(out).read_text())
        ref_rate = ref["n"] / max(1e-9, ref["last"] - ref["first"])
        pub_rate = pub["sent"] / pub["seconds"]
        print(
            f"  reference — the broker alone: {ref['n']:,} QoS 1 messages received at "
            f"{ref_rate:,.0f}/s by a plain subscriber (publisher {pub_rate:,.0f}/s); the "
            f"subscriber used {ref_cpu / ref['n'] * 1e6:,.0f} µs of CPU a message"
        )
        if ref["n"] != args.backlog:
            fail(f"the reference subscriber got {ref['n']} of {args.backlog}")

        seq_base = 1_000_000
        expected = stored()  # rows every message published so far makes
        drain_timeout = max(args.timeout, args.backlog / 300)
        for k in bridge_counts:
            bridges = Bridges(k, port, env, alarm_lane=not args.no_alarm_lane)
            # 2. a backlog drained: the bridges and the database alone
            bridges.start()
            bridges.wait_connected()
            # the sessions keep the subscription: what comes now is queued; this first run
            # handled nothing, so its CPU is what starting and stopping a bridge costs
            startup = sum(c["cpu"] for c in bridges.stop()) / k
            before = stored()
            connection.close()
            pub = publish(
                {"port": port, "devices": devices, "count": args.backlog, "seq_base": seq_base}, tmp
            )
            seq_base += args.backlog + 10
            expected += args.backlog
            t0 = time.monotonic()
            bridges.start()
            samples = wait_stored(expected, timeout=drain_timeout)
            took = samples[-1][0] - t0
            counters = bridges.stop()
            got = samples[-1][1] - before
            rate = steady_rate(
                samples, before + args.backlog // 10, before + args.backlog * 9 // 10
            )
            split = " + ".join(f"{c.get('stored', 0):,}" for c in counters)
            goal = "" if rate >= GOAL_RATE else f" (goal {GOAL_RATE:,}/s)"
            print(
                f"  {k} bridge{'s' if k > 1 else ''} — backlog of {args.backlog:,} heartbeats: "
                f"{got:,} stored ({split}) in {took:.1f}s with start-up; steady {rate:,.0f}/s "
                f"= {rate / ref_rate:.2f} × the broker{goal}"
            )
            print(f"      {cpu_line(counters, startup)}")
            if got != args.backlog:
                fail(f"{k} bridges: {got} of {args.backlog} heartbeats stored")

            # 3. under load, with alarms
            bridges.start()
            bridges.wait_connected()
            before = stored()
            connection.close()
            mine, gas = gas[:alarms_per_run], gas[alarms_per_run:]
            t0 = time.monotonic()
            proc = publish(
                {
                    "port": port,
                    "devices": devices,
                    "rate": args.rate,
                    "seconds": args.seconds,
                    "seq_base": seq_base,
                    "alarm_devices": mine,
                    "alarms_per_second": ALARMS_PER_SECOND,
                },
                tmp,
                wait=False,
            )
            samples = []
            while proc.poll() is None:
                samples.append((time.monotonic(), stored()))
                connection.close()
                time.sleep(0.5)
            finished = time.monotonic()
            res = json.loads(Path(proc.args[-1] + ".out").read_text())
            seq_base += int(args.rate * args.seconds) + 10
            expected += res["sent"]
            samples += wait_stored(expected, timeout=drain_timeout)
            counters = bridges.stop()
            got = samples[-1][1] - before
            drained = samples[-1][0] - finished
            window = [s for s in samples if t0 + 2 <= s[0] <= t0 + res["seconds"]]
            rate = float("nan")
            if len(window) > 1:
                rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
            lat, missing = alarm_latencies(res["alarms"])
            offered = res["sent"] / res["seconds"]
            print(
                f"  {k} bridge{'s' if k > 1 else ''} — under load, {args.rate:,}/s offered for "
                f"{args.seconds:g}s (publisher achieved {offered:,.0f}/s): stored {rate:,.0f}/s "
                f"while publishing; all {got:,} of {res['sent']:,} stored {drained:.1f}s after "
                f"the publisher finished"
            )
            print(f"      {cpu_line(counters, startup)}")
            print(
                f"      alarm → notice row: {len(lat)} alarms, p50 {pct(lat, 0.5):,.0f} ms, "
                f"p99 {pct(lat, 0.99):,.0f} ms, max {max(lat, default=float('nan')):,.0f} ms"
                f"{'' if pct(lat, 0.99) <= GOAL_P99_MS else f' (goal p99 ≤ {GOAL_P99_MS} ms)'}"
            )
            if bridges.alarm_lane:
                lane = [c["alarms"] for c in counters]
                print(
                    f"      alarm lane: {sum(c.get('stored', 0) for c in lane)} alarms stored "
                    f"in {sum(c.get('batches', 0) for c in lane)} transactions "
                    f"({' + '.join(str(c.get('stored', 0)) for c in lane)} by bridge); "
                    f"the main lanes left {sum(c.get('skipped', 0) for c in counters)} copies"
                )
            else:
                print("      alarm lane: off (--no-alarm-lane): alarms queue with the heartbeats")
            if got != res["sent"]:
                fail(f"{k} bridges under load: {got} of {res['sent']} stored")
            if missing:
                fail(f"{missing} alarms without a notice")
            connection.close()
    finally:
        broker.terminate()
        broker.wait(10)
        from django.db import connections

        connections.close_all()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        if sys.argv[2] == "subscribe":
            role_subscribe(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        else:
            role_publish(sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--devices", type=int, default=2_000, help="heartbeat devices")
    ap.add_argument(
        "--backlog", type=int, default=60_000, help="heartbeats drained (and the reference)"
    )
    ap.add_argument("--rate", type=int, default=GOAL_RATE, help="heartbeats/s offered under load")
    ap.add_argument("--seconds", type=float, default=20, help="seconds under load")
    ap.add_argument("--bridges", default="1,2", help="bridge counts to try, e.g. 1,2")
    ap.add_argument("--timeout", type=float, default=90, help="seconds a drain may take")
    ap.add_argument("--smoke", action="store_true", help="SQLite, small: checks only (CI)")
    ap.add_argument(
        "--no-alarm-lane",
        action="store_true",
        help="bridges without their alarm lane (alarms queue with the heartbeats)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.db, args.devices, args.backlog = "sqlite", 100, 2_000
        args.rate, args.seconds, args.bridges = 300, 3, "1"
    if args.db == "sqlite" and args.bridges != "1":
        args.bridges = "1"  # SQLite has one writer: a second bridge only waits for the lock
    tmp = Path(tempfile.mkdtemp(prefix="wangge-perception-bench-"))
    t = time.perf_counter()
    print(
        f"perception benchmark — {args.db}{' (smoke)' if args.smoke else ''}, "
        f"alarm lane {'off' if args.no_alarm_lane else 'on'}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    try:
        if args.db == "sqlite":
            run(args, None, tmp)
        else:
            import psycopg

            with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {PG_DB}")
            try:
                run(args, f"{PG_BASE}/{PG_DB}", tmp)
            finally:
                with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"  run took {time.perf_counter() - t:.0f}s")
    if failures:
        print(f"FAILED: {len(failures)} wrong answers")
        sys.exit(1)


if __name__ == "__main__":
    main()
