"""Names and images of Podman (and cri-o) containers from containers/storage.

Podman 4's OCI spec (``userdata/config.json``) names neither the container
nor its image; containers/storage keeps both in one index per graph root,
``<root>/overlay-containers/containers.json``: a list of
``{"id", "names": [...], "image": <image id>, "metadata": "<JSON text>"}``,
where Podman's metadata holds ``image-name`` and ``name``.

The index is read again only when its modification time or size changes,
capped at MAX_INDEX_BYTES, and read defensively (any JSON shape tolerated):
the names are the users', and end up in every output (escaped there).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

MAX_INDEX_BYTES = 32 << 20  # ~1 KiB per container
INDEX = Path("overlay-containers") / "containers.json"


@dataclass(frozen=True)
class StoredContainer:
    name: str | None
    image: str | None


class StorageIndex:
    """containers.json of one graph root, cached by (mtime, size)."""

    def __init__(self, root: Path, read_json: Callable[[Path, int], Any]) -> None:
        """read_json(path, max bytes) → the JSON value, or None (oci.read_json_capped)."""
        self.path, self.read_json = root / INDEX, read_json
        self._stamp: tuple[int, int] | None = None
        self._by_id: dict[str, StoredContainer] = {}
        self._lock = threading.Lock()  # the event path's thread and the lookup thread both ask

    def lookup(self, container_id: str) -> StoredContainer | None:
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._by_id = _parse(self.read_json(self.path, MAX_INDEX_BYTES))
                self._stamp = stamp
            return self._by_id.get(container_id)


def _parse(document: Any) -> dict[str, StoredContainer]:
    out: dict[str, StoredContainer] = {}
    if not isinstance(document, list):
        return out
    for entry in document:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        names = entry.get("names")
        name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) else None
        metadata = _metadata(entry.get("metadata"))
        image = metadata.get("image-name")
        if name is None and isinstance(metadata.get("name"), str):
            name = metadata["name"]
        out[entry["id"]] = StoredContainer(name=name[:256] if name else None,
                                           image=image[:1024] if isinstance(image, str) and image else None)
    return out


def _metadata(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or len(text) > 65536:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
