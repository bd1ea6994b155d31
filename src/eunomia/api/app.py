"""The API's ASGI application: the page, REST, GraphQL and the docs behind one guard.

    app = build_app(view, feed, token=None, allowed_hosts={"127.0.0.1:8527", "localhost:8527"})

The guard (a plain ASGI middleware, so the stream is not buffered):
  * a Host header outside `allowed_hosts` gets 421 (a page elsewhere that
    rebinds its DNS name to 127.0.0.1 cannot read the API);
  * with a token, every request under /api and /graphql without
    `Authorization: Bearer <token>` gets 401; the page and the docs hold no
    data and load without it;
  * a request body over MAX_BODY_BYTES gets 413; a POST or PUT must be
    JSON (a form on another site cannot send one without CORS, which is off);
  * every response carries a strict Content-Security-Policy and nosniff.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any, Awaitable, Callable, Collection

import orjson
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from .. import __version__
from . import graphql, rest
from .access import Bearer
from .feed import Feed
from .model import AgentView

MAX_BODY_BYTES = 64 * 1024
GUARDED = ("/api/", "/graphql")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/page.js": ("page.js", "text/javascript; charset=utf-8"),
              "/page.css": ("page.css", "text/css; charset=utf-8"),
              "/favicon.svg": ("favicon.svg", "image/svg+xml")}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def build_app(view: AgentView, feed: Feed, *, token: str | None, allowed_hosts: Collection[str]) -> Any:
    app = FastAPI(title="Eunomia agent API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json",
                  description="What the containers on this node do, live. GraphQL at /graphql.")
    app.include_router(rest.router(view, feed))
    app.include_router(graphql.router(view))
    page = {path: (resources.files(__package__).joinpath("page", name).read_bytes(), kind)
            for path, (name, kind) in PAGE_FILES.items()}

    for path, (body, kind) in page.items():
        def serve(body: bytes = body, kind: str = kind) -> Response:
            return Response(body, media_type=kind.split(";")[0], headers={"Content-Type": kind})
        app.add_api_route(path, serve, methods=["GET"], include_in_schema=False)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    return Guard(app, Bearer(token) if token else None, frozenset(h.lower() for h in allowed_hosts))


class Guard:
    def __init__(self, app: Any, bearer: Bearer | None, allowed_hosts: frozenset[str]) -> None:
        self.app, self.bearer, self.allowed_hosts = app, bearer, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        path: str = scope.get("path", "")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.allowed_hosts and host not in self.allowed_hosts:
            return await _refuse(send, 421, "this server answers only to the address it serves on")
        if self.bearer is not None and path.startswith(GUARDED) and not self.bearer.allows(
                headers.get(b"authorization")):
            return await _refuse(send, 401, "give the agent's API token: Authorization: Bearer <token>",
                                 [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return await _refuse(send, 413, f"a request body is at most {MAX_BODY_BYTES // 1024} KiB")
        if scope.get("method") in WRITES and not headers.get(b"content-type", b"").startswith(b"application/json"):
            return await _refuse(send, 415, "send the request body as JSON (Content-Type: application/json)")
        if length is not None or b"transfer-encoding" in headers:
            body = await _read_body(receive)  # (whole, before the app: a body too long is refused unanswered)
            if body is None:
                return await _refuse(send, 413, f"a request body is at most {MAX_BODY_BYTES // 1024} KiB")
            receive = _replay(body, receive)

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)
        await self.app(scope, receive, secured)


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body (chunked or not), or None past MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the app sees an empty body
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read, then what the client sends next (its disconnect)."""
    given = False

    async def replayed() -> dict[str, Any]:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replayed


_SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                     (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


async def _refuse(send: Send, status: int, why: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"detail": why})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *_SECURITY_HEADERS, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def render_docs(spec: dict[str, Any]) -> str:
    """The OpenAPI document as one page (no scripts, nothing external)."""
    h = html.escape
    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            codes = ", ".join(f"{code} {r.get('description', '')}" for code, r in op.get("responses", {}).items())
            rows.append(f"<tr><td><code>{h(method.upper())} {h(path)}</code></td><td>{h(op.get('summary', ''))}"
                        f"</td><td>{h(params)}</td><td>{h(codes)}</td></tr>")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Eunomia agent API</title>"
            "<link rel=stylesheet href=/page.css></head><body class=docs>"
            f"<h1>{h(spec['info']['title'])} {h(spec['info']['version'])}</h1>"
            f"<p>{h(spec['info'].get('description', ''))} The machine-readable document: "
            "<a href=/api/v1/openapi.json><code>/api/v1/openapi.json</code></a>. With a token, send "
            "<code>Authorization: Bearer &lt;token&gt;</code>.</p>"
            "<table><tr><th>request</th><th>what</th><th>parameters</th><th>answers</th></tr>"
            f"{''.join(rows)}</table></body></html>")
