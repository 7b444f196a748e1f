"""A local HTTP server speaking OpenAI's moderation API, for tests and benchmarks.

`POST {base_url}/moderations` with `{"model", "input"}` answers like the real endpoint: one result per
input with `flagged`, `categories`, `category_scores` and `category_applied_input_types`, keyed by the
wire names the openai client knows. Scores are deterministic: a category scores 0.9 when the text
holds one of its trigger words, else a small value derived from the text. Faults can be queued
(one per request, in order): HTTP 429 with `retry-after`, 500, a timeout (the answer comes too late),
a malformed body, a body with too few results, or any given body. `latency_s` delays every answer (to observe
concurrency: `peak_in_flight`); `hold_after(n)` makes every request after the n-th wait until
`release()`, so a test can kill a client mid-run. It binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from openai.types.moderation import Categories

SERVED_MODEL = "omni-moderation-2024-09-26"
CATEGORY_NAMES = [field.alias or name for name, field in Categories.model_fields.items()]
TRIGGER_WORDS = {
    "violence": ("kill", "murder", "stab"),
    "harassment": ("idiot", "moron", "loser"),
    "self-harm": ("hurt myself",),
    "illicit": ("shoplift",),
}


@dataclass(frozen=True)
class Fault:
    """What the server does instead of answering normally, for one request."""

    kind: str  # "429", "500", "timeout", "malformed", "short", "body", "echo" (400 quoting the auth header)
    retry_after: str | None = None  # value of the retry-after header for "429"
    delay_s: float = 0.0  # for "timeout": how long to wait before answering
    body: bytes = b""  # for "body": the HTTP 200 answer's body


def category_scores(text: str) -> dict[str, float]:
    lowered = text.lower()
    background = int.from_bytes(hashlib.sha256(text.encode()).digest()[:2], "big") / 65535 * 0.01
    return {
        name: 0.9 if any(word in lowered for word in TRIGGER_WORDS.get(name, ())) else round(background, 6)
        for name in CATEGORY_NAMES
    }


def moderation_result(text: str) -> dict[str, Any]:
    scores = category_scores(text)
    categories = {name: score > 0.5 for name, score in scores.items()}
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in CATEGORY_NAMES},
    }


class ModerationServer:
    def __init__(self, api_key: str = "test-key", latency_s: float = 0.0) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.faults: deque[Fault] = deque()
        self.requests: list[list[str]] = []  # inputs of every request received, faulted ones included
        self.peak_in_flight = 0
        self._in_flight = 0
        self._hold_after: int | None = None
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def queue(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def hold_after(self, served: int) -> None:
        self._hold_after = served
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def start(self) -> ModerationServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ModerationServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, inputs: list[str]) -> tuple[Fault | None, bool]:
        """Log a request; return its fault and whether it must wait for `release()`."""
        with self._lock:
            self.requests.append(inputs)
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            held = self._hold_after is not None and len(self.requests) > self._hold_after
            return (self.faults.popleft() if self.faults else None), held

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as the real endpoint: a client reuses its connections instead of paying a TCP
            # (and TLS-context) setup per request, which would dominate a throughput benchmark.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if not self.path.endswith("/moderations"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request"}})
                    return
                if self.headers.get("authorization") != f"Bearer {server.api_key}":
                    self._send(401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
                    return
                try:
                    request = orjson.loads(body)
                    inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
                except (ValueError, KeyError, TypeError):
                    self._send(400, {"error": {"message": "invalid request body", "type": "invalid_request"}})
                    return
                fault, held = server._record(inputs)
                self._counted = True
                try:
                    if held:
                        server._open.wait()
                    time.sleep(server.latency_s)
                    self._reply(request, inputs, fault)
                finally:
                    self._leave()

            def _leave(self) -> None:
                """Stop counting this request as in flight: once, and before the client can have the
                whole response (else the client's next request could overlap it in `peak_in_flight`)."""
                if getattr(self, "_counted", False):
                    self._counted = False
                    server._done()

            def _reply(self, request: dict[str, Any], inputs: list[str], fault: Fault | None) -> None:
                if fault is None:
                    self._answer(request, inputs)
                elif fault.kind == "429":
                    headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
                    self._send(429, {"error": {"message": "Rate limit reached", "type": "requests"}}, headers)
                elif fault.kind == "500":
                    self._send(500, {"error": {"message": "The server had an error", "type": "server_error"}})
                elif fault.kind == "timeout":
                    time.sleep(fault.delay_s)
                    self._answer(request, inputs)
                elif fault.kind == "malformed":
                    self._send_raw(200, b'{"id": "modr-1", "results": [{"flagged": tr')
                elif fault.kind == "short":
                    self._answer(request, inputs[:-1])
                elif fault.kind == "body":
                    self._send_raw(200, fault.body)
                elif fault.kind == "echo":  # as some gateways do: the credential sent, quoted back
                    message = f"key not allowed for this model: {self.headers.get('authorization')}"
                    self._send(400, {"error": {"message": message, "type": "invalid_request"}})
                else:
                    raise ValueError(f"unknown fault {fault.kind!r}")

            def _answer(self, request: dict[str, Any], inputs: list[str]) -> None:
                self._send(
                    200,
                    {
                        "id": f"modr-{len(server.requests)}",
                        "model": SERVED_MODEL if request.get("model") == "omni-moderation-latest" else request["model"],
                        "results": [moderation_result(text) for text in inputs],
                    },
                )

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, orjson.dumps(payload), headers)

            def _send_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self._leave()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        return Handler
