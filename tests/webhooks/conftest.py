"""A real webhook receiver on loopback that can go down and come back on its port."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks import services


class Receiver:
    """Records every POST it takes (headers and body) and answers `status`."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.port = 0
        self._server = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stratus"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                if receiver.status < 300:
                    receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.down()


@pytest.fixture
def endpoint_and_secret(acme, alice, receiver):
    endpoint, secret = services.endpoint_create(actor=alice, organization=acme, url=receiver.url)
    endpoint.deliveries.all().delete()  # its own webhook_create: start with an empty outbox
    return endpoint, secret


@pytest.fixture
def endpoint(endpoint_and_secret):
    return endpoint_and_secret[0]


@pytest.fixture
def eager_celery():
    """Run sent tasks inline, as `make run` does without a worker."""
    from config.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = saved
