"""REST under /api/v1: the resolver layer's answers as JSON, and the stream.

    GET /api/v1/containers             the watched containers, with counts
    GET /api/v1/containers/{ref}       one (name, id or id prefix): syscalls, files, peers, capabilities, processes
    GET /api/v1/network                container → container connections
    GET /api/v1/alerts?limit=&container=
    GET /api/v1/trackers
    GET /api/v1/stream?container=&type=   Server-Sent Events: `event: event|alert|dropped`, `data: JSON`
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, AsyncIterator

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from .feed import Feed
from .model import (Alert, AgentView, Ambiguous, ContainerDetail, ContainerSummary, NetworkMap, NotFound,
                    Tracker)

# a container name (Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]*), a full id or an id prefix
CONTAINER_REF = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
EVENT_TYPE = r"^[a-z_]{1,32}$"
HEARTBEAT_SECONDS = 15.0
Ref = Annotated[str, Path(pattern=CONTAINER_REF, description="A container's name, full id or id prefix.")]
Filter = Annotated[str | None, Query(pattern=CONTAINER_REF, description="Only this container (name, id or id prefix).")]


def router(view: AgentView, feed: Feed) -> APIRouter:
    api = APIRouter(prefix="/api/v1")

    @api.get("/containers", response_model=list[ContainerSummary], summary="The watched containers")
    def containers() -> list[ContainerSummary]:
        return view.containers()

    @api.get("/containers/{ref}", response_model=ContainerDetail,
             summary="One container: syscalls, files with bytes, network peers, capabilities, processes",
             responses={404: {"description": "No watched container has this name or id."},
                        409: {"description": "An id prefix that names several containers."}})
    def container(ref: Ref) -> ContainerDetail:
        try:
            return view.container(ref)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Ambiguous as exc:
            raise HTTPException(409, str(exc)) from None

    @api.get("/network", response_model=NetworkMap, summary="Who talks to whom: container → container connections")
    def network() -> NetworkMap:
        return view.network()

    @api.get("/alerts", response_model=list[Alert], summary="The newest alerts, oldest first")
    def alerts(limit: Annotated[int, Query(ge=0, le=1000)] = 100, container: Filter = None) -> list[Alert]:
        return view.alerts(limit, container)

    @api.get("/trackers", response_model=list[Tracker], summary="Every tracker, and whether it runs")
    def trackers() -> list[Tracker]:
        return view.trackers()

    @api.get("/stream", summary="Events and alerts as they happen (Server-Sent Events)",
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: event` or `event: alert` with one JSON object as `data`; "
                                             "`event: dropped` says how many this reader was too slow for."}})
    async def stream(request: Request,
                     container: Annotated[list[str], Query(description="Only these containers (repeat).")] = [],
                     type: Annotated[list[str], Query(description="Only these event types; `alert` for "
                                                                  "alerts (repeat).")] = []) -> StreamingResponse:
        for ref in container:
            if not re.match(CONTAINER_REF, ref):
                raise HTTPException(422, f"container {ref[:40]!r} is not a container name or id")
        for kind in type:
            if not re.match(EVENT_TYPE, kind):
                raise HTTPException(422, f"type {kind[:40]!r} is not an event type (e.g. open, exec, alert)")
        sub = feed.subscribe(asyncio.get_running_loop(), frozenset(container), frozenset(type))

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield b": eunomia stream\n\n"
                while True:
                    try:
                        line = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": heartbeat\n\n"
                        continue
                    if line is None:
                        return
                    yield line
            finally:
                feed.unsubscribe(sub)
        return StreamingResponse(lines(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return api
