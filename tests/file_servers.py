"""Real file servers on 127.0.0.1 for firmware downloads and diagnostics uploads.

`HttpFiles` serves a directory (GET), accepts uploads (PUT /upload/<name>), fails on purpose
(PUT /fail/… answers 500, GET /slow/… waits before serving) and records every request.
`FtpFiles` is a pyftpdlib server with one user who may read and write its directory.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

SLOW_S = 2.0


@dataclass
class HttpFiles:
    root: Path
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "uploads").mkdir(parents=True, exist_ok=True)
        files = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                files.requests.append(("GET", self.path))
                path = self.path
                if path.startswith("/slow/"):
                    time.sleep(SLOW_S)
                    path = path[len("/slow") :]
                target = files.root / path.lstrip("/")
                if not target.is_file():
                    self.send_error(404)
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802
                files.requests.append(("PUT", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self.path.startswith("/upload/"):
                    self.send_error(500)
                    return
                (files.root / "uploads" / Path(self.path).name).write_bytes(body)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class FtpFiles:
    root: Path
    user: str = "cb"
    password: str = "ftp-secret"

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.root), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "test"})
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    @property
    def url(self) -> str:
        port = self.server.address[1]
        return f"ftp://{self.user}:{self.password}@127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
