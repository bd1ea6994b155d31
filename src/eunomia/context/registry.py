"""The container registry: cgroup id → container, with its metadata.

Keys are cgroup v2 ids (what the BPF side stamps on every event).  A cgroup
id is tied to a container by parsing its cgroup path with the runtimes'
layouts; metadata comes from the first resolver that knows the container
(Docker API, then OCI runtime state).  Exited containers stay: their last
events are written after their cgroup is gone.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Mapping, Protocol

from .cgroups import parse_cgroup_path
from .lookups import BackgroundLookups
from .model import HOST_CONTAINER, CgroupRef, Container

RETRY_SECONDS = 2.0  # how often to retry metadata of a container nobody knew
READDRESS_MAX = 8    # containers asked again for their addresses per unknown-address lookup
# A stopped container's addresses still name it this long, unless another
# container holds them: events are read in batches (up to the pump's poll
# interval, plus a short hold), so a connection's events can come after
# Docker's die event or the cgroup's removal.
ADDRESS_GRACE_SECONDS = 2.0


class Resolver(Protocol):
    def resolve(self, ref: CgroupRef) -> Container | None: ...


class ContainerRegistry:
    """With `background`, resolvers are asked on its worker thread, never on
    the caller's: a container is returned at once, and its metadata fills in
    when the answer comes (`resolving(id)` says one is on its way).  What a
    resolver already holds in memory (`cached(ref)`, e.g. Docker's create
    events) is taken at once."""

    def __init__(self, resolvers: list[Resolver], clock: Callable[[], float] = time.monotonic,
                 background: BackgroundLookups | None = None) -> None:
        self._resolvers = resolvers
        self._clock = clock
        self._background = background
        self._by_cgroup: dict[int, Container] = {}
        self._cgroup_paths: dict[int, str] = {}
        self._by_id: dict[str, Container] = {}
        self._refs: dict[str, CgroupRef] = {}
        self._retry_at: dict[str, float] = {}
        self._readdress_at = 0.0
        self._stopped: set[str] = set()
        self._gone_addresses: dict[str, tuple[Container, float]] = {}  # ip → (stopped holder, until)
        self._grace_until: dict[str, float] = {}  # stopped container id → its addresses name it until
        self._forgetting = threading.Lock()
        # ip → cgroup id of the task that last used it as its own address
        # (the net tracker's kernel map): names a peer before Docker does
        self._address_owners: list[Callable[[str], int | None]] = []
        # /<namespace>/<id> cgroups are `ctr run`'s containers (set by whoever finds the namespaces)
        self.containerd_namespaces: frozenset[str] = frozenset()

    def add_cgroup(self, cgroup_id: int, path: str) -> Container | None:
        """Record a cgroup; returns its container, or None for a host cgroup."""
        container = self.container_at_path(path)
        if container is not None:
            self._by_cgroup[cgroup_id] = container
            self._cgroup_paths[cgroup_id] = path
        return container

    def container_at_path(self, path: str) -> Container | None:
        """The container a cgroup path names (learnt on first sight), or None."""
        ref = parse_cgroup_path(path, self.containerd_namespaces)
        if ref is None:
            return None
        container = self._by_id.get(ref.container_id)
        if container is None:
            container = Container(id=ref.container_id, runtime=ref.runtime, cgroup_path=path)
            self._by_id[ref.container_id] = container
            self._refs[ref.container_id] = ref
            self._enrich(container)
        return container

    def forget(self, container_id: str) -> list[int]:
        """A long-gone container leaves the registry (an always-on agent sees
        thousands come and go); returns the cgroup ids it had."""
        cgroups = self.cgroups_of(container_id)
        for cgroup_id in cgroups:
            self._by_cgroup.pop(cgroup_id, None)
            self._cgroup_paths.pop(cgroup_id, None)
        for known in (self._by_id, self._refs, self._retry_at):
            known.pop(container_id, None)  # type: ignore[attr-defined]
        self._stopped.discard(container_id)
        return cgroups

    def add_container(self, container: Container) -> Container:
        """Record metadata learnt elsewhere (e.g. listing the runtime, a start event)."""
        self._stopped.discard(container.id)
        known = self._by_id.get(container.id)
        if known is None:
            self._by_id[container.id] = container
            return container
        _merge(known, container)
        return known

    def container_of(self, cgroup_id: int) -> Container:
        container = self._by_cgroup.get(cgroup_id)
        if container is None:
            return HOST_CONTAINER
        if container.name is None and self._clock() >= self._retry_at.get(container.id, 0.0):
            self._enrich(container)
        return container

    def cgroup_table(self) -> Mapping[int, Container]:
        """cgroup id → container, live (read-only): the event path's fast lookup."""
        return self._by_cgroup

    def is_container_cgroup(self, cgroup_id: int) -> bool:
        return cgroup_id in self._by_cgroup

    def cgroups_of(self, container_id: str) -> list[int]:
        # called from the Docker event thread too: copy under the GIL first
        return [cg for cg, c in list(self._by_cgroup.items()) if c.id == container_id]

    def containers(self) -> list[Container]:
        return list(self._by_id.values())

    def by_ip(self, ip: str) -> Container | None:
        """The container that has this address on one of its networks.

        Docker hands a stopped container's address to the next one; stopped
        containers lose theirs here (forget_addresses: after
        ADDRESS_GRACE_SECONDS, or at once when another holds it), and the
        newest holder wins meanwhile.  A running container learnt before its addresses were
        known is asked about again, at most every RETRY_SECONDS.
        """
        for c in reversed(list(self._by_id.values())):
            if ip in c.ips:
                return c
        found = self._owner_of_address(ip)
        if found is not None:
            return found
        now = self._clock()
        gone = self._gone_addresses.get(ip)
        if gone is not None and now < gone[1]:
            return gone[0]
        if now >= self._readdress_at:
            self._readdress_at = now + RETRY_SECONDS
            candidates = [c for c in reversed(list(self._by_id.values()))
                          if not c.ips and c.runtime == "docker" and c.id in self._refs and c.id not in self._stopped]
            for c in candidates[:READDRESS_MAX]:
                self._enrich(c, refresh=True)
                if ip in c.ips:
                    return c
        return None

    def cgroup_removed(self, cgroup_id: int) -> None:
        """A cgroup was removed; when it was a container's own (the last path
        component names the container, not a sub-cgroup of it), the container
        is gone and its addresses with it."""
        container = self._by_cgroup.get(cgroup_id)
        path = self._cgroup_paths.get(cgroup_id)
        if container is not None and path is not None and container.id in path.rsplit("/", 1)[-1]:
            self.forget_addresses(container.id)

    def add_address_owners(self, owner_of: Callable[[str], int | None]) -> None:
        """A source of ip → cgroup id, as seen by the kernel (a container's
        own connects and accepts), asked when Docker has not named an address."""
        self._address_owners.append(owner_of)

    def _owner_of_address(self, ip: str) -> Container | None:
        for owner_of in self._address_owners:
            cgroup_id = owner_of(ip)
            container = self._by_cgroup.get(cgroup_id) if cgroup_id is not None else None
            if container is not None and (container.id not in self._stopped
                                          or self._clock() < self._grace_until.get(container.id, 0.0)):
                return container
        return None

    def forget_addresses(self, container_id: str) -> None:
        """A container stopped: its addresses may go to another one.

        Called from the Docker event thread and from the pump (a cgroup's
        removal): one at a time, and other threads' dicts only read from copies."""
        with self._forgetting:
            self._stopped.add(container_id)
            container = self._by_id.get(container_id)
            now = self._clock()
            for ip in [ip for ip, gone in list(self._gone_addresses.items()) if now >= gone[1]]:
                del self._gone_addresses[ip]
            for cid in [cid for cid, until in list(self._grace_until.items()) if now >= until]:
                del self._grace_until[cid]
            self._grace_until[container_id] = now + ADDRESS_GRACE_SECONDS
            if container is None:
                return
            newness = {cid: n for n, cid in enumerate(list(self._by_id))}  # the newest holder wins
            for ip in container.ips:
                held = self._gone_addresses.get(ip)
                if held is None or newness.get(held[0].id, -1) <= newness.get(container_id, -1):
                    self._gone_addresses[ip] = (container, now + ADDRESS_GRACE_SECONDS)
            container.ips = []
            container.published = {}

    def by_published_port(self, transport: str, host_port: int) -> Container | None:
        """The container a host port is published to (reached through the host)."""
        for c in list(self._by_id.values()):
            if (transport, host_port) in c.published:
                return c
        return None

    def find(self, selector: str) -> list[Container]:
        """Containers a -c selector names: exact name, full id, or unique id prefix."""
        by_name = [c for c in list(self._by_id.values()) if c.name == selector]
        if by_name:
            return by_name
        if selector in self._by_id:  # (containerd's ids keep their case)
            return [self._by_id[selector]]
        sel = selector.lower()
        if sel in self._by_id:
            return [self._by_id[sel]]
        if len(sel) >= 3 and all(ch in "0123456789abcdef" for ch in sel):
            return [c for cid, c in list(self._by_id.items()) if cid.startswith(sel)]
        return []

    def get(self, container_id: str) -> Container | None:
        """The container with this full id, if known."""
        return self._by_id.get(container_id)

    def resolving(self, container_id: str) -> bool:
        """Is metadata of this container being looked up right now?"""
        return self._background is not None and self._background.pending(container_id)

    def close(self) -> None:
        if self._background is not None:
            self._background.close()

    def _enrich(self, container: Container, refresh: bool = False) -> None:
        ref = self._refs.get(container.id) or CgroupRef(container.runtime or "unknown", container.id)
        if self._background is None:
            self._resolve(container, ref, refresh)
            return
        if not refresh and self._from_memory(container, ref):
            return
        # not asked again per event while the answer is on its way
        self._retry_at[container.id] = self._clock() + RETRY_SECONDS
        self._background.submit(container.id, lambda: self._resolve(container, ref, refresh))

    def _from_memory(self, container: Container, ref: CgroupRef) -> bool:
        for resolver in self._resolvers:
            cached = getattr(resolver, "cached", None)
            found = cached(ref) if cached is not None else None
            if found is not None:
                _merge(container, found)
                if container.name is not None:  # (unnamed still: the resolvers are asked, not per event)
                    return True
        return False

    def _resolve(self, container: Container, ref: CgroupRef, refresh: bool) -> None:
        for resolver in self._resolvers:
            found = resolver.refresh(ref) if refresh and hasattr(resolver, "refresh") else resolver.resolve(ref)
            if found is not None:
                _merge(container, found)
                break
        if container.name is None:  # nobody could name it: ask again later, not per event
            self._retry_at[container.id] = self._clock() + RETRY_SECONDS


def _merge(into: Container, new: Container) -> None:
    for attr in ("runtime", "name", "image", "pod", "namespace", "cgroup_path", "started"):
        value = getattr(new, attr)
        if value is not None and (getattr(into, attr) is None or attr == "name"):
            setattr(into, attr, value)
    if new.labels:
        into.labels = dict(new.labels)
    if new.ips:
        into.ips = list(new.ips)
    if new.published:
        into.published = dict(new.published)
