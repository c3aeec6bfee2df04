"""The device simulator: what it sends passes the pipeline's schema, sequence numbers never
repeat across runs, it paces to the rate asked, and both transports deliver — MQTT to a private
Mosquitto (see test_bridge.py), HTTP signed so that the real endpoint stores the message."""

from __future__ import annotations

import json
import random
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from paho.mqtt.enums import CallbackAPIVersion

from tests.perception.test_bridge import MOSQUITTO, Mosquitto, wait_for
from wangge.perception.schema import ALARM_EVENTS, channel_check, parse_payload
from wangge.perception.signing import verify
from wangge.perception.simulate import (
    ALARM_EVENT,
    HttpSender,
    MqttSender,
    Report,
    Sender,
    SimDevice,
    devices_from_csv,
    devices_load,
    http_request,
    message_make,
    simulate,
)

TYPES = list(ALARM_EVENT)


def sim_devices(n: int = 12, *, key: str = "k" * 43, prefix: str = "SIM") -> list[SimDevice]:
    return [
        SimDevice(device_id=f"{prefix}-{TYPES[i % 6]}-{i}", type=TYPES[i % 6], key=key)
        for i in range(n)
    ]


class Collect(Sender):
    """A transport that keeps what it is given (and acknowledges it)."""

    def __init__(self) -> None:
        super().__init__(Report())
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, device, channel, body):
        self.sent.append((device.device_id, channel, body))
        self._count(acked=1)


@pytest.mark.parametrize("dtype", TYPES)
def test_every_message_follows_the_schema(dtype):
    rng = random.Random(1)
    device = SimDevice(device_id=f"SIM-{dtype}", type=dtype)
    seen_channels = set()
    for i in range(60):
        channel, body = message_make(device, alarm=i % 10 == 0, rng=rng)
        payload = parse_payload(body)  # raises if the schema is not followed
        channel_check(payload, channel)
        assert payload["device"] == device.device_id and payload["type"] == dtype
        assert 0 <= payload["battery"] <= 100 and payload["rssi"] < 0
        if i % 10 == 0:
            assert channel == "alarm" and payload["event"] in ALARM_EVENTS
        seen_channels.add(channel)
    assert "heartbeat" in seen_channels
    if dtype == "door":  # a door magnet also reports its ordinary openings and closings
        assert "status" in seen_channels


def test_sequence_numbers_grow_within_and_across_runs():
    rng = random.Random(2)
    first = SimDevice(device_id="SIM-gas-1", type="gas")
    seqs = [json.loads(message_make(first, alarm=False, rng=rng)[1])["seq"] for _ in range(500)]
    assert seqs == sorted(set(seqs))
    again = SimDevice(device_id="SIM-gas-1", type="gas")  # a second run, a fresh process
    assert json.loads(message_make(again, alarm=False, rng=rng)[1])["seq"] > seqs[-1]


def test_batteries_drain_slowly():
    rng = random.Random(3)
    device = SimDevice(device_id="SIM-smoke-1", type="smoke", battery=80.0)
    for _ in range(1000):
        message_make(device, alarm=False, rng=rng)
    assert 55 < device.battery < 80


def test_rate_duration_and_alarm_share():
    sender = Collect()
    devices = sim_devices(12)
    report = simulate(
        devices=devices, sender=sender, rate=400, duration=0.5, alarm_share=0.25, seed=4
    )
    assert report.sent == 200 == len(sender.sent) and report.acked == 200
    assert report.seconds >= 0.49  # paced: 200 messages at 400/s cannot take less
    alarms = [b for _d, c, b in sender.sent if c == "alarm"]
    assert report.alarms == len(alarms) and 20 < len(alarms) < 80
    per_device = {d.device_id: 0 for d in devices}
    for device_id, _c, _b in sender.sent:
        per_device[device_id] += 1
    assert set(per_device.values()) <= {16, 17}  # every device in turn
    assert "200" in report.line() and "msg/s" in report.line()


def test_devices_from_the_demo_csv(tmp_path):
    (tmp_path / "demo-devices.csv").write_text(
        "device_id,type,key,grid_code\n"
        "JJ-GAS-000001,gas,secret1,510104017001001001\n"
        "JJ-SMK-000002,smoke,,510104017001001001\n"
        "JJ-XXX-000003,toaster,k,510104017001001001\n"
    )
    assert [d.device_id for d in devices_from_csv(tmp_path / "demo-devices.csv")] == [
        "JJ-GAS-000001",
        "JJ-SMK-000002",
    ]
    keyed = devices_load(data_dir=tmp_path, need_keys=True)
    assert [(d.device_id, d.key) for d in keyed] == [("JJ-GAS-000001", "secret1")]
    with pytest.raises(FileNotFoundError):
        devices_load(data_dir=tmp_path / "nowhere", need_keys=True)


def test_devices_from_the_registry_for_mqtt(tmp_path, city):
    from tests.perception.conftest import device_make

    device, _key = device_make("water")
    loaded = devices_load(data_dir=tmp_path, need_keys=False)  # no CSV here
    assert device.device_id in {d.device_id for d in loaded}


# --- HTTP ---------------------------------------------------------------------------------------
def test_a_simulated_http_message_is_stored_by_the_real_endpoint(city):
    from django.test import Client

    from tests.perception.conftest import device_make
    from wangge.perception.models import DeviceMessage

    device, key = device_make("gas")
    sim = SimDevice(device_id=device.device_id, type="gas", key=key)
    channel, raw = message_make(sim, alarm=False, rng=random.Random(5))
    body, headers = http_request(sim, channel, raw)
    answer = Client().post(
        "/api/perception/messages", data=body, content_type="application/json", headers=headers
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["stored"] == 1
    assert DeviceMessage.objects.filter(device=device, seq=json.loads(raw)["seq"]).exists()


class _Verifier(BaseHTTPRequestHandler):
    key = "the-right-key"
    bodies: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.path == "/api/perception/messages" and verify(
            self.key, self.headers["X-Timestamp"], body, self.headers["X-Signature"]
        )
        if ok:
            self.bodies.append(body)
        answer = json.dumps({"results": [{"status": "stored"}]}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    _Verifier.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Verifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_sender_signs_each_message(http_server):
    good = sim_devices(3, key=_Verifier.key)
    bad = sim_devices(1, key="a-wrong-key", prefix="BAD")
    report = simulate(
        devices=good + bad,
        sender=HttpSender(Report(), http_server, workers=2),
        rate=200,
        duration=0.2,
        seed=6,
    )
    assert report.sent == 40
    assert report.acked == 30 and report.failed == 10 and report.errors == {"HTTP 401": 10}
    assert all(
        json.loads(b)["channel"] in ("alarm", "heartbeat", "status") for b in _Verifier.bodies
    )


# --- MQTT ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install mosquitto)")
    b = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker):
    got: list[tuple[str, bytes]] = []
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}"
    )
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe("wangge/devices/+/+", qos=1)
    client.loop_start()
    assert subscribed.wait(10)
    yield got
    client.disconnect()
    client.loop_stop()


def test_mqtt_publishes_to_the_device_topics(broker, subscriber):
    devices = sim_devices(6)
    report = simulate(
        devices=devices,
        sender=MqttSender(Report(), broker.url),
        rate=500,
        duration=0.4,
        alarm_share=0.1,
        seed=7,
    )
    assert report.sent == 200 and report.acked == 200 and report.failed == 0
    wait_for(lambda: len(subscriber) >= 200, "the subscriber to get every message")
    for topic, body in subscriber:
        _root, _devices, device_id, channel = topic.split("/")
        payload = parse_payload(body)
        channel_check(payload, channel)
        assert payload["device"] == device_id


def test_the_command_over_mqtt(broker, subscriber, settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    (tmp_path / "demo-devices.csv").write_text(
        "device_id,type,key,grid_code\n"
        + "".join(f"{d.device_id},{d.type},k,510104\n" for d in sim_devices(4))
    )
    call_command("simulate_devices", "--mqtt", broker.url, "--rate", "100", "--duration", "0.5")
    out = capsys.readouterr().out
    assert "4 devices" in out and "acknowledged 50," in out and "failed 0" in out
    wait_for(lambda: len(subscriber) >= 50, "the messages")


def test_the_command_needs_a_transport(settings):
    settings.WANGGE_MQTT_URL = ""
    with pytest.raises(CommandError, match="--mqtt URL or --http"):
        call_command("simulate_devices", "--rate", "1", "--duration", "1")
