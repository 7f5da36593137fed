"""A real HTTP server for tests whose client needs one (the OpenTelemetry exporter, the openai client)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, app: Any, *, lifespan: Literal["auto", "on", "off"] = "auto") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
