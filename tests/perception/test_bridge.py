"""The MQTT bridge against a real broker: a private Mosquitto of this module (its own port and
persistence directory, so it can be stopped and started without touching the machine's broker),
bridges running in threads against the test database.

The bridge commits from its own connection, so these tests do not run inside the usual
rolled-back test transaction: they write for real (devices of their own, with ids no other
test uses) and delete what they made at the end of the module. Waiting is by polling the
bridge's counters (and then the database) against deadlines, never by fixed sleeps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.db import transaction
from paho.mqtt.enums import CallbackAPIVersion

from wangge.perception.bridge import (
    Bridge,
    BridgeConfig,
    ConfigError,
    broker_parse,
    topic_parse,
)

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
)
needs_broker = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (apt-get install mosquitto)"
)
PREFIX = f"BR{uuid.uuid4().hex[:6]}"  # device ids of this run
DEADLINE = 20.0  # seconds any wait may take before the test fails


# --- the broker -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A private broker: ``start()``, ``stop()`` (SIGTERM: it saves its persistence file) and
    ``start()`` again on the same port with the same sessions and queued messages."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            # as root, mosquitto would switch to its own user, which may not write here
            ("user root\n" if os.geteuid() == 0 else "") + f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "persistence_file mosquitto.db\n"
            "max_queued_messages 100000\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}), see {self.dir}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install mosquitto)")
    b = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


def wait_for(predicate, what: str, timeout: float = DEADLINE, detail=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}" + (f": {detail()}" if detail else ""))


class Publisher:
    """A device-side client: QoS 1 publishes, remembering which the broker acknowledged."""

    def __init__(self, url: str) -> None:
        b = broker_parse(url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.lock = threading.Lock()
        self.sent: dict[int, object] = {}  # mid → tag
        self.acked: list[object] = []
        self.acked_at: list[tuple[object, float]] = []  # (tag, when the PUBACK came)
        self.early: set[int] = set()
        self.client.on_publish = self._on_publish
        self.client.connect(b.host, b.port, keepalive=10)
        self.client.loop_start()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # paho holds its own lock here: never call into paho while holding self.lock
        with self.lock:
            if mid in self.sent:
                self._acked(self.sent.pop(mid))
            else:  # acknowledged before publish() returned its mid to us
                self.early.add(mid)

    def _acked(self, tag: object) -> None:
        self.acked.append(tag)
        self.acked_at.append((tag, time.monotonic()))

    def publish(self, topic: str, body: bytes, tag: object = None) -> None:
        info = self.client.publish(topic, body, qos=1)
        with self.lock:
            if info.mid in self.early:
                self.early.discard(info.mid)
                self._acked(tag)
            else:
                self.sent[info.mid] = tag

    def wait_acked(self, n: int) -> None:
        wait_for(lambda: len(self.acked) >= n, f"{n} PUBACKs")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker):
    p = Publisher(broker.url)
    yield p
    p.close()


# --- the database -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_db(django_db_setup, django_db_blocker):
    """Database access without the rolled-back test transaction (the bridge's thread must see
    the devices, and the test must see what the bridge committed)."""
    with django_db_blocker.unblock():
        yield
        _cleanup()


def _mine():
    from wangge.perception.models import Device

    return Device.objects.filter(device_id__startswith=PREFIX)


def _cleanup() -> None:
    """Delete what this module made: its alarms (their notices and events), dead letters,
    devices and (with them) messages."""
    from wangge.events.models import Event, Notification
    from wangge.perception.alarms import alarm_url
    from wangge.perception.models import Alarm, DeadLetter

    devices = list(_mine())
    alarms = list(Alarm.objects.filter(device__in=devices))
    events = [a.event_id for a in alarms if a.event_id]
    Notification.objects.filter(link__in=[alarm_url(a) for a in alarms]).delete()
    Alarm.objects.filter(pk__in=[a.pk for a in alarms]).delete()
    Event.objects.filter(pk__in=events).delete()
    DeadLetter.objects.filter(device_ref__startswith=PREFIX).delete()
    for d in devices:
        d.delete()


_n = iter(range(1, 1_000_000))


@pytest.fixture
def make_device(real_db):
    from tests.perception.conftest import house_in
    from wangge.accounts.scope import SYSTEM
    from wangge.perception.services import device_register

    def make(type: str = "smoke"):
        device, _key = device_register(
            actor=SYSTEM, device_id=f"{PREFIX}-{type}-{next(_n)}", type=type, house=house_in()
        )
        return device

    return make


def body(device, /, *, seq: int, event: str = "heartbeat", **extra) -> bytes:
    data = {
        "device": device.device_id,
        "type": device.type,
        "event": event,
        "value": extra.pop("value", None),
        "time": datetime.now(UTC).isoformat(),
        "seq": seq,
        "battery": 87,
        "rssi": -71,
    }
    data.update(extra)
    return json.dumps(data).encode()


def topic(device, channel: str = "heartbeat") -> str:
    return f"wangge/devices/{device.device_id}/{channel}"


def stored_seqs(device) -> list[int]:
    from wangge.perception.models import DeviceMessage

    return list(DeviceMessage.objects.filter(device=device).values_list("seq", flat=True))


# --- bridges ----------------------------------------------------------------------------------
@contextmanager
def running(url: str, *, client_id: str | None = None, group: str | None = None, **kw):
    """A bridge in threads of its own, subscribed; stopped cleanly on exit."""
    config = BridgeConfig(
        url=url,
        client_id=client_id or f"bridge-{uuid.uuid4().hex[:8]}",
        group=group or f"g{uuid.uuid4().hex[:8]}",
        batch=kw.pop("batch", 100),
        linger=kw.pop("linger", 0.02),
        reconnect_min=1,
        reconnect_max=2,
        **kw.pop("config", {}),
    )
    logs: list[str] = []
    bridge = Bridge(config, log=logs.append, **kw)
    bridge.logs = logs
    bridge.start()
    try:
        assert bridge.wait_subscribed(DEADLINE), logs
        yield bridge
    finally:
        bridge.stop(timeout=10)


def settled(bridge: Bridge, n: int) -> bool:
    """The bridge has stored or refused ``n`` messages and acknowledged them."""
    s = bridge.stats.snapshot()
    return s["stored"] + s["duplicate"] + s["dead"] >= n and s["acked"] >= n


# --- pure parts ---------------------------------------------------------------------------------
def test_broker_url_parsing():
    b = broker_parse("mqtt://user:p%40ss@broker.example:1884")
    assert (b.host, b.port, b.username, b.password, b.tls) == (
        "broker.example",
        1884,
        "user",
        "p@ss",
        False,
    )
    assert "p@ss" not in str(b)
    assert broker_parse("mqtts://h").port == 8883 and broker_parse("mqtt://h").port == 1883
    with pytest.raises(ConfigError, match="WANGGE_MQTT_URL"):
        broker_parse("")
    with pytest.raises(ConfigError, match="not a broker URL"):
        broker_parse("http://h:80")


def test_topic_parsing():
    assert topic_parse("wangge/devices/GAS-1/alarm") == ("GAS-1", "alarm")
    assert topic_parse("wangge/devices/GAS-1/whatever") == ("GAS-1", "whatever")
    device, channel = topic_parse("wangge/devices/GAS-1/alarm/extra")
    assert device == "GAS-1" and channel not in ("alarm", "heartbeat", "status")
    assert topic_parse("elsewhere/x")[0] == ""


def test_the_default_ingest_is_the_pipeline(db, make_device_rolled_back):
    """The bridge hands its batches to ``services.messages_ingest``. (This module's one test on
    the usual rolled-back database: pytest-django sets the test database up only when some
    test of the run asks for ``db``.)"""
    from wangge.perception.bridge import _default_ingest
    from wangge.perception.schema import Inbound

    device = make_device_rolled_back
    inbound = Inbound(
        device_id=device.device_id,
        channel="heartbeat",
        body=body(device, seq=1),
        transport="mqtt",
        received_at=datetime.now(UTC),
    )
    outcomes = _default_ingest([inbound, inbound])
    assert [o.status for o in outcomes] == ["stored", "duplicate"]  # twice in one batch
    assert stored_seqs(device) == [1]


@pytest.fixture
def make_device_rolled_back(city):
    from tests.perception.conftest import device_make

    return device_make("smoke")[0]


def test_command_without_broker_says_so(settings):
    from django.core.management import CommandError, call_command

    settings.WANGGE_MQTT_URL = ""
    with pytest.raises(CommandError, match="WANGGE_MQTT_URL"):
        call_command("mqtt_bridge")


# --- against the broker -----------------------------------------------------------------------
@needs_broker
def test_heartbeats_are_stored_and_update_the_device(broker, publisher, make_device):
    smoke = make_device("smoke")
    with running(broker.url) as bridge:
        for seq in range(1, 21):
            publisher.publish(topic(smoke), body(smoke, seq=seq, battery=90 - seq))
        publisher.wait_acked(20)
        wait_for(lambda: settled(bridge, 20), "20 messages stored and acknowledged")
        assert bridge.stats["stored"] == 20 and bridge.stats["dead"] == 0

    assert sorted(stored_seqs(smoke)) == list(range(1, 21))
    smoke.refresh_from_db()
    assert smoke.battery == 70 and smoke.last_heartbeat_at is not None


@needs_broker
def test_an_alarm_reaches_the_inbox_opens_an_event_and_escalates(broker, publisher, make_device):
    """A gas alarm over MQTT: stored, an alarm raised with its emergency event, the first
    responder's notice in the outbox; left unacknowledged past its time (moved forward, not
    slept) it escalates to the next tier."""
    from wangge.events.models import Notification
    from wangge.perception.alarms import alarm_url, alarms_escalate
    from wangge.perception.models import Alarm

    gas = make_device("gas")
    with running(broker.url) as bridge:
        publisher.publish(topic(gas, "alarm"), body(gas, seq=1, event="gas", value=35.5))
        wait_for(lambda: settled(bridge, 1), "the alarm stored and acknowledged")
        assert bridge.stats["stored"] == 1
        # stored by the alarm lane; the main lane's copy acknowledged without storing
        assert bridge.alarms.stats["stored"] == 1 and bridge.main.stats["stored"] == 0
        wait_for(lambda: bridge.main.stats["skipped"] == 1, "the main lane's copy")

    assert stored_seqs(gas) == [1]
    alarm = Alarm.objects.get(device=gas)
    assert (alarm.type, alarm.state, alarm.level, alarm.value) == ("gas", "new", 0, "35.5")
    assert alarm.event is not None and alarm.event.source == "sensor"
    first = Notification.objects.filter(link=alarm_url(alarm))
    assert first.count() >= 1 and {n.kind for n in first} == {"alarm"}
    notified = {n.post_id for n in first}

    # escalation runs over every alarm that is due, the demo's too: look inside a transaction
    # that is rolled back, so that this committed test leaves other alarms as they were
    with pytest.raises(RolledBack), transaction.atomic():
        alarms_escalate(now=alarm.raised_at + timedelta(minutes=1))
        alarm.refresh_from_db()
        assert alarm.level == 0
        alarms_escalate(now=alarm.next_escalation_at + timedelta(seconds=1))
        alarm.refresh_from_db()
        assert alarm.level == 1
        escalated = Notification.objects.filter(link=alarm_url(alarm), kind="alarm_escalated")
        assert escalated.exists() and not notified & {n.post_id for n in escalated}
        raise RolledBack


class RolledBack(Exception):
    pass


@needs_broker
def test_bad_messages_become_dead_letters_and_the_bridge_goes_on(broker, publisher, make_device):
    from wangge.perception.models import DeadLetter

    smoke = make_device("smoke")
    unknown = f"{PREFIX}-nobody"
    bad = [
        (topic(smoke), b"{not json"),
        (topic(smoke), json.dumps({"device": smoke.device_id, "seq": "x"}).encode()),
        (topic(smoke), body(smoke, seq=1, type="gas")),  # registered as smoke
        (f"wangge/devices/{unknown}/heartbeat", body(smoke, seq=1, device=unknown)),
        (f"wangge/devices/{smoke.device_id}/bogus", body(smoke, seq=2)),  # unknown channel
        (topic(smoke, "alarm"), body(smoke, seq=3)),  # a heartbeat on the alarm channel
        (topic(smoke), body(smoke, seq=4, device=f"{PREFIX}-other")),  # id differs from topic
    ]
    with running(broker.url) as bridge:
        for t, b in bad:
            publisher.publish(t, b)
        publisher.publish(topic(smoke), body(smoke, seq=5))  # a good one after them
        wait_for(lambda: settled(bridge, len(bad) + 1), "every message handled")
        assert bridge.stats["dead"] == len(bad) and bridge.stats["stored"] == 1

    assert stored_seqs(smoke) == [5]
    reasons = sorted(
        DeadLetter.objects.filter(device_ref__in=[smoke.device_id, unknown]).values_list(
            "reason", flat=True
        )
    )
    assert reasons == sorted(
        [
            "malformed",
            "schema",
            "type_mismatch",
            "unknown_device",
            "schema",
            "schema",
            "device_mismatch",
        ]
    )
    assert DeadLetter.objects.filter(device_ref=smoke.device_id, channel="bogus").exists()


@needs_broker
def test_a_repeated_sequence_number_is_stored_once(broker, publisher, make_device):
    from wangge.perception.models import DeadLetter

    door = make_device("door")
    first = body(door, seq=7)
    with running(broker.url, batch=1) as bridge:  # one batch each: the second finds the first
        publisher.publish(topic(door), first)
        publisher.publish(topic(door), first)
        publisher.publish(topic(door), body(door, seq=7, battery=12))  # same seq, other content
        wait_for(lambda: settled(bridge, 3), "three messages handled")
        assert bridge.stats["stored"] == 1 and bridge.stats["duplicate"] == 2
    assert stored_seqs(door) == [7]
    assert DeadLetter.objects.filter(device=door, reason="duplicate").count() == 2


@needs_broker
def test_messages_wait_in_the_broker_while_the_bridge_is_down(broker, publisher, make_device):
    water = make_device("water")
    client_id = f"bridge-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    with running(broker.url, client_id=client_id, group=group):
        pass  # subscribed once: the session (and its subscription) outlives the connection
    for seq in range(1, 31):
        publisher.publish(topic(water), body(water, seq=seq))
    publisher.wait_acked(30)
    with running(broker.url, client_id=client_id, group=group) as bridge:
        wait_for(lambda: settled(bridge, 30), "the 30 queued messages")
    assert sorted(stored_seqs(water)) == list(range(1, 31))


@needs_broker
@pytest.mark.parametrize("share", [False, True], ids=["plain", "shared"])
def test_broker_restart_mid_stream_loses_no_acknowledged_message(broker, make_device, share):
    """A publisher sends steadily while the broker is stopped and started again: every message
    the broker acknowledged to it (PUBACK) is in the database exactly once.

    With a shared subscription, Mosquitto 2.0 restores the bridge's session and its queued
    messages after a restart but not the subscription itself, so what devices publish between
    the restart and the bridge subscribing again has no subscriber: the broker acknowledges it
    and drops it (see docs/mqtt.md). Everything acknowledged before the stop or after the
    bridge's new SUBACK is stored; only that window may be missing."""
    devices = [make_device("smoke") for _ in range(3)]
    total = 600
    publisher = Publisher(broker.url)

    def publish_all():
        for seq in range(1, total // len(devices) + 1):
            for d in devices:
                publisher.publish(topic(d), body(d, seq=seq), tag=(d.pk, seq))
            time.sleep(0.002)

    try:
        with running(broker.url, config={"share": share}) as bridge:
            sender = threading.Thread(target=publish_all)
            sender.start()
            wait_for(lambda: bridge.stats["stored"] >= 100, "the first hundred stored")
            stopped_at = time.monotonic()
            broker.stop()
            wait_for(lambda: not bridge.connected, "the bridge to notice")
            broker.start()
            sender.join(DEADLINE)
            wait_for(lambda: not publisher.sent, "the publisher's messages acknowledged", 30)
            wait_for(lambda: len(bridge.subscribed_at) >= 2, "the bridge to subscribe again")
            window = (stopped_at, bridge.subscribed_at[1] + 0.2)
            acked = {tag for tag, _t in publisher.acked_at}
            must = {tag for tag, t in publisher.acked_at if not window[0] < t < window[1]}
            wait_for(
                lambda: bridge.stats["stored"] >= len(must) and idle(bridge),
                "the acknowledged messages stored",
                30,
                lambda: (len(must), bridge.stats.line(), bridge.logs),
            )
            assert bridge.main.stats["reconnects"] >= 1
            # the alarm lane came back on its own too, and still stores alarms
            assert bridge.alarms.stats["reconnects"] >= 1
            wait_for(lambda: bridge.alarms.connected_and_subscribed, "the alarm lane back")
            gas = make_device("gas")
            publisher.publish(topic(gas, "alarm"), body(gas, seq=1, event="gas", value=40))
            wait_for(lambda: bridge.alarms.stats["stored"] == 1, "an alarm after the restart")
    finally:
        publisher.close()

    from wangge.perception.models import DeviceMessage

    rows = list(DeviceMessage.objects.filter(device__in=devices).values_list("device_id", "seq"))
    assert len(rows) == len(set(rows))  # each once
    assert len(acked) == total  # the publisher got every message through in the end
    assert must <= set(rows)  # every one acknowledged while a subscription existed
    if not share:  # a plain persistent subscription survives the restart: nothing is missing
        assert acked <= set(rows)


def idle(bridge: Bridge, quiet: float = 0.3) -> bool:
    """Nothing queued, everything received handled, and nothing new for ``quiet`` seconds."""
    before = bridge.stats["received"]
    s = bridge.stats.snapshot()
    if bridge.pending or s["stored"] + s["duplicate"] + s["dead"] < s["received"]:
        return False
    time.sleep(quiet)
    return bridge.stats["received"] == before


@needs_broker
def test_a_bridge_killed_after_storing_but_before_acking_stores_once(
    broker, publisher, make_device
):
    """The first bridge commits a batch and dies before its PUBACKs: the broker sends the
    batch again to the bridge that takes over the session, which finds it stored."""
    from wangge.perception.services import messages_ingest

    gas = make_device("gas")
    client_id = f"bridge-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    crashed = threading.Event()
    holder: dict[str, Bridge] = {}

    def store_then_die(messages):
        outcomes = messages_ingest(messages=messages)
        crashed.set()
        holder["bridge"].abort()  # committed, nothing acknowledged
        return outcomes

    first = Bridge(
        BridgeConfig(url=broker.url, client_id=client_id, group=group, batch=50, linger=0.2),
        ingest=store_then_die,
        log=lambda s: None,
    )
    holder["bridge"] = first
    first.start()
    assert first.wait_subscribed(DEADLINE)
    for seq in range(1, 11):
        publisher.publish(topic(gas), body(gas, seq=seq))
    publisher.wait_acked(10)
    wait_for(crashed.is_set, "the first bridge to store a batch")
    stored_by_first = len(stored_seqs(gas))
    assert stored_by_first >= 1 and first.stats["acked"] == 0

    with running(broker.url, client_id=client_id, group=group) as second:
        wait_for(lambda: settled(second, 10), "the redelivered messages")
        assert second.stats["duplicate"] == stored_by_first
        assert second.stats["stored"] == 10 - stored_by_first
    assert sorted(stored_seqs(gas)) == list(range(1, 11))

    with running(broker.url, client_id=client_id, group=group) as third:
        publisher.publish(topic(gas), body(gas, seq=11))
        wait_for(lambda: settled(third, 1), "a fresh message")
        # the second bridge acknowledged everything: nothing was delivered a third time
        assert third.stats["received"] == 1


@needs_broker
def test_two_bridges_split_a_shared_subscription(broker, publisher, make_device):
    devices = [make_device("button") for _ in range(4)]
    group = f"g{uuid.uuid4().hex[:8]}"
    n = 400
    with running(broker.url, group=group) as a, running(broker.url, group=group) as b:
        for seq in range(1, n // len(devices) + 1):
            for d in devices:
                publisher.publish(topic(d), body(d, seq=seq))
        publisher.wait_acked(n)
        wait_for(lambda: a.stats["acked"] + b.stats["acked"] >= n, "every message acknowledged")
        received = (a.stats["received"], b.stats["received"])
        duplicates = a.stats["duplicate"] + b.stats["duplicate"]
    assert sum(received) == n and min(received) > 0  # split, none delivered twice
    assert duplicates == 0
    rows = [(d.pk, s) for d in devices for s in stored_seqs(d)]
    assert len(rows) == n and len(set(rows)) == n


@needs_broker
def test_a_failing_database_is_retried_and_nothing_is_acknowledged_meanwhile(
    broker, publisher, make_device
):
    from wangge.perception.services import messages_ingest

    smoke = make_device("smoke")
    failures = {"left": 3}
    seen_acks: list[int] = []

    def flaky(messages):
        if failures["left"]:
            failures["left"] -= 1
            seen_acks.append(bridge_ref["b"].stats["acked"])
            raise RuntimeError("database is down")
        return messages_ingest(messages=messages)

    bridge_ref: dict[str, Bridge] = {}
    with running(broker.url, ingest=flaky) as bridge:
        bridge_ref["b"] = bridge
        for seq in range(1, 6):
            publisher.publish(topic(smoke), body(smoke, seq=seq))
        wait_for(lambda: settled(bridge, 5), "the messages after the failures")
        assert bridge.stats["db_errors"] == 3
    assert seen_acks == [0, 0, 0]
    assert sorted(stored_seqs(smoke)) == [1, 2, 3, 4, 5]


@needs_broker
def test_an_alarm_behind_a_heartbeat_backlog_is_stored_before_the_backlog_drains(
    broker, publisher, make_device
):
    """5,000 heartbeats wait in the broker for a bridge that is down, then one alarm: when the
    bridge starts, the alarm lane (its own session, queue and worker) stores the alarm before
    the main lane has stored the last heartbeat of the backlog — it does not wait behind them.
    The order is the rows' insertion order (their ids), not the clock."""
    from wangge.perception.models import Alarm, DeviceMessage

    smoke, gas = make_device("smoke"), make_device("gas")
    client_id = f"bridge-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    with running(broker.url, client_id=client_id, group=group):
        pass  # both lanes' sessions (and subscriptions) exist from now on
    n = 5_000
    for seq in range(1, n + 1):
        publisher.publish(topic(smoke), body(smoke, seq=seq))
    publisher.publish(topic(gas, "alarm"), body(gas, seq=1, event="gas", value=40))
    wait_for(lambda: len(publisher.acked) >= n + 1, f"{n + 1} PUBACKs", 60)

    with running(broker.url, client_id=client_id, group=group) as bridge:
        wait_for(lambda: settled(bridge, n + 1), "the backlog and the alarm", 60)
        main, alarms = bridge.main.stats.snapshot(), bridge.alarms.stats.snapshot()
    assert (alarms["received"], alarms["stored"], alarms["acked"]) == (1, 1, 1)
    assert (main["received"], main["stored"], main["acked"]) == (n, n, n)
    assert main["skipped"] == 1  # the main lane's copy of the alarm: acknowledged, not stored

    alarm_row = DeviceMessage.objects.get(device=gas, seq=1)
    heartbeats = DeviceMessage.objects.filter(device=smoke)
    assert heartbeats.count() == n and Alarm.objects.filter(device=gas).count() == 1
    last = heartbeats.order_by("-pk").first()
    before_alarm = heartbeats.filter(pk__lt=alarm_row.pk).count()
    assert alarm_row.pk < last.pk, f"the alarm was stored after all {n} heartbeats"
    assert before_alarm < n


@needs_broker
def test_without_the_alarm_lane_one_client_takes_everything(broker, publisher, make_device):
    """``alarm_lane=False`` (``--no-alarm-lane``): one client, alarms stored by it."""
    smoke, gas = make_device("smoke"), make_device("gas")
    with running(broker.url, config={"alarm_lane": False}) as bridge:
        assert bridge.alarms is None and len(bridge.lanes) == 1
        publisher.publish(topic(smoke), body(smoke, seq=1))
        publisher.publish(topic(gas, "alarm"), body(gas, seq=1, event="gas", value=40))
        wait_for(lambda: settled(bridge, 2), "both messages")
        assert bridge.stats["stored"] == 2 and bridge.stats["skipped"] == 0
    assert stored_seqs(gas) == [1] and stored_seqs(smoke) == [1]


@needs_broker
def test_alarms_queued_before_the_alarm_lane_existed_are_not_lost(broker, publisher, make_device):
    """A bridge without an alarm lane (the main session resumed under the same client id, as
    after an upgrade) was down while an alarm came: that alarm is in the main session only,
    the new alarm lane's session never had it — so the main lane stores it instead of leaving
    it to the alarm lane."""
    from wangge.perception.models import Alarm

    gas = make_device("gas")
    client_id = f"bridge-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    with running(broker.url, client_id=client_id, group=group, config={"alarm_lane": False}):
        pass
    publisher.publish(topic(gas, "alarm"), body(gas, seq=1, event="gas", value=40))
    publisher.wait_acked(1)
    with running(broker.url, client_id=client_id, group=group) as bridge:
        wait_for(lambda: settled(bridge, 1), "the alarm queued in the main session")
        assert bridge.main.stats["stored"] == 1 and bridge.main.stats["skipped"] == 0
        assert bridge.alarms.first_session is False and bridge.main.first_session is True
    assert stored_seqs(gas) == [1] and Alarm.objects.filter(device=gas).count() == 1
