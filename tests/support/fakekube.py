"""A minimal API server for `mlmodel activator` outside a cluster: one Service led to the
activator, its owner's status, and its pods, which a test turns Ready when it likes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NAMESPACE, SERVICE, OWNER = "shop", "fruit-mlmodel", "fruit"
STOP_TIME = "2030-01-01T00:00:00Z"
OWNER_PATH = f"/apis/mlmodel.dev/v1alpha1/namespaces/{NAMESPACE}/mlmodelservices/{OWNER}"


def routed_service() -> dict[str, Any]:
    return {
        "metadata": {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "labels": {"mlmodel.dev/wake": "activator"},
            "annotations": {
                "mlmodel.dev/pod-selector": f"app.kubernetes.io/instance={OWNER}",
                "mlmodel.dev/owner": f"mlmodelservices/{OWNER}",
            },
        },
        "spec": {"clusterIP": "10.96.0.42"},
    }


def ready_pod(port: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{OWNER}-pod", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "server", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }


class FakeKube:
    """Answers the activator's three calls; records the wake patches."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []
        self.services = [routed_service()]
        self.services_delay = 0.0  # seconds each Service listing takes
        self.wakes: list[dict[str, Any]] = []
        self.woken = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/api/v1/services":
                    time.sleep(fake.services_delay)
                    self._send({"items": list(fake.services)})
                elif path == f"/api/v1/namespaces/{NAMESPACE}/pods":
                    self._send({"items": list(fake.pods)})
                elif path == OWNER_PATH:
                    self._send({"status": {"stopTime": STOP_TIME, "stopReason": "IdleStop"}})
                else:
                    self.send_error(404)

            def do_PATCH(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.wakes.append({"path": self.path, "type": self.headers["Content-Type"], **body})
                fake.woken.set()
                self._send(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
