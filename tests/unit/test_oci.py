"""Container metadata from OCI runtime state (eunomia.context.oci)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from eunomia.context.model import CgroupRef
from eunomia.context.oci import OciRoots, OciStateResolver, read_json_capped

ID = "8e1f0c3b7a6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f"
SANDBOX = "1" * 64
POD = "5d2e7b1a-9c4f-4e8b-a1d3-0f6b2c7e9a15"

# what containerd's CRI plugin writes (trimmed)
CONTAINERD_SPEC = {
    "ociVersion": "1.1.0",
    "process": {"args": ["nginx", "-g", "daemon off;"], "cwd": "/"},
    "root": {"path": "rootfs"},
    "linux": {"cgroupsPath": f"kubepods-burstable-pod{POD.replace('-', '_')}.slice:cri-containerd:{ID}"},
    "annotations": {
        "io.kubernetes.cri.container-name": "nginx",
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.27",
        "io.kubernetes.cri.sandbox-id": SANDBOX,
        "io.kubernetes.cri.sandbox-name": "web-7d4b9c8f6-x2kqp",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.sandbox-uid": POD,
    },
}

# what cri-o writes (trimmed): kubelet labels copied into annotations, and as JSON
CRIO_LABELS = {
    "io.kubernetes.container.name": "api",
    "io.kubernetes.pod.name": "api-5f6d8-abcde",
    "io.kubernetes.pod.namespace": "payments",
    "io.kubernetes.pod.uid": POD,
}
CRIO_SPEC = {
    "ociVersion": "1.0.2-dev",
    "annotations": {
        **CRIO_LABELS,
        "io.container.manager": "cri-o",
        "io.kubernetes.cri-o.ContainerType": "container",
        "io.kubernetes.cri-o.ImageName": "quay.io/acme/api:2.3",
        "io.kubernetes.cri-o.Labels": json.dumps(CRIO_LABELS),
        "io.kubernetes.cri-o.SandboxID": SANDBOX,
    },
}

PODMAN_SPEC = {
    "ociVersion": "1.0.0",
    "annotations": {"io.container.manager": "libpod", "org.opencontainers.image.stopSignal": "15"},
}


def _write(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (bytes, str)):
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    else:
        path.write_text(json.dumps(content))
    return path


def _roots(tmp_path: Path) -> OciRoots:
    return OciRoots(
        containerd_states=(tmp_path / "run" / "containerd",),
        storage_roots=(tmp_path / "run" / "containers" / "storage",
                       tmp_path / "var" / "lib" / "containers" / "storage"),
    )


def _containerd_config(roots: OciRoots, namespace: str, cid: str = ID) -> Path:
    return (roots.containerd_states[0] / "io.containerd.runtime.v2.task" / namespace / cid
            / "config.json")


def _storage_config(root: Path, cid: str = ID) -> Path:
    return root / "overlay-containers" / cid / "userdata" / "config.json"


def test_containerd_k8s(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "k8s.io"), CONTAINERD_SPEC)
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", ID, POD))
    assert c is not None
    assert (c.id, c.runtime, c.name, c.image, c.pod, c.namespace) == (
        ID, "containerd", "nginx", "docker.io/library/nginx:1.27", "web-7d4b9c8f6-x2kqp", "shop")
    assert c.labels["io.kubernetes.cri.sandbox-uid"] == POD
    assert c.labels["io.kubernetes.cri.container-type"] == "container"


def test_containerd_sandbox_is_named_pod(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "k8s.io", SANDBOX), {"annotations": {
        "io.kubernetes.cri.container-type": "sandbox",
        "io.kubernetes.cri.sandbox-name": "web-7d4b9c8f6-x2kqp",
        "io.kubernetes.cri.sandbox-namespace": "shop",
    }})
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", SANDBOX))
    assert c is not None
    assert (c.name, c.pod, c.namespace, c.image) == ("POD", "web-7d4b9c8f6-x2kqp", "shop", None)


def test_docker_via_containerd_moby_namespace(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "moby"), {"ociVersion": "1.1.0", "process": {}})
    c = OciStateResolver(roots).resolve(CgroupRef("docker", ID))
    assert c is not None
    assert (c.id, c.runtime, c.name, c.image, c.labels) == (ID, "docker", None, None, {})


def test_containerd_other_namespace_and_unknown_runtime(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "buildkit"), {"annotations": {"a": "b"}})
    c = OciStateResolver(roots).resolve(CgroupRef("unknown", ID))
    assert c is not None
    assert (c.runtime, c.labels) == ("containerd", {"a": "b"})


def test_containerd_legacy_v1_shim(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(roots.containerd_states[0] / "io.containerd.runtime.v1.linux" / "moby" / ID / "config.json",
           {})
    c = OciStateResolver(roots).resolve(CgroupRef("docker", ID))
    assert c is not None and c.runtime == "docker"


def test_crio(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_storage_config(roots.storage_roots[0]), CRIO_SPEC)
    c = OciStateResolver(roots).resolve(CgroupRef("cri-o", ID, POD))
    assert c is not None
    assert (c.id, c.runtime, c.name, c.image, c.pod, c.namespace) == (
        ID, "cri-o", "api", "quay.io/acme/api:2.3", "api-5f6d8-abcde", "payments")
    assert c.labels["io.kubernetes.pod.uid"] == POD


def test_crio_labels_only_in_json(tmp_path: Path) -> None:
    # older cri-o: the kubelet labels only in io.kubernetes.cri-o.Labels
    roots = _roots(tmp_path)
    spec = {"annotations": {"io.kubernetes.cri-o.Labels": json.dumps(CRIO_LABELS),
                            "io.kubernetes.cri-o.ImageName": "quay.io/acme/api:2.3"}}
    _write(_storage_config(roots.storage_roots[1]), spec)
    # cgroupfs kubepods layouts guess "containerd": the state says cri-o
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", ID, POD))
    assert c is not None
    assert (c.runtime, c.name, c.pod, c.namespace) == ("cri-o", "api", "api-5f6d8-abcde", "payments")
    assert c.labels["io.kubernetes.pod.uid"] == POD


def test_podman(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_storage_config(roots.storage_roots[1]), PODMAN_SPEC)
    c = OciStateResolver(roots).resolve(CgroupRef("podman", ID))
    assert c is not None
    assert (c.runtime, c.name, c.pod, c.namespace) == ("podman", None, None, None)
    assert c.labels == PODMAN_SPEC["annotations"]


def _storage_index(root: Path, entries: Any) -> Path:
    return _write(root / "overlay-containers" / "containers.json", entries)


def test_podman_names_and_images_from_the_storage_index(tmp_path: Path) -> None:
    # Podman 4.3's spec names neither; containers/storage's index does (as measured here)
    roots = _roots(tmp_path)
    graph = roots.storage_roots[1]
    _write(_storage_config(graph), PODMAN_SPEC)
    index = _storage_index(graph, [
        {"id": "f" * 64, "names": ["other"], "metadata": "{}"},
        {"id": ID, "names": ["web"], "image": "add2" * 16,
         "metadata": json.dumps({"image-name": "docker.io/eunomia-test/busybox:latest", "name": "web"})}])
    resolver = OciStateResolver(roots)
    c = resolver.cached(CgroupRef("podman", ID))  # at once, on the caller's thread
    assert c is not None
    assert (c.runtime, c.name, c.image) == ("podman", "web", "docker.io/eunomia-test/busybox:latest")
    assert resolver.cached(CgroupRef("docker", ID)) is None  # Docker's are the Docker resolver's
    # renamed: the index is read again when it changes
    _storage_index(graph, [{"id": ID, "names": ["web2"], "metadata": "not json"}])
    os.utime(index, ns=(1, 1))
    c = resolver.resolve(CgroupRef("podman", ID))
    assert c is not None and (c.name, c.image) == ("web2", None)


@pytest.mark.parametrize("index", ["[", "{}", '[{"id": 5}, "x", null]',
                                   json.dumps([{"id": ID, "names": [7], "metadata": ["x"]}])])
def test_a_broken_storage_index_names_nothing(tmp_path: Path, index: str) -> None:
    roots = _roots(tmp_path)
    _write(_storage_config(roots.storage_roots[1]), PODMAN_SPEC)
    _storage_index(roots.storage_roots[1], index)
    c = OciStateResolver(roots).resolve(CgroupRef("podman", ID))
    assert c is not None and (c.runtime, c.name, c.image) == ("podman", None, None)


def test_no_state(tmp_path: Path) -> None:
    resolver = OciStateResolver(_roots(tmp_path))
    assert resolver.resolve(CgroupRef("containerd", ID)) is None
    assert resolver.resolve(CgroupRef("cri-o", ID)) is None


def test_default_roots() -> None:
    roots = OciStateResolver().roots
    assert roots.containerd_states == (Path("/run/containerd"), Path("/run/docker/containerd/daemon"))
    assert roots.containerd_namespaces[:2] == ("k8s.io", "moby")
    assert roots.storage_roots == (Path("/run/containers/storage"),
                                   Path("/var/lib/containers/storage"))


@pytest.mark.parametrize("bad_id", ["../../etc", "a" * 63, "A" * 64, "a" * 64 + "/..", ""])
def test_bad_ids_are_not_joined_into_paths(tmp_path: Path, bad_id: str) -> None:
    assert OciStateResolver(_roots(tmp_path)).resolve(CgroupRef("containerd", bad_id)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b"null",
        b'"just a string"',
        b'{"annotations": ["a", "b"]}',
        b'{"annotations": null}',
        b'{"annotations": {"io.kubernetes.cri.container-name": 42, "k": {"x": 1}}}',
        b"[" * 100_000 + b"]" * 100_000,           # deep nesting
        b'{"n": ' + b"9" * 10_000 + b"}",           # int too long for int()
    ],
)
def test_hostile_json_gives_partial_container(tmp_path: Path, content: bytes) -> None:
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "k8s.io"), content)
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", ID))
    assert c is not None
    assert (c.id, c.runtime, c.name, c.image, c.pod, c.namespace, c.labels) == (
        ID, "containerd", None, None, None, None, {})


def test_hostile_crio_labels_json(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    _write(_storage_config(roots.storage_roots[0]), {"annotations": {
        "io.kubernetes.cri-o.Labels": "[" * 50_000,
        "io.kubernetes.cri-o.ImageName": "img"}})
    c = OciStateResolver(roots).resolve(CgroupRef("cri-o", ID))
    assert c is not None and (c.runtime, c.image, c.name) == ("cri-o", "img", None)


def test_oversized_annotations_are_dropped(tmp_path: Path) -> None:
    roots = _roots(tmp_path)
    annotations = {"big": "x" * 100_000, "ok": "y"}
    annotations.update({f"k{i}": "v" for i in range(1000)})
    _write(_containerd_config(roots, "k8s.io"), {"annotations": annotations})
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", ID))
    assert c is not None
    assert "big" not in c.labels and c.labels["ok"] == "y"
    assert len(c.labels) == 256


def test_size_cap(tmp_path: Path) -> None:
    f = _write(tmp_path / "config.json", {"annotations": {"x": "y" * 2000}})
    assert read_json_capped(f, max_bytes=100) is None
    assert read_json_capped(f)["annotations"]["x"] == "y" * 2000


def test_symlink_and_fifo_are_not_read(tmp_path: Path) -> None:
    target = _write(tmp_path / "secret.json", {"annotations": {"io.kubernetes.cri.container-name": "x"}})
    roots = _roots(tmp_path)
    link = _containerd_config(roots, "k8s.io")
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert read_json_capped(link) is None
    c = OciStateResolver(roots).resolve(CgroupRef("containerd", ID))
    assert c is not None and c.name is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_json_capped(fifo) is None  # and does not block
    assert read_json_capped(tmp_path / "missing.json") is None


class FakeContainerd:
    """containerd's answers as `ctr containers info` gives them (context/containerd.py's parsing is real)."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers, self.asked = answers, []

    def run(self, argv: list[str], timeout: float) -> bytes | None:
        self.asked.append(argv)
        return self.answers.get(argv[-1])


def test_a_ctr_container_is_named_by_its_id_and_its_image_asked_of_containerd(tmp_path: Path) -> None:
    from eunomia.context.containerd import ContainerdInfo
    import socket
    roots = _roots(tmp_path)
    _write(_containerd_config(roots, "default", "my-app.1"), {"process": {"args": ["sleep", "60"]}})
    _write(_containerd_config(roots, "dev", "web"), {})
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(roots.containerd_states[0] / "containerd.sock"))
    fake = FakeContainerd({"my-app.1": json.dumps({"ID": "my-app.1", "Image": "docker.io/library/nginx:1",
                                                   "Labels": {"team": "web", "k": 7}}).encode(),
                           "web": b"{not json"})
    try:
        resolver = OciStateResolver(roots, ContainerdInfo(ctr="/usr/bin/ctr", run=fake.run))
        app = resolver.resolve(CgroupRef("containerd", "my-app.1"))
        assert app is not None and (app.name, app.image, app.runtime) == ("my-app.1", "docker.io/library/nginx:1",
                                                                          "containerd")
        assert app.labels == {"team": "web"}
        assert fake.asked[0][1:] == ["--address", str(roots.containerd_states[0] / "containerd.sock"),
                                     "--namespace", "default", "containers", "info", "my-app.1"]
        web = resolver.resolve(CgroupRef("containerd", "web"))       # containerd's answer unreadable
        assert web is not None and (web.name, web.image) == ("web", None)
        assert resolver.resolve(CgroupRef("containerd", "nosuch")) is None
        assert resolver.resolve(CgroupRef("cri-o", "my-app.1")) is None  # storage ids are hex only
        assert sorted(resolver.containerd_namespaces()) == ["default", "dev"]
    finally:
        sock.close()


def test_no_ctr_or_no_socket_means_no_image(tmp_path: Path) -> None:
    from eunomia.context.containerd import ContainerdInfo
    fake = FakeContainerd({})
    assert ContainerdInfo(ctr=None, run=fake.run).of(tmp_path, "default", "a") is None
    assert ContainerdInfo(ctr="/usr/bin/ctr", run=fake.run).of(tmp_path, "default", "a") is None
    assert ContainerdInfo(ctr="/usr/bin/ctr", run=fake.run).of(tmp_path, "../x", "a") is None
    assert fake.asked == []
