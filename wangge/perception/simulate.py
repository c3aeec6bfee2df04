"""Simulated devices: heartbeats, door activity and now and then an alarm, at a steady rate,
over MQTT (QoS 1, to ``wangge/devices/<id>/<channel>``) or HTTP (signed with each device's key,
``POST /api/perception/messages``) — so the demo's cockpit shows live device traffic and the
benchmark has a load.

The devices are the demo's: ``demo-devices.csv`` in the data directory (``device_id, type, key,
grid_code``, written by the demo) or, for MQTT, which needs no key, the device registry.
Sequence numbers come from the clock in microseconds (and grow by at least one per message of a
device), so a second run never reuses a number of the first. Batteries drain slowly, signal
strength wanders, firmware stays.
"""

from __future__ import annotations

import csv
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from wangge.perception.bridge import TOPIC_ROOT, broker_parse

CHINA = timezone(timedelta(hours=8))
DEVICES_CSV = "demo-devices.csv"
HTTP_PATH = "/api/perception/messages"

# the alarm a device of each type raises (schema.ALARM_EVENTS) and what it measures
ALARM_EVENT = {
    "smoke": "smoke",
    "gas": "gas",
    "door": "door_open",
    "water": "leak",
    "button": "sos",
    "wearable": "fall",
}
FIRMWARE = {
    "smoke": "SD-2.4.1",
    "gas": "GD-3.1.0",
    "door": "DM-1.8.2",
    "water": "WL-1.2.7",
    "button": "EB-2.0.3",
    "wearable": "FW-4.5.0",
}
DOOR_ACTIVITY_SHARE = 0.3  # of a door magnet's messages: an ordinary opening or closing


@dataclass
class SimDevice:
    device_id: str
    type: str
    key: str = ""
    grid_code: str = ""
    seq: int = 0
    battery: float = 100.0
    rssi: int = -70
    door_open: bool = False

    def next_seq(self) -> int:
        self.seq = max(self.seq + 1, time.time_ns() // 1000)
        return self.seq


def devices_from_csv(path: Path) -> list[SimDevice]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [
            SimDevice(
                device_id=row["device_id"],
                type=row["type"],
                key=row.get("key") or "",
                grid_code=row.get("grid_code") or "",
            )
            for row in csv.DictReader(fh)
            if row.get("device_id") and row.get("type") in ALARM_EVENT
        ]


def devices_from_db() -> list[SimDevice]:
    from wangge.perception.enums import DeviceStatus
    from wangge.perception.models import Device

    rows = (
        Device.objects.exclude(status=DeviceStatus.DISABLED)
        .order_by("device_id")
        .values_list("device_id", "type", "grid_code")
    )
    return [SimDevice(device_id=d, type=t, grid_code=g) for d, t, g in rows]


def devices_load(*, data_dir: Path, need_keys: bool, limit: int | None = None) -> list[SimDevice]:
    """The demo's devices, each with a battery and a signal of its own (seeded by its id)."""
    path = Path(data_dir) / DEVICES_CSV
    if path.exists():
        devices = devices_from_csv(path)
        if need_keys:
            devices = [d for d in devices if d.key]
    elif need_keys:
        raise FileNotFoundError(
            f"{path} not found: HTTP needs the device keys the demo writes there (run wangge demo)"
        )
    else:
        devices = devices_from_db()
    if limit:
        devices = devices[:limit]
    for d in devices:
        rng = random.Random(d.device_id)
        d.battery = rng.uniform(35, 100)
        d.rssi = rng.randint(-95, -55)
    return devices


def message_make(
    device: SimDevice, *, alarm: bool, rng: random.Random, now: datetime | None = None
) -> tuple[str, bytes]:
    """``(channel, body)`` of the device's next message: an alarm, a door magnet's ordinary
    opening or closing now and then, else a heartbeat."""
    now = now or datetime.now(UTC)
    device.battery = max(0.0, device.battery - rng.uniform(0, 0.02))
    device.rssi = max(-110, min(-40, device.rssi + rng.randint(-2, 2)))
    value: float | str | None = None
    if alarm:
        channel, event = "alarm", ALARM_EVENT[device.type]
        if device.type == "gas":
            value = round(rng.uniform(12, 60), 1)  # %LEL
        elif device.type == "smoke":
            value = round(rng.uniform(0.15, 0.9), 2)  # obscuration dB/m
        elif device.type == "wearable":
            value = round(rng.uniform(2.5, 6.0), 1)  # g at impact
    elif device.type == "door" and rng.random() < DOOR_ACTIVITY_SHARE:
        device.door_open = not device.door_open
        channel, event = "status", "door_open" if device.door_open else "door_close"
    else:
        channel, event = "heartbeat", "heartbeat"
    payload = {
        "device": device.device_id,
        "type": device.type,
        "event": event,
        "value": value,
        "time": now.astimezone(CHINA).isoformat(timespec="milliseconds"),
        "seq": device.next_seq(),
        "battery": round(device.battery),
        "firmware": FIRMWARE.get(device.type, "1.0.0"),
        "rssi": device.rssi,
    }
    return channel, json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Report:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    alarms: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    # (device id, seq) → monotonic time of publishing, for the alarms (latency measurements)
    alarm_times: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"sent {self.sent:,} (alarms {self.alarms:,}), acknowledged {self.acked:,}, "
            f"failed {self.failed:,} in {self.seconds:.1f} s: {self.rate:,.0f} msg/s"
        )


class Sender:
    """A transport: ``send(device, channel, body)`` then ``close(timeout)``; counts into a
    report."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.lock = threading.Lock()

    def _count(self, *, acked: int = 0, failed: int = 0, error: str = "") -> None:
        with self.lock:
            self.report.acked += acked
            self.report.failed += failed
            if error:
                self.report.errors[error] = self.report.errors.get(error, 0) + 1

    def send(self, device: SimDevice, channel: str, body: bytes) -> None:
        raise NotImplementedError

    def close(self, timeout: float) -> None:
        pass


class MqttSender(Sender):
    """QoS 1 publishes; a message counts as acknowledged on the broker's PUBACK."""

    def __init__(self, report: Report, url: str, *, client_id: str = "") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        super().__init__(report)
        broker = broker_parse(url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set()
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.pending: set[int] = set()
        self.early: set[int] = set()
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            self.client.loop_stop()
            raise ConnectionError(f"no answer from the broker {broker}")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # paho calls this holding a lock of its own: never call paho holding self.lock
        with self.lock:
            if mid in self.pending:
                self.pending.discard(mid)
                self.report.acked += 1
            else:  # the PUBACK came before send() recorded the mid
                self.early.add(mid)

    def send(self, device: SimDevice, channel: str, body: bytes) -> None:
        topic = f"{TOPIC_ROOT}/{device.device_id}/{channel}"
        info = self.client.publish(topic, body, qos=1)
        if info.rc != 0:
            self._count(failed=1, error=f"publish rc {info.rc}")
            return
        with self.lock:
            if info.mid in self.early:
                self.early.discard(info.mid)
                self.report.acked += 1
            else:
                self.pending.add(info.mid)

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.02)
        with self.lock:
            self.report.failed += len(self.pending)
            self.pending.clear()
        self.client.disconnect()
        self.client.loop_stop()


def http_request(
    device: SimDevice, channel: str, body: bytes, *, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a signed ``POST /api/perception/messages``: over HTTP the
    channel travels in the payload (over MQTT in the topic)."""
    from wangge.perception.signing import headers

    data = json.loads(body)
    data["channel"] = channel
    body = json.dumps(data, separators=(",", ":")).encode()
    stamp = int(time.time() if now is None else now)
    return body, {
        "Content-Type": "application/json",
        **headers(device.device_id, device.key, stamp, body),
    }


class HttpSender(Sender):
    """Signed POSTs (X-Device-Id, X-Timestamp, X-Signature) from a few threads; a 2xx answer
    counts as acknowledged."""

    def __init__(self, report: Report, base_url: str, *, workers: int = 4) -> None:
        super().__init__(report)
        self.url = base_url.rstrip("/") + HTTP_PATH
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulate-http")
        self.slots = threading.BoundedSemaphore(workers * 4)

    def _post(self, device: SimDevice, body: bytes, headers: dict[str, str]) -> None:
        try:
            request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as answer:
                results = json.loads(answer.read() or b"{}").get("results") or []
            refused = [
                r.get("reason") or r.get("status") for r in results if r.get("status") != "stored"
            ]
            self._count(acked=1, error=f"answered {refused[0]}" if refused else "")
        except urllib.error.HTTPError as exc:
            self._count(failed=1, error=f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._count(failed=1, error=type(exc).__name__)
        finally:
            self.slots.release()

    def send(self, device: SimDevice, channel: str, body: bytes) -> None:
        body, headers = http_request(device, channel, body)
        self.slots.acquire()
        self.pool.submit(self._post, device, body, headers)

    def close(self, timeout: float) -> None:
        self.pool.shutdown(wait=True)


def simulate(
    *,
    devices: list[SimDevice],
    sender: Sender,
    rate: float,
    duration: float,
    alarm_share: float = 0.001,
    seed: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[Report], None] | None = None,
    drain_seconds: float = 15.0,
) -> Report:
    """Send ``rate`` messages a second for ``duration`` seconds, devices in turn (each in a
    shuffled order), ``alarm_share`` of them alarms; then wait up to ``drain_seconds`` for the
    last acknowledgements. Returns the sender's report."""
    if not devices:
        raise ValueError("no devices to simulate (run wangge demo first)")
    rng = random.Random(seed)
    report = sender.report
    order = list(devices)
    rng.shuffle(order)
    total = int(rate * duration)
    start = time.monotonic()
    next_progress = start + 5
    for i in range(total):
        if stop is not None and stop.is_set():
            break
        due = start + i / rate
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        device = order[i % len(order)]
        alarm = rng.random() < alarm_share
        channel, body = message_make(device, alarm=alarm, rng=rng)
        if alarm:
            report.alarms += 1
            report.alarm_times[(device.device_id, device.seq)] = time.monotonic()
        sender.send(device, channel, body)
        report.sent += 1
        if progress is not None and time.monotonic() >= next_progress:
            report.seconds = time.monotonic() - start
            progress(report)
            next_progress += 5
    sender.close(drain_seconds)
    report.seconds = time.monotonic() - start
    return report
