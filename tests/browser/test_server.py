"""The served demo stays reachable while browsers keep their connections open."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit

IDLE_CONNECTIONS = 64  # far more than `wangge serve`'s request threads (2 × cores + 1)



def test_idle_keep_alive_connections_do_not_stall_the_server(demo):
    """A browser keeps up to six connections per site open after a page (a cockpit page opens
    them all at once); more idle connections than the server's request threads must not stop
    it answering someone else."""
    url = urlsplit(demo.base_url)
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            s = socket.create_connection((url.hostname, url.port), timeout=5)
            s.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            idle.append(s)
        with urllib.request.urlopen(demo.url("/accounts/login/"), timeout=3) as r:
            assert r.status == 200
    finally:
        for s in idle:
            s.close()
