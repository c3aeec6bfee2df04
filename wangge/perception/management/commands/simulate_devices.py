"""``wangge simulate-devices``: the demo's devices send heartbeats, door activity and now and
then an alarm, at ``--rate`` messages a second for ``--duration`` seconds, over MQTT (default:
``WANGGE_MQTT_URL``) or HTTP (``--http http://127.0.0.1:8000``, signed with each device's key
from ``demo-devices.csv`` in the data directory)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wangge.perception.bridge import ConfigError
from wangge.perception.simulate import HttpSender, MqttSender, Report, devices_load, simulate


class Command(BaseCommand):
    help = (
        "Simulate the demo's devices: heartbeats and occasional alarms at a steady rate, "
        "published to MQTT (QoS 1) or posted to the HTTP API (signed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=50, help="messages a second")
        parser.add_argument("--duration", type=float, default=60, help="seconds")
        way = parser.add_mutually_exclusive_group()
        way.add_argument("--mqtt", metavar="URL", help="broker (default WANGGE_MQTT_URL)")
        way.add_argument("--http", metavar="BASE_URL", help="e.g. http://127.0.0.1:8000")
        parser.add_argument(
            "--alarm-share", type=float, default=0.001, help="share of messages that are alarms"
        )
        parser.add_argument("--devices", type=int, default=None, help="use the first N devices")
        parser.add_argument("--workers", type=int, default=4, help="HTTP: concurrent requests")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **opts):
        rate, duration = opts["rate"], opts["duration"]
        if rate <= 0 or duration <= 0:
            raise CommandError("--rate and --duration must be positive")
        if not 0 <= opts["alarm_share"] <= 1:
            raise CommandError("--alarm-share is a share between 0 and 1")
        http = opts["http"]
        mqtt_url = None if http else (opts["mqtt"] or getattr(settings, "WANGGE_MQTT_URL", ""))
        if not http and not mqtt_url:
            raise CommandError(
                "no transport: pass --mqtt URL or --http BASE_URL (or set WANGGE_MQTT_URL)"
            )
        try:
            devices = devices_load(
                data_dir=settings.DATA_DIR, need_keys=bool(http), limit=opts["devices"]
            )
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        if not devices:
            raise CommandError("no devices: run `wangge demo` first")
        report = Report()
        try:
            sender = (
                HttpSender(report, http, workers=opts["workers"])
                if http
                else MqttSender(report, mqtt_url)
            )
        except (ConfigError, ConnectionError, OSError) as exc:
            raise CommandError(str(exc)) from None

        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        self.stdout.write(
            f"{len(devices):,} devices, {rate:g} msg/s for {duration:g} s over "
            f"{'HTTP ' + http if http else 'MQTT ' + mqtt_url.split('@')[-1]}"
        )
        report = simulate(
            devices=devices,
            sender=sender,
            rate=rate,
            duration=duration,
            alarm_share=opts["alarm_share"],
            seed=opts["seed"],
            stop=stop,
            progress=lambda r: self.stdout.write(f"  … {r.line()}"),
        )
        self.stdout.write(report.line())
        for error, n in sorted(report.errors.items()):
            self.stdout.write(f"  {error}: {n:,}")
