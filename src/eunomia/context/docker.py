"""Container metadata from the Docker Engine API (docker SDK).

Short-lived containers (`docker run --rm … ; exit 3`) may be gone before we
ask about them, so a thread follows Docker's event stream and remembers
every container created: its name, image and labels arrive there before the
container's first process runs.  Lookups check that memory first, then
inspect the container, then wait briefly for the event stream to catch up.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .model import CgroupRef, Container

log = logging.getLogger(__name__)

POD_LABEL = "io.kubernetes.pod.name"
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"


class DockerUnavailable(Exception):
    """The Docker daemon did not answer (reason in the message)."""


def _addresses(attrs: dict[str, Any]) -> list[str]:
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    ips = []
    for net in networks.values():
        for key in ("IPAddress", "GlobalIPv6Address"):
            if (net or {}).get(key):
                ips.append(net[key])
    return ips


def _published(attrs: dict[str, Any]) -> dict[tuple[str, int], int]:
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    found: dict[tuple[str, int], int] = {}
    for spec, bindings in ports.items():  # "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
        port, _, proto = spec.partition("/")
        for binding in bindings or []:
            try:
                found[(proto or "tcp", int(binding.get("HostPort")))] = int(port)
            except (TypeError, ValueError):
                continue
    return found


def docker_time(text: str | None) -> str | None:
    """Docker's RFC 3339 nanosecond times → ours (microseconds, UTC, Z);
    None for Docker's "never" (year 1)."""
    if not text or text.startswith("0001-"):
        return None
    stamp, _, fraction = text.rstrip("Z").partition(".")
    if len(stamp) != 19 or "+" in fraction or "-" in fraction:
        return None  # not UTC: Docker always answers in UTC
    return f"{stamp}.{(fraction + '000000')[:6]}Z"


def _nano_time(nanoseconds: int) -> str:
    seconds, nanos = divmod(nanoseconds, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


def _container_from_attrs(attrs: dict[str, Any]) -> Container:
    config = attrs.get("Config") or {}
    labels = dict(config.get("Labels") or {})
    state = attrs.get("State") or {}
    return Container(
        id=attrs.get("Id", ""),
        runtime="docker",
        name=(attrs.get("Name") or "").lstrip("/") or None,
        image=config.get("Image") or attrs.get("Image"),
        labels=labels,
        pod=labels.get(POD_LABEL),
        namespace=labels.get(NAMESPACE_LABEL),
        ips=_addresses(attrs),
        published=_published(attrs),
        started=docker_time(state.get("StartedAt")),
        privileged=bool((attrs.get("HostConfig") or {}).get("Privileged")),
    )


def _container_from_event(event: dict[str, Any]) -> Container | None:
    actor = event.get("Actor") or {}
    cid = actor.get("ID") or event.get("id")
    if not cid:
        return None
    attributes = dict(actor.get("Attributes") or {})
    name = attributes.pop("name", None)
    image = attributes.pop("image", None)
    # the remaining attributes are the container's labels
    return Container(id=cid, runtime="docker", name=name, image=image, labels=attributes,
                     pod=attributes.get(POD_LABEL), namespace=attributes.get(NAMESPACE_LABEL))


class DockerResolver:
    """Names, images and labels of Docker containers."""

    runtime = "docker"

    def __init__(self, client: Any = None, *, timeout: float = 3.0, wait_for_event: float = 0.5) -> None:
        self._client = client
        self._timeout = timeout
        self._wait_for_event = wait_for_event
        self._seen: dict[str, Container] = {}
        self._cond = threading.Condition()
        self._events: Any = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Container], None]] = []
        self._started: list[Callable[[Container], None]] = []
        self._stopped: list[Callable[[str], None]] = []
        self._exits: dict[str, tuple[str | None, int | None]] = {}  # id → (when, exit code)
        self.error: str | None = None

    # -- connection ----------------------------------------------------------
    def connect(self) -> None:
        """Reach the daemon or raise DockerUnavailable with the reason."""
        if self._client is None:
            try:
                import docker  # imported here: --help and unit tests need no daemon

                self._client = docker.from_env(timeout=self._timeout)
                self._client.ping()
            except Exception as exc:  # the SDK raises many kinds; all mean "not reachable"
                self._client = None
                self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise DockerUnavailable(self.error) from exc

    @property
    def available(self) -> bool:
        return self._client is not None

    # -- lookups -------------------------------------------------------------
    def running(self) -> list[Container]:
        if self._client is None:
            return []
        try:
            found = [_container_from_attrs(c.attrs) for c in self._client.containers.list()]
        except Exception as exc:
            log.warning("docker: cannot list containers: %s", exc)
            return []
        with self._cond:
            for c in found:
                self._seen.setdefault(c.id, c)
        return found

    def cached(self, ref: CgroupRef) -> Container | None:
        """What the event stream or a listing already told about it (no call)."""
        with self._cond:
            return self._seen.get(ref.container_id)

    def resolve(self, ref: CgroupRef) -> Container | None:
        if self._client is None or ref.runtime not in ("docker", "unknown"):
            return None
        with self._cond:
            if ref.container_id in self._seen:
                return self._seen[ref.container_id]
        found = self._inspect(ref.container_id)
        if found is not None:
            with self._cond:
                self._seen[found.id] = found
            return found
        if ref.runtime != "docker":
            return None
        # gone already (e.g. --rm): its create event may still be on the way
        deadline = time.monotonic() + self._wait_for_event
        with self._cond:
            while ref.container_id not in self._seen and self._thread is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._seen.get(ref.container_id)

    def _inspect(self, container_id: str) -> Container | None:
        try:
            return _container_from_attrs(self._client.api.inspect_container(container_id))
        except Exception:
            return None

    def refresh(self, ref: CgroupRef) -> Container | None:
        """Inspect again (e.g. addresses change when networks are connected)."""
        found = self._inspect(ref.container_id) if self._client is not None else None
        if found is not None:
            with self._cond:
                self._seen[found.id] = found
        return found

    # -- event stream ----------------------------------------------------------
    def on_create(self, listener: Callable[[Container], None]) -> None:
        """Call listener (from the event thread) for every container created."""
        self._listeners.append(listener)

    def on_start(self, listener: Callable[[Container], None]) -> None:
        """Call listener (from the event thread) when a container starts (addresses known)
        or is renamed."""
        self._started.append(listener)

    def on_stop(self, listener: Callable[[str], None]) -> None:
        """Call listener (from the event thread) with the id of a container that died."""
        self._stopped.append(listener)

    def unsubscribe(self, *listeners: Callable[..., None]) -> None:
        """Stop calling these listeners (a session that closes while the agent runs on):
        the oldest subscription of each, as another session may have made the same one since."""
        def without(kept: list[Any]) -> list[Any]:
            kept = list(kept)  # a new list: the event thread may be going through the old one
            for listener in listeners:
                if listener in kept:
                    kept.remove(listener)  # the first equal one
            return kept
        self._listeners, self._started, self._stopped = (
            without(self._listeners), without(self._started), without(self._stopped))

    def follow_events(self) -> None:
        if self._client is None or self._thread is not None:
            return
        try:
            self._events = self._client.events(decode=True, since=int(time.time()) - 1,
                                               filters={"type": "container"})
        except Exception as exc:
            log.warning("docker: cannot follow events: %s", exc)
            return
        self._thread = threading.Thread(target=self._pump, name="docker-events", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for event in self._events:
                action = event.get("Action") or event.get("status") or ""
                if action == "die":  # its addresses go back to Docker's pool
                    self._died(event)
                    continue
                if action not in ("create", "start", "rename"):
                    continue
                container = _container_from_event(event)
                if container is None:
                    continue
                if action == "start":  # (re)started: no longer exited, before the inspect's wait
                    with self._cond:
                        self._exits.pop(container.id, None)
                if action in ("start", "rename"):  # addresses arrive at start; names change
                    container = self._inspect(container.id) or container
                with self._cond:
                    known = self._seen.get(container.id)
                    if known is None or action in ("rename", "start"):
                        self._seen[container.id] = container
                    self._cond.notify_all()
                if action in ("start", "rename"):
                    self._notify(self._started, container)
                if action == "create":
                    self._notify(self._listeners, container)
        except Exception as exc:  # the stream ends when closed or the daemon stops
            log.debug("docker: event stream ended: %s", exc)

    def _died(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        container_id = actor.get("ID") or event.get("id") or ""
        try:
            code: int | None = int((actor.get("Attributes") or {}).get("exitCode"))
        except (TypeError, ValueError):
            code = None
        nano = event.get("timeNano")
        when = _nano_time(int(nano)) if isinstance(nano, int) else None
        with self._cond:
            self._exits[container_id] = (when, code)
            self._cond.notify_all()
        self._notify(self._stopped, container_id)

    def forget(self, container_id: str) -> None:
        """Drop what is kept of a long-gone container."""
        with self._cond:
            self._seen.pop(container_id, None)
            self._exits.pop(container_id, None)

    def exit_of(self, container_id: str, wait: float = 0.0) -> tuple[str | None, int | None] | None:
        """(when, exit code) of a container that died while events were
        followed; wait up to `wait` seconds for its die event."""
        deadline = time.monotonic() + wait
        with self._cond:
            while container_id not in self._exits and self._thread is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._exits.get(container_id)

    @staticmethod
    def _notify(listeners: list[Callable[[Any], None]], value: Any) -> None:
        # one failing listener must not end the event thread
        for listener in listeners:
            try:
                listener(value)
            except Exception as exc:
                log.warning("docker: handling a container event failed: %s", exc)

    def close(self) -> None:
        if self._events is not None:
            try:
                self._events.close()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=1)
        with self._cond:
            self._thread = None
            self._cond.notify_all()
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
