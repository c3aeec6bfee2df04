"""The MQTT bridge: device messages from the broker into the ingestion pipeline.

Devices publish to ``wangge/devices/<device id>/<alarm|heartbeat|status>`` (QoS 1). The bridge
subscribes with a shared subscription (``$share/wangge/wangge/devices/+/+``), so several
bridges split the messages between them, and keeps a persistent session (MQTT 5: a session
expiry; MQTT 3.1.1: ``clean_session=False``; both with a stable client id), so what devices
publish while a bridge is down waits in the broker for it.

**Store first, then acknowledge.** ``on_message`` (paho's network thread) only puts the message
on a queue. A worker thread takes batches (up to ``batch`` messages, or what came within
``linger`` seconds of the first), hands them to ``services.messages_ingest`` — one transaction,
committed when it returns — and only then sends each message's PUBACK (paho's ``manual_ack``).
If the database call fails nothing is acknowledged and the same batch is tried again with
growing pauses; if the bridge dies first, the broker sends the unacknowledged messages again
when the session reconnects, and the pipeline stores a ``(device, seq)`` it already has once
(a *duplicate*). A message the pipeline refuses (not JSON, wrong schema, unknown device, a topic
whose channel is not one of the three) is a dead letter, stored as such and acknowledged: bad
input never stops the bridge.

**Alarms have a lane of their own**, so that an alarm never waits behind heartbeats — in the
broker's queue of the session, in the window of unacknowledged messages, or in the batch queue.
A second client (client id ``<id>-alarms``, its own persistent session) subscribes to
``$share/wangge/wangge/devices/+/alarm`` (the plain topic with ``share=False``) and has its own
queue and worker, which stores whatever is waiting (up to ``alarm_batch``, no linger) and
acknowledges after the commit, exactly as the main lane does. The main client keeps the
catch-all subscription (so that a topic of an unknown channel still becomes a dead letter);
MQTT cannot subscribe to "all but alarms", so the broker sends it a copy of each alarm as well,
which it acknowledges at once without storing (counted as ``skipped``): each alarm is stored by
the alarm lane only. Only once the alarm lane's session is known to hold every alarm the main
lane's holds, though: when the alarm lane's session is new and the main lane's resumed (the first
start with an alarm lane), alarms queued during the downtime are in the main session only, so
the main lane stores its copies for that run (see ``_Lane._alarms_covered``). Each lane
reconnects with backoff on its own; ``stop()`` drains both.

PUBACKs are only sent on the connection the message came on: after a reconnect the broker
sends the unacknowledged messages again, and those are acknowledged instead. With MQTT 5 the
bridge asks the broker for a window of ``2 × batch`` unacknowledged messages (Receive Maximum);
MQTT 3.1.1 clients get the broker's ``max_inflight_messages`` (Mosquitto: 20), which caps a
batch at that size — see docs/mqtt.md.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.db import close_old_connections, connection, connections
from django.utils import timezone
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wangge.perception.enums import Transport
from wangge.perception.schema import Inbound, Outcome

logger = logging.getLogger("wangge.perception.bridge")

TOPIC_ROOT = "wangge/devices"
TOPIC_FILTER = f"{TOPIC_ROOT}/+/+"
ALARM_CHANNEL = "alarm"
ALARM_FILTER = f"{TOPIC_ROOT}/+/{ALARM_CHANNEL}"
SHARE_GROUP = "wangge"
SESSION_EXPIRY = 7 * 24 * 3600  # seconds the broker keeps an MQTT 5 session of a bridge
MAX_BACKOFF = 10.0  # seconds between retries of a batch the database refused
ALARM_LANE_WAIT = 3.0  # seconds the main lane's start waits for the alarm lane's CONNACK
MAX_TOPIC = 200  # characters of a topic kept in a dead letter's channel

Ingest = Callable[[Sequence[Inbound]], list[Outcome]]


class ConfigError(ValueError):
    """The bridge cannot start: no broker named, or a broker URL it does not understand."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __str__(self) -> str:  # never the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def broker_parse(url: str) -> Broker:
    """``mqtt://[user:pass@]host[:port]`` (1883) or ``mqtts://…`` (TLS, 8883)."""
    if not url:
        raise ConfigError(
            "no MQTT broker: set WANGGE_MQTT_URL (e.g. mqtt://127.0.0.1:1883) or pass --url"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ConfigError(f"not a broker URL: {url!r} (mqtt://[user:pass@]host:port)")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"not a port in {url!r}") from None
    return Broker(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def topic_parse(topic: str) -> tuple[str, str]:
    """``(device id, channel)`` of a device topic. A topic of another shape keeps what can be
    read of it (the device segment, the whole topic as the channel) so that the pipeline files
    it as a dead letter with the topic visible."""
    parts = topic.split("/")
    if len(parts) == 4 and "/".join(parts[:2]) == TOPIC_ROOT and parts[2]:
        return parts[2], parts[3]
    device = parts[2] if len(parts) > 2 and "/".join(parts[:2]) == TOPIC_ROOT else ""
    return device[:64], f"topic:{topic}"[:MAX_TOPIC]


def default_client_id() -> str:
    return f"wangge-bridge-{socket.gethostname()}"[:64]


@dataclass
class BridgeConfig:
    url: str
    client_id: str = field(default_factory=default_client_id)
    share: bool = True
    group: str = SHARE_GROUP
    batch: int = 500
    linger: float = 0.05  # seconds a batch waits for more after its first message
    protocol: int = 5  # 5 or 311
    keepalive: int = 30
    session_expiry: int = SESSION_EXPIRY
    reconnect_min: int = 1
    reconnect_max: int = 30
    alarm_lane: bool = True  # alarms through a client, queue and worker of their own
    alarm_batch: int = 50  # an alarm batch: what is waiting, up to this many (no linger)

    def _shared(self, topic_filter: str) -> str:
        return f"$share/{self.group}/{topic_filter}" if self.share else topic_filter

    @property
    def subscription(self) -> str:
        """The main lane's subscription: every device topic (alarms included — see
        ``_Lane._on_message``: with an alarm lane it leaves them to that lane)."""
        return self._shared(TOPIC_FILTER)

    @property
    def alarm_subscription(self) -> str:
        return self._shared(ALARM_FILTER)

    @property
    def alarm_client_id(self) -> str:
        return f"{self.client_id}-alarms"


class Stats:
    """A lane's counters (thread-safe). ``skipped``: alarms the main lane left to the alarm
    lane (acknowledged at once, not stored by it)."""

    NAMES = (
        "received",
        "stored",
        "duplicate",
        "dead",
        "acked",
        "batches",
        "db_errors",
        "reconnects",
        "skipped",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self.NAMES, 0)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                self._values[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def __getitem__(self, name: str) -> int:
        return self.snapshot()[name]

    def line(self) -> str:
        v = self.snapshot()
        return " ".join(f"{name.replace('_', ' ')}={v[name]:,}" for name in self.NAMES)


class StatsTotal(Stats):
    """The bridge's counters: the sum of its lanes' (read only)."""

    def __init__(self, parts: Sequence[Stats]) -> None:
        self.parts = list(parts)

    def add(self, **counts: int) -> None:  # pragma: no cover — the lanes count
        raise TypeError("the lanes count; the total only adds them up")

    def snapshot(self) -> dict[str, int]:
        total = dict.fromkeys(self.NAMES, 0)
        for part in self.parts:
            for name, n in part.snapshot().items():
                total[name] += n
        return total


@dataclass(frozen=True)
class _Item:
    inbound: Inbound
    mid: int
    qos: int
    generation: int  # the connection the message came on


def _default_ingest(messages: Sequence[Inbound]) -> list[Outcome]:
    from wangge.perception.services import messages_ingest

    return messages_ingest(messages=messages)


class _Lane:
    """One MQTT client (its network thread, its persistent session) with its own queue and a
    worker thread that stores a batch, then acknowledges it."""

    def __init__(
        self,
        *,
        name: str,
        config: BridgeConfig,
        broker: Broker,
        client_id: str,
        subscription: str,
        batch: int,
        linger: float,
        ingest: Ingest,
        log: Callable[[str], None],
    ) -> None:
        self.name = name
        self.config = config
        self.broker = broker
        self.client_id = client_id
        self.subscription = subscription
        self.batch = batch
        self.linger = linger
        self.alarm_lane: _Lane | None = None  # set on the main lane when alarms have their own
        self.first_session: bool | None = None  # the first CONNACK's "session present"
        self._connected_once = threading.Event()
        self.ingest = ingest
        self.log = log
        self.stats = Stats()
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._aborted = threading.Event()
        self._worker: threading.Thread | None = None
        self._connects = 0
        self.subscribed_at: list[float] = []  # monotonic times of the broker's SUBACKs
        self.client = self._make_client()

    # --- the MQTT side (paho's network thread) ------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        c = self.config
        v5 = c.protocol == 5
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
            reconnect_on_failure=True,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=c.reconnect_min, max_delay=c.reconnect_max)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties | None:
        if self.config.protocol != 5:
            return None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry
        # how many unacknowledged messages the broker may send us: enough for full batches
        props.ReceiveMaximum = max(20, min(65_535, 2 * self.batch))
        return props

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.log(f"broker {self.broker} refused the connection: {reason_code}")
            return
        self._generation += 1
        self._connects += 1
        if self.first_session is None:
            self.first_session = bool(flags.session_present)
            self._connected_once.set()
        if self._connects > 1:
            self.stats.add(reconnects=1)
        self.log(
            f"connected to {self.broker} as {self.client_id} "
            f"(session {'resumed' if flags.session_present else 'new'})"
        )
        # subscribe every time: a new session has no subscription, a resumed one is unharmed
        client.subscribe(self.subscription, qos=1)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stopping.is_set():
            self.log(
                f"{self.client_id} disconnected from {self.broker} ({reason_code}); reconnecting"
            )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self.log(f"the broker refused the subscription {self.subscription}")
            return
        self.subscribed_at.append(time.monotonic())
        self.log(f"{self.client_id} subscribed to {self.subscription}")
        self._subscribed.set()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        device_id, channel = topic_parse(message.topic)
        if channel == ALARM_CHANNEL and self._alarms_covered():
            # the alarm lane's own subscription has this message too and stores it: this copy
            # is acknowledged at once so that it never holds a place in this lane's window
            if message.qos:
                client.ack(message.mid, message.qos)
            self.stats.add(skipped=1)
            return
        item = _Item(
            inbound=Inbound(
                device_id=device_id,
                channel=channel,
                body=bytes(message.payload),
                transport=Transport.MQTT,
                received_at=timezone.now(),
            ),
            mid=message.mid,
            qos=message.qos,
            generation=self._generation,
        )
        self.stats.add(received=1)
        self._queue.put(item)

    def _alarms_covered(self) -> bool:
        """Whether the alarm lane's session has its own copy of every alarm this lane gets, so
        that this lane may drop its copy. Not before the alarm lane's first CONNACK of this
        process, and not when the alarm lane's session is new while this lane's was resumed
        (the first start with an alarm lane, or its session expired): alarms queued while the
        bridge was down are then only in this lane's session, and this lane stores them — for
        the rest of the run, an alarm that both lanes store is a ``duplicate`` the second time."""
        alarms = self.alarm_lane
        if alarms is None or alarms.first_session is None:
            return False
        return alarms.first_session or not self.first_session

    # --- the worker: store, then acknowledge ------------------------------------------------
    def _take(self) -> list[_Item]:
        """The next batch: waits for a first message (briefly, to notice a stop), then takes
        what is already queued and what comes within ``linger``, up to ``batch``."""
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[_Item]) -> list[Outcome] | None:
        """The batch through the pipeline, retried with growing pauses while the database
        fails; ``None`` when the bridge is aborted first (nothing is acknowledged)."""
        pause = 0.05
        while not self._aborted.is_set():
            try:
                close_old_connections()
                return self.ingest([i.inbound for i in batch])
            except Exception as exc:  # the database is down or busy: keep the batch
                self.stats.add(db_errors=1)
                self.log(f"{self.name}: storing a batch of {len(batch)} failed ({exc!r}); retrying")
                try:
                    connection.close()
                except Exception:  # noqa: BLE001 — the connection is already broken
                    pass
                self._aborted.wait(pause)
                pause = min(MAX_BACKOFF, pause * 2)
        return None

    def _ack(self, batch: list[_Item]) -> int:
        acked = 0
        for item in batch:
            if item.qos == 0:
                continue
            # a message from an earlier connection is sent again by the broker: ack that one
            if item.generation != self._generation or not self._connected.is_set():
                continue
            if self.client.ack(item.mid, item.qos) == mqtt.MQTT_ERR_SUCCESS:
                acked += 1
        return acked

    def _work(self) -> None:
        try:
            while not self._aborted.is_set():
                batch = self._take()
                if not batch:
                    if self._stopping.is_set():
                        return
                    continue
                outcomes = self._store(batch)
                if outcomes is None or self._aborted.is_set():
                    return
                counts = {"stored": 0, "duplicate": 0, "dead": 0}
                for outcome in outcomes:
                    counts[outcome.status] = counts.get(outcome.status, 0) + 1
                acked = self._ack(batch)
                self.stats.add(batches=1, acked=acked, **counts)
        finally:
            connections.close_all()

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._worker = threading.Thread(
            target=self._work, name=f"bridge-worker-{self.client_id}", daemon=True
        )
        self._worker.start()
        kwargs = {}
        if self.config.protocol == 5:
            kwargs = {"clean_start": False, "properties": self._connect_properties()}
        self.client.connect_async(
            self.broker.host, self.broker.port, keepalive=self.config.keepalive, **kwargs
        )
        self.client.loop_start()

    @property
    def connected_and_subscribed(self) -> bool:
        return self._connected.is_set() and self._subscribed.is_set()

    def drain(self, timeout: float) -> None:
        """Store and acknowledge what is queued (the caller has set ``_stopping``)."""
        if self._worker is not None:
            self._worker.join(timeout)
            if self._worker.is_alive():
                self._aborted.set()
                self._worker.join(5)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def abort(self) -> None:
        self._aborted.set()
        self._stopping.set()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def join(self) -> None:
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(5)


class Bridge:
    """One bridge: two lanes — the main one (heartbeats, status, malformed topics) and the
    alarm lane — each a paho client (its network thread, its session) and a worker thread that
    stores and acknowledges. ``start()``, then ``stop()``; ``abort()`` drops everything
    unacknowledged (as a crash would). ``ingest`` defaults to ``services.messages_ingest``.
    ``stats`` adds the lanes' counters up; ``main.stats`` and ``alarms.stats`` are each
    lane's. With ``alarm_lane=False`` the main lane takes everything (one lane, as before)."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        ingest: Ingest | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.broker = broker_parse(config.url)
        self.ingest = ingest or _default_ingest
        self.log = log or logger.info
        common = {"config": config, "broker": self.broker, "ingest": self.ingest, "log": self.log}
        self.main = _Lane(
            name="main",
            client_id=config.client_id,
            subscription=config.subscription,
            batch=config.batch,
            linger=config.linger,
            **common,
        )
        self.alarms: _Lane | None = None
        if config.alarm_lane:
            self.alarms = _Lane(
                name="alarms",
                client_id=config.alarm_client_id,
                subscription=config.alarm_subscription,
                batch=config.alarm_batch,
                linger=0.0,
                **common,
            )
            self.main.alarm_lane = self.alarms
        self.lanes = [lane for lane in (self.main, self.alarms) if lane is not None]
        self.stats = StatsTotal([lane.stats for lane in self.lanes])

    @property
    def client(self) -> mqtt.Client:
        return self.main.client

    @property
    def subscribed_at(self) -> list[float]:
        """The main lane's SUBACK times."""
        return self.main.subscribed_at

    def start(self) -> None:
        """Connect both lanes (in the background: a broker that is down is retried with
        backoff) and start their workers. The alarm lane first: the main lane leaves its
        copies of alarms to it once it knows the alarm lane's session (``_alarms_covered``), so
        it waits a little for that CONNACK."""
        if self.alarms is not None:
            self.alarms.start()
            self.alarms._connected_once.wait(ALARM_LANE_WAIT)
        self.main.start()

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            lane._subscribed.wait(max(0.0, deadline - time.monotonic())) for lane in self.lanes
        )

    @property
    def connected(self) -> bool:
        """Every lane is connected."""
        return all(lane._connected.is_set() for lane in self.lanes)

    @property
    def pending(self) -> int:
        return sum(lane._queue.qsize() for lane in self.lanes)

    def lines(self) -> list[str]:
        """The counters: the total, then each lane's."""
        out = [self.stats.line()]
        if self.alarms is not None:
            out += [f"  {lane.name} lane: {lane.stats.line()}" for lane in self.lanes]
        return out

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown: both lanes store and acknowledge what is queued, then disconnect.
        If the database does not take a queue within ``timeout`` the rest is left
        unacknowledged (the broker keeps it for the next run)."""
        for lane in self.lanes:
            lane._stopping.set()
        deadline = time.monotonic() + timeout
        for lane in self.lanes:
            lane.drain(max(0.5, deadline - time.monotonic()))
        for lane in self.lanes:
            lane.disconnect()

    def abort(self) -> None:
        """Stop at once, as a crash would: nothing more is stored or acknowledged, the
        connections are dropped without a DISCONNECT (for tests and the benchmark)."""
        for lane in self.lanes:
            lane.abort()
        for lane in self.lanes:
            lane.join()
