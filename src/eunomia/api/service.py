"""The API inside `eunomia run`: what the pump hands it, and the server's life.

    service = ApiService(("127.0.0.1", 8527), token=None)
    service.observe(tracker, event)     # the pump, per event shown: peers, the stream
    service.alert(alert)                # every alert: the recent list, the stream
    service.flush()                     # after each poll
    with service.serving(parts) as where:   # "127.0.0.1:8527"
        ...

Per event, with nobody on the stream, this costs a list-emptiness test (and
for a connection, one dict increment).
"""

from __future__ import annotations

import collections
import contextlib
from typing import Any, Iterable, Iterator

from .access import check_exposure, is_loopback, served_names
from .feed import Feed
from .model import ALERTS_KEPT, AgentParts, AgentView
from .peers import PeerBook
from .recordings import Recordings


class ApiService:
    def __init__(self, address: tuple[str, int], token: str | None) -> None:
        check_exposure(address, token)
        self.address, self.token = address, token
        self.feed = Feed()
        self.peers = PeerBook()
        self.alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=ALERTS_KEPT)
        self.view: AgentView | None = None
        self.recordings: Recordings | None = None  # set by whoever serves (it needs the running agent)

    def observe(self, tracker_name: str, event: dict[str, Any], shown: bool = True) -> None:
        """Every event; `shown`: one of the kinds the tracker streams (the others only count)."""
        if self.recordings is not None:
            self.recordings.write(event, shown)
        if not shown:
            return
        if tracker_name == "net":
            self.peers.observe(event)
        if self.feed.listened:
            self.feed.publish(event)

    def alert(self, alert: dict[str, Any]) -> None:
        self.alerts.append(alert)
        if self.feed.listened:
            self.feed.publish(alert)

    def flush(self) -> None:
        self.feed.flush()

    def forget(self, container_ids: Iterable[str]) -> None:
        self.peers.forget(container_ids)

    @contextlib.contextmanager
    def serving(self, parts: AgentParts) -> Iterator[str]:
        """The server runs while inside; yields HOST:PORT (OSError naming the fix if it cannot).
        `parts` carry this service's peers and alerts (AgentParts.peers, .alerts)."""
        from .app import build_app
        from .server import ApiServer
        self.view = AgentView(parts)
        view, host = self.view, self.address[0]

        def app_for(port: int) -> Any:  # no token: only the names of this address (a DNS-rebinding guard)
            allowed = served_names(host, port) if self.token is None and is_loopback(host) else ()
            return build_app(view, self.feed, token=self.token, allowed_hosts=allowed)
        with ApiServer(app_for, self.address, on_stop=self.feed.close) as server:
            shown = f"[{host}]" if ":" in host else host
            yield f"{shown}:{server.port}"
