"""Container metadata from OCI runtime state, for hosts without a Docker API.

Runtimes write each container's OCI runtime spec (``config.json``) to disk
before starting it, and Kubernetes runtimes put the pod's identity in the
spec's ``annotations``:

* containerd keeps one bundle per task at
  ``<state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json``
  (``<state>`` = ``/run/containerd``, or ``/run/docker/containerd/daemon`` for
  the containerd dockerd starts itself; namespace ``k8s.io`` for the CRI plugin,
  ``moby`` for Docker ≥ 20.10's containers, ``default`` for ``ctr``/nerdctl).
  ``ctr run``'s ids are any containerd identifier (``my-app.1``); such a
  container is named by its id, and its image is containerd's answer
  (context/containerd.py).
  The legacy v1 shim used ``io.containerd.runtime.v1.linux`` the same way.
* cri-o and podman keep it at
  ``<storage>/overlay-containers/<id>/userdata/config.json`` with ``<storage>``
  the run root ``/run/containers/storage`` or the graph root
  ``/var/lib/containers/storage``.

Annotation keys (sources: containerd ``pkg/cri/annotations/annotations.go``,
cri-o ``pkg/annotations`` / ``internal/annotations``, kubelet
``pkg/kubelet/types/labels.go``; the same keys are read by inspektor-gadget's
``pkg/container-utils/oci-annotations`` and by Falco's libsinsp):

* containerd: ``io.kubernetes.cri.container-name``, ``…cri.sandbox-name``,
  ``…cri.sandbox-namespace``, ``…cri.sandbox-uid``, ``…cri.image-name``,
  ``…cri.container-type`` (``sandbox`` | ``container``);
* cri-o: the kubelet labels ``io.kubernetes.container.name``,
  ``io.kubernetes.pod.name``, ``io.kubernetes.pod.namespace``,
  ``io.kubernetes.pod.uid`` are copied into the annotations and also kept as
  JSON in ``io.kubernetes.cri-o.Labels``; the image is
  ``io.kubernetes.cri-o.ImageName``, the type ``io.kubernetes.cri-o.ContainerType``;
* ``io.container.manager`` is ``libpod`` for podman, ``cri-o`` for cri-o.

The files are root-owned, but their content comes partly from pod specs, so
they are read defensively: regular files only, no symlinks, at most
:data:`MAX_CONFIG_BYTES`, any JSON shape tolerated.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eunomia.context.cgroups import is_containerd_id
from eunomia.context.containerd import ContainerdInfo
from eunomia.context.model import CgroupRef, Container
from eunomia.context.storage import StorageIndex

MAX_CONFIG_BYTES = 4 << 20   # an OCI spec is a few KiB; refuse anything huge
MAX_LABELS = 256             # annotations kept as labels
MAX_LABEL_BYTES = 4096       # longer annotation keys/values are dropped
MAX_NAMESPACES = 64          # containerd namespace directories looked at

_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
_CONTAINERD_TASK_DIRS = ("io.containerd.runtime.v2.task", "io.containerd.runtime.v1.linux")

# containerd CRI plugin
CRI_CONTAINER_NAME = "io.kubernetes.cri.container-name"
CRI_SANDBOX_NAME = "io.kubernetes.cri.sandbox-name"
CRI_SANDBOX_NAMESPACE = "io.kubernetes.cri.sandbox-namespace"
CRI_IMAGE_NAME = "io.kubernetes.cri.image-name"
CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type"
# kubelet labels (cri-o copies them into the annotations)
K8S_CONTAINER_NAME = "io.kubernetes.container.name"
K8S_POD_NAME = "io.kubernetes.pod.name"
K8S_POD_NAMESPACE = "io.kubernetes.pod.namespace"
# cri-o
CRIO_IMAGE_NAME = "io.kubernetes.cri-o.ImageName"
CRIO_CONTAINER_TYPE = "io.kubernetes.cri-o.ContainerType"
CRIO_LABELS = "io.kubernetes.cri-o.Labels"
CRIO_PREFIX = "io.kubernetes.cri-o."
CONTAINER_MANAGER = "io.container.manager"

SANDBOX_NAME = "POD"  # kubelet's name for a pod's infra (pause) container


@dataclass(frozen=True)
class OciRoots:
    """State directories to look in (override them in tests or for custom installs)."""

    containerd_states: tuple[Path, ...] = (Path("/run/containerd"), Path("/run/docker/containerd/daemon"))
    # looked at first, in this order; other namespaces present are tried after
    containerd_namespaces: tuple[str, ...] = ("k8s.io", "moby", "default")
    storage_roots: tuple[Path, ...] = (
        Path("/run/containers/storage"),
        Path("/var/lib/containers/storage"),
    )


def read_json_capped(path: Path, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """The JSON value in ``path``, or None if it is missing, not a regular
    file, a symlink, larger than ``max_bytes`` or not valid JSON (including
    nesting too deep for the parser)."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def string_annotations(spec: Any) -> dict[str, str]:
    """The ``annotations`` of an OCI spec that are short string → string pairs."""
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    if not isinstance(annotations, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in annotations.items():
        if len(out) >= MAX_LABELS:
            break
        if isinstance(key, str) and isinstance(value, str) \
                and len(key) <= MAX_LABEL_BYTES and len(value) <= MAX_LABEL_BYTES:
            out[key] = value
    return out


def _crio_labels(annotations: dict[str, str]) -> dict[str, str]:
    """The kubelet labels cri-o keeps as a JSON object in one annotation."""
    raw = annotations.get(CRIO_LABELS)
    if raw is None:
        return {}
    try:
        labels = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _first(sources: tuple[dict[str, str], ...], *keys: str) -> str | None:
    """The first non-empty value of any of ``keys`` in any of ``sources``."""
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value:
                return value
    return None


def container_from_spec(container_id: str, runtime: str, spec: Any) -> Container:
    """A Container from an OCI spec's annotations (missing ones stay None)."""
    annotations = string_annotations(spec)
    crio_labels = _crio_labels(annotations)
    sources = (annotations, crio_labels)
    name = _first(sources, CRI_CONTAINER_NAME, K8S_CONTAINER_NAME)
    kind = _first(sources, CRI_CONTAINER_TYPE, CRIO_CONTAINER_TYPE)
    if name is None and kind == "sandbox":
        name = SANDBOX_NAME
    labels = dict(crio_labels)
    labels.update(annotations)
    return Container(
        id=container_id,
        runtime=runtime,
        name=name,
        image=_first(sources, CRI_IMAGE_NAME, CRIO_IMAGE_NAME),
        labels=labels,
        pod=_first(sources, CRI_SANDBOX_NAME, K8S_POD_NAME),
        namespace=_first(sources, CRI_SANDBOX_NAMESPACE, K8S_POD_NAMESPACE),
    )


def _storage_runtime(spec: Any, hint: str) -> str:
    """podman or cri-o, for a spec found in containers/storage."""
    annotations = string_annotations(spec)
    manager = annotations.get(CONTAINER_MANAGER)
    if manager == "libpod":
        return "podman"
    if manager == "cri-o" or any(k.startswith(CRIO_PREFIX) for k in annotations):
        return "cri-o"
    return hint


class OciStateResolver:
    """Looks containers up in containerd, cri-o and podman state directories.

    The runtime reported is where the spec was found, which is more reliable
    than the cgroup layout: containerd namespace ``moby`` means Docker, other
    containerd namespaces containerd, containers/storage podman or cri-o
    (from ``io.container.manager`` or cri-o's annotations).
    """

    def __init__(self, roots: OciRoots | None = None, containerd: ContainerdInfo | None = None) -> None:
        self.roots = roots if roots is not None else OciRoots()
        self.containerd = containerd if containerd is not None else ContainerdInfo()
        self._indexes = {root: StorageIndex(root, read_json_capped) for root in self.roots.storage_roots}

    def resolve(self, ref: CgroupRef) -> Container | None:
        """The container's metadata, or None when no state file exists for it.

        A state file that cannot be parsed gives a Container with only its id
        and runtime.  Never raises for bad files; ids that are not 64 hex
        digits (or, for containerd, containerd identifiers) are refused: they
        would be joined into paths.
        """
        if not _CONTAINER_ID.fullmatch(ref.container_id):
            if ref.runtime == "containerd" and is_containerd_id(ref.container_id):
                return self._from_containerd(ref)
            return None
        lookups = (self._from_containerd, self._from_storage)
        if ref.runtime in ("cri-o", "podman"):
            lookups = (self._from_storage, self._from_containerd)
        for lookup in lookups:
            found = lookup(ref)
            if found is not None:
                return found
        return None

    def cached(self, ref: CgroupRef) -> Container | None:
        """Podman's and cri-o's containers at once (the registry asks this on
        the caller's thread): their state is two small local files, and a
        `-c NAME` must find a running one as tracing starts."""
        if ref.runtime not in ("podman", "cri-o") or not _CONTAINER_ID.fullmatch(ref.container_id):
            return None
        return self._from_storage(ref)

    def containerd_namespaces(self) -> list[str]:
        """The namespaces of every containerd state directory present (their
        `/<namespace>/<id>` cgroups are `ctr run`'s containers)."""
        names: list[str] = []
        for state in self.roots.containerd_states:
            for task_dir_name in _CONTAINERD_TASK_DIRS:
                for name in self._present_namespaces(state / task_dir_name):
                    if name not in names:
                        names.append(name)
        return names

    def _containerd_namespaces(self, task_dir: Path) -> list[str]:
        """The configured namespaces, then any other present under ``task_dir``."""
        names = list(self.roots.containerd_namespaces)
        names.extend(n for n in self._present_namespaces(task_dir) if n not in names)
        return names

    @staticmethod
    def _present_namespaces(task_dir: Path) -> list[str]:
        names: list[str] = []
        try:
            with os.scandir(task_dir) as entries:
                for i, entry in enumerate(entries):
                    if i >= MAX_NAMESPACES:
                        break
                    if is_containerd_id(entry.name) and entry.is_dir(follow_symlinks=False):
                        names.append(entry.name)
        except OSError:
            pass
        return names

    def _from_containerd(self, ref: CgroupRef) -> Container | None:
        for state in self.roots.containerd_states:
            for task_dir_name in _CONTAINERD_TASK_DIRS:
                task_dir = state / task_dir_name
                for namespace in self._containerd_namespaces(task_dir):
                    path = task_dir / namespace / ref.container_id / "config.json"
                    if not path.is_file():
                        continue
                    runtime = "docker" if namespace == "moby" else "containerd"
                    container = container_from_spec(ref.container_id, runtime, read_json_capped(path))
                    if runtime == "containerd" and container.name is None:  # not CRI's: ctr, nerdctl
                        self._fill_from_containerd(container, state, namespace)
                    return container
        return None

    def _fill_from_containerd(self, container: Container, state: Path, namespace: str) -> None:
        """A container without CRI's annotations: named by its id, its image from containerd."""
        container.name = container.id if not _CONTAINER_ID.fullmatch(container.id) else None
        info = self.containerd.of(state, namespace, container.id)
        if info is None:
            return
        image, labels = info.get("Image"), info.get("Labels")
        if isinstance(image, str) and image:
            container.image = image[:1024]
        if isinstance(labels, dict):
            container.labels = {**{k: v for k, v in list(labels.items())[:MAX_LABELS]
                                   if isinstance(k, str) and isinstance(v, str)
                                   and len(k) <= MAX_LABEL_BYTES and len(v) <= MAX_LABEL_BYTES},
                                **container.labels}
        nerdctl = container.labels.get("nerdctl/name")
        if nerdctl and is_containerd_id(nerdctl):
            container.name = nerdctl

    def _from_storage(self, ref: CgroupRef) -> Container | None:
        hint = ref.runtime if ref.runtime in ("cri-o", "podman") else "podman"
        for root in self.roots.storage_roots:
            path = root / "overlay-containers" / ref.container_id / "userdata" / "config.json"
            if not path.is_file():
                continue
            spec = read_json_capped(path)
            container = container_from_spec(ref.container_id, _storage_runtime(spec, hint), spec)
            if container.name is None or container.image is None:  # Podman's spec names neither
                for index in self._indexes.values():
                    stored = index.lookup(ref.container_id)
                    if stored is not None:
                        container.name = container.name or stored.name
                        container.image = container.image or stored.image
                        break
            return container
        return None
