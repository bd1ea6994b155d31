"""A stand-in for Grafana Loki's push and query_range API, for the tests.

No Grafana Loki can be installed here (Debian's `loki` package is an
unrelated genetics program), so the loki sink is tested against this: it
keeps what is pushed and answers queries like Loki, and refuses what Loki
refuses with HTTP 400 — a label name that is not [a-zA-Z_][a-zA-Z0-9_]* (or
is reserved, __…), a timestamp that is not a string of nanoseconds, a line
that is not a string, an entry older than the last of its stream (Loki
without unordered writes), and a body that is not the push JSON.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


class LokiStandIn:
    def __init__(self) -> None:
        self.streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
        self.rejected: list[str] = []
        self.pushes = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, code: int, body: bytes = b"", kind: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/loki/api/v1/push":
                    return self._answer(404, b"404 page not found\n")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                error = owner.push(body, self.headers.get("Content-Type") or "")
                if error:
                    with owner.lock:
                        owner.rejected.append(error)
                    return self._answer(400, error.encode() + b"\n")
                self._answer(204)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/loki/api/v1/query_range":
                    return self._answer(404, b"404 page not found\n")
                query = parse_qs(url.query).get("query", [""])[0]
                result = owner.query(query)
                if result is None:
                    return self._answer(400, b"parse error\n")
                body = json.dumps({"status": "success", "data": {"resultType": "streams", "result": result}})
                self._answer(200, body.encode(), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, body: bytes, content_type: str) -> str | None:
        if not content_type.startswith("application/json"):
            return f"unsupported Content-Type {content_type!r}"
        try:
            document = json.loads(body)
        except ValueError as exc:
            return f"loghttp.PushRequest: {exc}"
        streams = document.get("streams") if isinstance(document, dict) else None
        if not isinstance(streams, list):
            return "loghttp.PushRequest.Streams: not an array"
        accepted: list[tuple[tuple[tuple[str, str], ...], int, str]] = []
        with self.lock:
            last = {key: entries[-1][0] for key, entries in self.streams.items() if entries}
            for stream in streams:
                labels = stream.get("stream") if isinstance(stream, dict) else None
                if not isinstance(labels, dict) or not labels:
                    return "error parsing labels: no labels"
                for name, value in labels.items():
                    if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
                        return f"error parsing labels {labels}: invalid label name {name!r}"
                    if not isinstance(value, str):
                        return f"error parsing labels {labels}: label value of {name!r} is not a string"
                key = tuple(sorted(labels.items()))
                for entry in stream.get("values") or []:
                    if not (isinstance(entry, list) and len(entry) == 2):
                        return "Value looks like object, but can't find closing '}' symbol"
                    ts, line = entry
                    if not isinstance(ts, str) or not ts.isdigit():
                        return f"ReadString: expects \" or n, but found {str(ts)[:1]!r}: a timestamp is a string of ns"
                    if not isinstance(line, str):
                        return "ReadString: a log line is a string"
                    if key in last and int(ts) < last[key]:
                        return f"entry with timestamp {ts} ignored, reason: 'entry out of order' for stream: {labels}"
                    last[key] = int(ts)
                    accepted.append((key, int(ts), line))
            for key, ts, line in accepted:  # all or nothing, as one push
                self.streams.setdefault(key, []).append((ts, line))
            self.pushes += 1
        return None

    def query(self, selector: str) -> list[dict[str, Any]] | None:
        selector = selector.strip()
        if not (selector.startswith("{") and selector.endswith("}")):
            return None
        wanted = {}
        for part in selector[1:-1].split(","):
            m = MATCHER.fullmatch(part)
            if m is None:
                return None
            wanted[m.group(1)] = json.loads(f'"{m.group(2)}"')
        with self.lock:
            return [{"stream": dict(key), "values": [[str(ts), line] for ts, line in entries]}
                    for key, entries in self.streams.items() if all(dict(key).get(k) == v for k, v in wanted.items())]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
