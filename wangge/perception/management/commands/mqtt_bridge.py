"""``wangge mqtt-bridge``: device messages from the MQTT broker into the database.

Subscribes (QoS 1, shared subscription ``$share/wangge/wangge/devices/+/+``) on the broker of
``WANGGE_MQTT_URL`` (or ``--url``), stores each batch through the ingestion pipeline and only
then acknowledges it (see ``wangge.perception.bridge``). Alarms come through a lane of their own
(a second client ``<client id>-alarms`` subscribed to ``…/+/alarm``, its own queue and worker,
no linger), so they never wait behind heartbeats; ``--no-alarm-lane`` puts everything through
one client. Run several with different
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
            "--alarm-batch",
            type=int,
            default=50,
            help="most alarms per transaction in the alarm lane (whatever is waiting, no linger)",
        )
        parser.add_argument(
            "--no-alarm-lane",
            action="store_true",
            help="no separate client for alarms: they queue with the heartbeats",
        )
        parser.add_argument(
            "--protocol", choices=["5", "3.1.1"], default="5", help="MQTT protocol version"
        )
        parser.add_argument(
            "--stats", type=float, default=60, help="print the counters every N seconds (0: off)"
        )

    def handle(self, *args, **opts):
        url = opts["url"] or getattr(settings, "WANGGE_MQTT_URL", "")
        if opts["batch"] < 1 or opts["alarm_batch"] < 1 or opts["linger"] < 0:
            raise CommandError("--batch and --alarm-batch must be ≥ 1 and --linger ≥ 0")
        config = BridgeConfig(
            url=url,
            share=not opts["no_share"],
            group=opts["group"],
            batch=opts["batch"],
            linger=opts["linger"] / 1000,
            protocol=5 if opts["protocol"] == "5" else 311,
            alarm_lane=not opts["no_alarm_lane"],
            alarm_batch=opts["alarm_batch"],
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
        if config.alarm_lane:
            self._log(
                f"alarm lane {config.alarm_client_id}: {config.alarm_subscription} "
                f"(batch up to {config.alarm_batch}, no linger)"
            )
        bridge.start()
        every = opts["stats"]
        next_stats = time.monotonic() + every if every > 0 else None
        while not stop.is_set():
            stop.wait(0.5)
            if next_stats is not None and time.monotonic() >= next_stats:
                for line in bridge.lines():
                    self._log(line)
                next_stats += every
        self._log("stopping: storing and acknowledging what is queued")
        bridge.stop()
        total, *lanes = bridge.lines()
        self._log(f"stopped. {total}")
        for line in lanes:
            self._log(line)

    def _log(self, text: str) -> None:
        self.stdout.write(f"{time.strftime('%H:%M:%S')} {text}")
        self.stdout.flush()
