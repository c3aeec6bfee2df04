"""``wangge mqtt-bridge``: device messages from the MQTT broker into the database.

Subscribes (QoS 1, shared subscription ``$share/wangge/wangge/devices/+/+``) on the broker of
``WANGGE_MQTT_URL`` (or ``--url``), stores each batch through the ingestion pipeline and only
then acknowledges it (see ``wangge.perception.bridge``). Run several with different
``--client-id`` to split the load. Counters every ``--stats`` seconds and on exit; SIGINT or
SIGTERM stores and acknowledges what is queued, then disconnects.
"""

from __future__ import annotations

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wangge.perception.bridge import (
    SHARE_GROUP,
    Bridge,
    BridgeConfig,
    ConfigError,
    default_client_id,
)


class Command(BaseCommand):
    help = (
        "Bridge IoT device messages from the MQTT broker (WANGGE_MQTT_URL or --url) into the "
        "database: store first, then acknowledge."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", help="mqtt://[user:pass@]host:port (default WANGGE_MQTT_URL)")
        parser.add_argument(
            "--client-id",
            default=None,
            help="a stable id per bridge: the broker keeps its session under it "
            f"(default {default_client_id()}); give each bridge its own",
        )
        parser.add_argument(
            "--no-share",
            action="store_true",
            help="subscribe without the shared subscription (one bridge gets everything)",
        )
        parser.add_argument("--group", default=SHARE_GROUP, help="shared subscription group")
        parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
        parser.add_argument(
            "--linger", type=float, default=50, help="ms a batch waits for more messages"
        )
        parser.add_argument(
            "--protocol", choices=["5", "3.1.1"], default="5", help="MQTT protocol version"
        )
        parser.add_argument(
            "--stats", type=float, default=60, help="print the counters every N seconds (0: off)"
        )

    def handle(self, *args, **opts):
        url = opts["url"] or getattr(settings, "WANGGE_MQTT_URL", "")
        if opts["batch"] < 1 or opts["linger"] < 0:
            raise CommandError("--batch must be ≥ 1 and --linger ≥ 0")
        config = BridgeConfig(
            url=url,
            share=not opts["no_share"],
            group=opts["group"],
            batch=opts["batch"],
            linger=opts["linger"] / 1000,
            protocol=5 if opts["protocol"] == "5" else 311,
        )
        if opts["client_id"]:
            config.client_id = opts["client_id"]
        try:
            bridge = Bridge(config, log=self._log)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None

        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        self._log(
            f"bridge {config.client_id}: {bridge.broker} {config.subscription} "
            f"(MQTT {opts['protocol']}, batch {config.batch}, linger {opts['linger']:g} ms)"
        )
        bridge.start()
        every = opts["stats"]
        next_stats = time.monotonic() + every if every > 0 else None
        while not stop.is_set():
            stop.wait(0.5)
            if next_stats is not None and time.monotonic() >= next_stats:
                self._log(bridge.stats.line())
                next_stats += every
        self._log("stopping: storing and acknowledging what is queued")
        bridge.stop()
        self._log(f"stopped. {bridge.stats.line()}")

    def _log(self, text: str) -> None:
        self.stdout.write(f"{time.strftime('%H:%M:%S')} {text}")
        self.stdout.flush()
