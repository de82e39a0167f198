"""Test servers on 127.0.0.1: running one in a thread, and one that answers every request with
the same body (a misconfigured gateway or proxy)."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[int]:
    """Serve `server` in a thread, yield its port, and shut it down afterwards."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def answering(body: bytes, content_type: str = "application/json", status: int = 200, headers: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of a server that always sends `body` (with `headers`)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    with running(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent() -> Iterator[str]:
    """Yield the base URL of a server that reads each request and never answers (until it stops)."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _hold(self) -> None:
            stop.wait(60)

        do_GET = do_POST = do_PATCH = do_DELETE = _hold

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with running(server) as port:
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop.set()
