"""The worker's HTTP endpoints on loopback: Prometheus `/metrics`, `/healthz` and `/readyz`.

`/readyz` answers 503 while a dependency the worker needs is unreachable (workers/outage.py):
orders then wait in hand, so a load balancer or an orchestrator should see the worker as not
ready rather than broken (`/healthz` stays 200: restarting it would not help).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from workers.outage import OUTAGES, Outages


def readiness(outages: Outages) -> tuple[int, dict[str, object]]:
    if outages.healthy:
        return 200, {"ready": True, "checks": {"database": "ok", "broker": "ok"}}
    checks: dict[str, str] = {"database": "ok", "broker": "ok", **outages.describe()}
    return 503, {"ready": False, "checks": checks}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(200, {"status": "ok"})
        elif path == "/readyz":
            self._json(*readiness(OUTAGES))
        else:
            self._json(404, {"detail": "not found"})

    def _json(self, code: int, body: dict[str, object]) -> None:
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
        pass


def serve(port: int | None) -> None:
    """Serve on 127.0.0.1:`port` from a daemon thread when a port is configured."""
    if not port:
        return
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
