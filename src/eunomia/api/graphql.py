"""GraphQL at /graphql over the same resolver layer as REST.

    { containers { name id image counts { processStarts } syscalls { name count } peers { name port } } }
    { container(ref: "web") { files { path bytesWritten } } }
    { alerts(limit: 10) { rule container output } network { edges { source destination port } } }
    mutation { startTracker(name: "syscall") { name running } }

The types are the model's dataclasses.  A container's aggregates are read
only when the query asks for them: `{ containers { name } }` reads no
kernel map.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from . import model
from .model import AgentView, ModelError
from .peers import Peer
from .recordings import RecordingInfo

for _type in (model.Counts, model.SyscallCount, model.FileActivity, Peer, model.CapabilityUse, model.ProcessInfo,
              model.Alert, model.Edge, model.NetworkMap, model.Tracker, RecordingInfo):
    strawberry.type(_type)
ContainerType = strawberry.type(model.ContainerDetail, name="Container",
                                description="A watched container; its lists are read when asked for.")


def _wanted(info: Info) -> set[str]:
    """The model's names of the aggregates the query selects (syscalls, files, …)."""
    names = {getattr(s, "name", "") for field in info.selected_fields for s in field.selections}
    return {n for n in names if n in model.DETAIL_LISTS}


def schema(view: AgentView) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field(description="The watched containers.")
        def containers(self, info: Info) -> list[ContainerType]:  # type: ignore[valid-type]
            return view.details(_wanted(info))

        @strawberry.field(description="One container by name, full id or id prefix.")
        def container(self, info: Info, ref: str) -> ContainerType:  # type: ignore[valid-type]
            try:
                return view.container(ref, _wanted(info))
            except ModelError as exc:
                raise ValueError(str(exc)) from None

        @strawberry.field(description="The newest alerts, oldest first.")
        def alerts(self, limit: int = 100, container: str | None = None) -> list[model.Alert]:
            return view.alerts(max(0, min(limit, 1000)), container)

        @strawberry.field(description="Who talks to whom.")
        def network(self) -> model.NetworkMap:
            return view.network()

        @strawberry.field(description="Every tracker, and whether it runs.")
        def trackers(self) -> list[model.Tracker]:
            return view.trackers()

        @strawberry.field(description="The recordings this agent made.")
        def recordings(self) -> list[RecordingInfo]:
            return _recordings().list()

    def _recordings() -> Any:
        if view.parts.recordings is None:
            raise ValueError("this agent makes no recordings")
        return view.parts.recordings

    @strawberry.type
    class Mutation:
        @strawberry.mutation(description="Record one container for some seconds.")
        def start_recording(self, container: str, seconds: float) -> RecordingInfo:
            _recordings()
            try:
                return view.parts.start_recording(container, seconds)
            except (ModelError, RuntimeError) as exc:
                raise ValueError(str(exc)) from None

        @strawberry.mutation(description="Start a tracker (load its BPF objects); every tracker after.")
        def start_tracker(self, name: str) -> list[model.Tracker]:
            return _set(name, True)

        @strawberry.mutation(description="Stop a tracker (unload its BPF objects); every tracker after.")
        def stop_tracker(self, name: str) -> list[model.Tracker]:
            return _set(name, False)

    def _set(name: str, running: bool) -> list[model.Tracker]:
        try:
            return view.set_tracker(name, running)
        except ModelError as exc:
            raise ValueError(str(exc)) from None

    return strawberry.Schema(query=Query, mutation=Mutation)


def router(view: AgentView) -> Any:
    # GraphiQL loads its scripts from a CDN: off (the page serves nothing external)
    return GraphQLRouter(schema(view), path="/graphql", graphql_ide=None, allow_queries_via_get=False)
