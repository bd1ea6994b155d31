"""REST under /api/v1: the resolver layer's answers as JSON, and the stream.

    GET /api/v1/containers             the watched containers, with counts
    GET /api/v1/containers/{ref}       one (name, id or id prefix): syscalls, files, peers, capabilities, processes
    GET /api/v1/network                container → container connections
    GET /api/v1/alerts?limit=&container=
    GET /api/v1/trackers
    PUT /api/v1/trackers/{name}        {"running": true|false}: load or unload it in the running agent
    POST /api/v1/recordings            {"container": "web", "seconds": 30}: record it
    GET /api/v1/recordings[/{id}[/report.json|/seccomp|/capabilities]]
    GET /api/v1/stream?container=&type=   Server-Sent Events: `event: event|alert|dropped`, `data: JSON`
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, AsyncIterator, Callable

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel
from pydantic import Field as PydanticField

from .feed import Feed
from .model import (Alert, AgentFailure, AgentView, Ambiguous, Conflict, ContainerDetail, ContainerSummary,
                    ModelError, NetworkMap, NotFound, Tracker, Unavailable)
from .recordings import MAX_SECONDS, RECORDING_ID, RecordingInfo, Recordings

# a container name (Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]*), a full id or an id prefix
CONTAINER_REF = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
EVENT_TYPE = r"^[a-z_]{1,32}$"
HEARTBEAT_SECONDS = 15.0
Ref = Annotated[str, Path(pattern=CONTAINER_REF, description="A container's name, full id or id prefix.")]
TrackerName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="A tracker's name.")]


class TrackerState(BaseModel):
    running: bool = PydanticField(description="true: start it; false: stop it.")


RecordingId = Annotated[str, Path(pattern=RECORDING_ID.pattern, description="A recording's id.")]


class RecordingRequest(BaseModel):
    container: str = PydanticField(pattern=CONTAINER_REF, description="Its name, full id or id prefix; "
                                   "a name may be of a container that starts later.")
    seconds: float = PydanticField(gt=0, le=MAX_SECONDS, description="How long to record.")


Filter = Annotated[str | None, Query(pattern=CONTAINER_REF, description="Only this container (name, id or id prefix).")]


def answer(fn: Callable[[], Any]) -> Any:
    """fn's answer; the model's errors as HTTP statuses with their one-line reason."""
    try:
        return fn()
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (Ambiguous, Conflict) as exc:
        raise HTTPException(409, str(exc)) from None
    except Unavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    except AgentFailure as exc:
        raise HTTPException(500, str(exc)) from None
    except ModelError as exc:
        raise HTTPException(422, str(exc)) from None


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
        return answer(lambda: view.container(ref))

    @api.get("/network", response_model=NetworkMap, summary="Who talks to whom: container → container connections")
    def network() -> NetworkMap:
        return view.network()

    @api.get("/alerts", response_model=list[Alert], summary="The newest alerts, oldest first")
    def alerts(limit: Annotated[int, Query(ge=0, le=1000)] = 100, container: Filter = None) -> list[Alert]:
        return view.alerts(limit, container)

    @api.get("/trackers", response_model=list[Tracker], summary="Every tracker, and whether it runs")
    def trackers() -> list[Tracker]:
        return view.trackers()

    @api.put("/trackers/{name}", response_model=list[Tracker],
             summary="Start or stop a tracker: its BPF objects are loaded or unloaded in the running agent",
             responses={404: {"description": "No such tracker."},
                        409: {"description": "It is the only tracker running."},
                        503: {"description": "The agent is stopping."}})
    def set_tracker(name: TrackerName, body: TrackerState) -> list[Tracker]:
        return answer(lambda: view.set_tracker(name, body.running))

    def recordings() -> Recordings:
        if view.parts.recordings is None:
            raise HTTPException(404, "this agent makes no recordings")
        return view.parts.recordings

    @api.post("/recordings", response_model=RecordingInfo, status_code=201,
              summary="Record one container for some seconds (into the agent's data dir)",
              responses={409: {"description": "A recording of it started this second already."},
                         422: {"description": "Not a container name or id, or seconds out of range."}})
    def start_recording(body: RecordingRequest) -> RecordingInfo:
        recordings()
        assert view.parts.start_recording is not None
        return answer(lambda: view.parts.start_recording(body.container, body.seconds))

    @api.get("/recordings", response_model=list[RecordingInfo], summary="The recordings this agent made")
    def list_recordings() -> list[RecordingInfo]:
        return recordings().list()

    @api.get("/recordings/{rid}", response_model=RecordingInfo, summary="One recording")
    def get_recording(rid: RecordingId) -> RecordingInfo:
        return answer(lambda: recordings().get(rid))

    @api.get("/recordings/{rid}/report.json", summary="The container's report.json (docs/report.md)",
             response_class=FileResponse)
    def recording_report(rid: RecordingId) -> FileResponse:
        return FileResponse(answer(lambda: recordings().report_path(rid)), media_type="application/json")

    @api.get("/recordings/{rid}/seccomp", summary="The smallest seccomp profile (OCI JSON) the recording allows")
    def recording_seccomp(rid: RecordingId) -> dict[str, Any]:
        return answer(lambda: recordings().seccomp(rid))

    @api.get("/recordings/{rid}/capabilities",
             summary="The capabilities the container needs: docker flags, and the evidence")
    def recording_capabilities(rid: RecordingId) -> dict[str, Any]:
        return answer(lambda: recordings().capabilities(rid))

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
