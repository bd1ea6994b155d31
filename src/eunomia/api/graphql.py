"""GraphQL at /graphql over the same resolver layer as REST.

    { containers { name id image counts { processStarts } syscalls { name count } peers { name port } } }
    { container(ref: "web") { files { path bytesWritten } } }
    { alerts(limit: 10) { rule container output } network { edges { source destination port } } }
    mutation { startTracker(name: "syscall") { name running } }

The types are the model's dataclasses.  A container's aggregates are read
only when the query asks for them (fragments included): `{ containers { name } }`
reads no kernel map.  Resolvers run on a worker thread: one that waits for
the pump's lock (or for a tracker to load) leaves the event loop serving.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable, TypeVar

import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from . import model
from .model import AgentView, ModelError
from .peers import Peer
from .recordings import RecordingInfo

for _type in (model.Counts, model.SyscallCount, model.FileActivity, Peer, model.CapabilityUse, model.ProcessInfo,
              model.Alert, model.Edge, model.NetworkMap, model.Tracker, RecordingInfo):
    strawberry.type(_type)
ContainerType = strawberry.type(model.ContainerDetail, name="Container",
                                description="A watched container; its lists are read when asked for.")
T = TypeVar("T")


def _field_names(selections: Iterable[Selection]) -> Iterable[str]:
    """The names of the fields selected, through fragments (`...on Container { files }`)."""
    for s in selections:
        if isinstance(s, SelectedField):
            yield s.name
        else:  # a fragment spread or an inline fragment
            yield from _field_names(s.selections)


def _wanted(info: Info) -> set[str]:
    """The model's names of the aggregates the query selects (syscalls, files, …)."""
    names = set(_field_names(s for field in info.selected_fields for s in field.selections))
    return names & model.DETAIL_LISTS


async def _off_loop(fn: Callable[[], T]) -> T:
    """fn on a worker thread; the model's errors as GraphQL errors with their one-line reason."""
    try:
        return await asyncio.to_thread(fn)
    except ModelError as exc:
        raise ValueError(str(exc)) from None


def schema(view: AgentView) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field(description="The watched containers.")
        async def containers(self, info: Info) -> list[ContainerType]:  # type: ignore[valid-type]
            wanted = _wanted(info)
            return await _off_loop(lambda: view.details(wanted))

        @strawberry.field(description="One container by name, full id or id prefix.")
        async def container(self, info: Info, ref: str) -> ContainerType:  # type: ignore[valid-type]
            wanted = _wanted(info)
            return await _off_loop(lambda: view.container(ref, wanted))

        @strawberry.field(description="The newest alerts, oldest first.")
        async def alerts(self, limit: int = 100, container: str | None = None) -> list[model.Alert]:
            return await _off_loop(lambda: view.alerts(max(0, min(limit, 1000)), container))

        @strawberry.field(description="Who talks to whom.")
        async def network(self) -> model.NetworkMap:
            return await _off_loop(view.network)

        @strawberry.field(description="Every tracker, and whether it runs.")
        async def trackers(self) -> list[model.Tracker]:
            return await _off_loop(view.trackers)

        @strawberry.field(description="The recordings this agent made.")
        async def recordings(self) -> list[RecordingInfo]:
            return await _off_loop(lambda: _recordings().list())

    def _recordings() -> Any:
        if view.parts.recordings is None:
            raise ModelError("this agent makes no recordings")
        return view.parts.recordings

    def _start_recording(container: str, seconds: float) -> RecordingInfo:
        _recordings()
        assert view.parts.start_recording is not None
        return view.parts.start_recording(container, seconds)  # type: ignore[no-any-return]

    @strawberry.type
    class Mutation:
        @strawberry.mutation(description="Record one container for some seconds.")
        async def start_recording(self, container: str, seconds: float) -> RecordingInfo:
            return await _off_loop(lambda: _start_recording(container, seconds))

        @strawberry.mutation(description="Start a tracker (load its BPF objects); every tracker after.")
        async def start_tracker(self, name: str) -> list[model.Tracker]:
            return await _off_loop(lambda: view.set_tracker(name, True))

        @strawberry.mutation(description="Stop a tracker (unload its BPF objects); every tracker after.")
        async def stop_tracker(self, name: str) -> list[model.Tracker]:
            return await _off_loop(lambda: view.set_tracker(name, False))

    return strawberry.Schema(query=Query, mutation=Mutation)


def router(view: AgentView) -> Any:
    # GraphiQL loads its scripts from a CDN: off (the page serves nothing external)
    return GraphQLRouter(schema(view), path="/graphql", graphql_ide=None, allow_queries_via_get=False)
