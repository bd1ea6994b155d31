"""Cgroup path layouts → container (eunomia.context.cgroups)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eunomia.context.cgroups import parse_cgroup_path, parse_proc_cgroup, read_proc_cgroup
from eunomia.context.model import CgroupRef

ID = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
ID2 = "c0ffee00" * 8
POD = "5d2e7b1a-9c4f-4e8b-a1d3-0f6b2c7e9a15"
POD_ = POD.replace("-", "_")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # docker, cgroupfs driver
        (f"/docker/{ID}", CgroupRef("docker", ID)),
        (f"/docker/{ID}/init.scope", CgroupRef("docker", ID)),
        (f"/docker/{ID}/docker/{ID2}", CgroupRef("docker", ID2)),  # docker-in-docker
        # docker, systemd driver (also rootless under user@.service)
        (f"/system.slice/docker-{ID}.scope", CgroupRef("docker", ID)),
        (f"/system.slice/docker-{ID}.scope/system.slice/cron.service", CgroupRef("docker", ID)),
        (f"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{ID}.scope",
         CgroupRef("docker", ID)),
        # containerd CRI, systemd driver
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/"
         f"cri-containerd-{ID}.scope", CgroupRef("containerd", ID, POD)),
        (f"/kubepods.slice/kubepods-pod{POD_}.slice/cri-containerd-{ID}.scope",
         CgroupRef("containerd", ID, POD)),
        (f"/system.slice/containerd.service/kubepods-besteffort-pod{POD_}.slice:cri-containerd:{ID}",
         CgroupRef("unknown", ID)),
        # containerd CRI, cgroupfs driver
        (f"/kubepods/burstable/pod{POD}/{ID}", CgroupRef("containerd", ID, POD)),
        (f"/kubepods/besteffort/pod{POD}/{ID}", CgroupRef("containerd", ID, POD)),
        (f"/kubepods/pod{POD}/{ID}", CgroupRef("containerd", ID, POD)),
        (f"/kubepods/pod{POD}/{ID}/init.scope", CgroupRef("containerd", ID, POD)),
        # static pods: the UID is 32 hex digits without dashes
        (f"/kubepods/pod{'ab' * 16}/{ID}", CgroupRef("containerd", ID, "ab" * 16)),
        # nerdctl, systemd driver
        (f"/system.slice/nerdctl-{ID}.scope", CgroupRef("containerd", ID)),
        # cri-o
        (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_}.slice/"
         f"crio-{ID}.scope", CgroupRef("cri-o", ID, POD)),
        (f"/kubepods/burstable/pod{POD}/crio-{ID}", CgroupRef("cri-o", ID, POD)),
        (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_}.slice/"
         f"crio-{ID}.scope/container", CgroupRef("cri-o", ID, POD)),
        # cri-dockerd puts docker scopes in pod slices
        (f"/kubepods.slice/kubepods-pod{POD_}.slice/docker-{ID}.scope",
         CgroupRef("docker", ID, POD)),
        # podman
        (f"/machine.slice/libpod-{ID}.scope", CgroupRef("podman", ID)),
        (f"/machine.slice/libpod-{ID}.scope/container", CgroupRef("podman", ID)),
        (f"/libpod_parent/libpod-{ID}", CgroupRef("podman", ID)),
        (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope",
         CgroupRef("podman", ID)),
        # unknown layouts holding a 64-hex name, as the kernel side sees them
        (f"/custom-parent/{ID}", CgroupRef("unknown", ID)),
        (f"/default/{ID}", CgroupRef("unknown", ID)),
        (f"/system.slice/runtime-{ID}.scope", CgroupRef("unknown", ID)),
        # a nested container wins over its outer one, whatever the layout
        (f"/system.slice/docker-{ID}.scope/machine.slice/libpod-{ID2}.scope",
         CgroupRef("podman", ID2)),
        # a conmon nested inside a container belongs to the outer container
        (f"/machine.slice/libpod-{ID}.scope/libpod-conmon-{ID2}.scope", CgroupRef("podman", ID)),
    ],
)
def test_parse_container_paths(path: str, expected: CgroupRef) -> None:
    assert parse_cgroup_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/init.scope",
        "/user.slice/user-1000.slice/session-3.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
        "/system.slice/cron.service",
        "/system.slice/docker.service",
        "/system.slice/containerd.service",
        "/docker",
        "/kubepods",
        "/kubepods/burstable",
        f"/kubepods/burstable/pod{POD}",
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice",
        # monitors
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/"
        f"crio-conmon-{ID}.scope",
        f"/kubepods/burstable/pod{POD}/crio-conmon-{ID}",
        f"/machine.slice/libpod-conmon-{ID}.scope",
        f"/libpod_parent/libpod-conmon-{ID}",
        # ids that are not 64 lowercase hex digits
        f"/docker/{ID[:63]}",
        f"/docker/{ID}0",
        f"/docker/{ID.upper()}",
        f"/docker/{ID[:63]}g",
        f"/system.slice/docker-{ID[:63]}.scope",
        f"/kubepods/burstable/pod{POD}/{ID[:63]}",
        "/process_api/d0f93791ac83ee3a86ace9a0472466e8",
    ],
)
def test_parse_non_container_paths(path: str) -> None:
    assert parse_cgroup_path(path) is None


def test_pod_uid_only_for_the_container_directly_in_the_pod() -> None:
    # a docker daemon running inside a pod's container: the inner container
    # is not the pod's container, so no pod uid is claimed for it
    path = f"/kubepods/burstable/pod{POD}/{ID}/docker/{ID2}"
    assert parse_cgroup_path(path) == CgroupRef("docker", ID2)


def test_pod_dir_outside_kubepods_is_not_a_pod() -> None:
    assert parse_cgroup_path(f"/something/pod{POD}/{ID}") == CgroupRef("unknown", ID)


# /proc/<pid>/cgroup as the kernel prints it: hierarchies in descending id order

V2_HOST = f"0::/system.slice/docker-{ID}.scope\n"

V1_HOST = f"""\
12:pids:/docker/{ID}
11:hugetlb:/docker/{ID}
10:net_cls,net_prio:/docker/{ID}
9:perf_event:/docker/{ID}
8:memory:/docker/{ID}
7:devices:/docker/{ID}
6:cpuset:/docker/{ID}
5:freezer:/docker/{ID}
4:blkio:/docker/{ID}
3:rdma:/
2:cpu,cpuacct:/docker/{ID}
1:name=systemd:/docker/{ID}
"""

HYBRID_HOST = f"""\
9:name=systemd:/kubepods/burstable/pod{POD}/{ID}
8:pids:/kubepods/burstable/pod{POD}/{ID}
7:blkio:/kubepods/burstable/pod{POD}/{ID}
6:freezer:/kubepods/burstable/pod{POD}/{ID}
5:devices:/kubepods/burstable/pod{POD}/{ID}
4:memory:/kubepods/burstable/pod{POD}/{ID}
3:cpuset:/kubepods/burstable/pod{POD}/{ID}
2:cpuacct:/kubepods/burstable/pod{POD}/{ID}
1:cpu:/kubepods/burstable/pod{POD}/{ID}
0::/kubepods/burstable/pod{POD}/{ID}
"""

# hybrid host where the container runtime did not move the task in the v2 tree
HYBRID_V1_ONLY = f"""\
9:name=systemd:/docker/{ID}
4:memory:/docker/{ID}
1:cpu:/docker/{ID}
0::/system.slice/containerd.service
"""

HOST_PROCESS_HYBRID = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/d0f93791ac83ee3a86ace9a0472466e8
1:cpu:/
0::/
"""


def test_proc_cgroup_v2_only() -> None:
    assert parse_proc_cgroup(V2_HOST) == CgroupRef("docker", ID)


def test_proc_cgroup_v1_only() -> None:
    assert parse_proc_cgroup(V1_HOST) == CgroupRef("docker", ID)


def test_proc_cgroup_hybrid() -> None:
    assert parse_proc_cgroup(HYBRID_HOST) == CgroupRef("containerd", ID, POD)


def test_proc_cgroup_hybrid_falls_back_to_v1() -> None:
    assert parse_proc_cgroup(HYBRID_V1_ONLY) == CgroupRef("docker", ID)


def test_proc_cgroup_host_process() -> None:
    assert parse_proc_cgroup(HOST_PROCESS_HYBRID) is None
    assert parse_proc_cgroup("0::/init.scope\n") is None
    assert parse_proc_cgroup("") is None
    assert parse_proc_cgroup("garbage\n\n0:\n") is None


def test_proc_cgroup_prefer_v1() -> None:
    text = f"1:name=systemd:/docker/{ID2}\n0::/system.slice/docker-{ID}.scope\n"
    assert parse_proc_cgroup(text) == CgroupRef("docker", ID)
    assert parse_proc_cgroup(text, prefer_v2=False) == CgroupRef("docker", ID2)


def test_proc_cgroup_deleted_suffix() -> None:
    # zombie tasks whose v2 cgroup was removed
    assert parse_proc_cgroup(f"0::/docker/{ID} (deleted)\n") == CgroupRef("docker", ID)


def test_proc_cgroup_path_with_colon() -> None:
    text = f"0::/system.slice/containerd.service/kubepods-pod{POD_}.slice:cri-containerd:{ID}\n"
    assert parse_proc_cgroup(text) == CgroupRef("unknown", ID)


def test_read_proc_cgroup(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(HYBRID_HOST)
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "cgroup").write_text("0::/init.scope\n")
    assert read_proc_cgroup(4242, proc_root=tmp_path) == CgroupRef("containerd", ID, POD)
    assert read_proc_cgroup(1, proc_root=tmp_path) is None
    assert read_proc_cgroup(777, proc_root=tmp_path) is None  # exited


@pytest.mark.parametrize("path, expected", [
    ("/default/my-app.1", CgroupRef("containerd", "my-app.1")),
    ("/default/My_App-2/sub", CgroupRef("containerd", "My_App-2")),        # its own sub-cgroup: still it
    ("/default/" + "a" * 64, CgroupRef("containerd", "a" * 64)),
    ("/default/" + "x" * 65, None),                                         # longer than the kernel's key
    ("/default/..", None), ("/default/-x", None), ("/default/a..b", None),  # not containerd identifiers
    ("/other/my-app", None),                                                # not a namespace found
    ("/system.slice/default/my-app", None),                                 # not /<namespace>/<id>
])
def test_ctr_containers_under_known_namespaces(path: str, expected: CgroupRef | None) -> None:
    assert parse_cgroup_path(path, containerd_namespaces={"default"}) == expected


def test_without_namespaces_ctr_paths_are_the_hosts() -> None:
    assert parse_cgroup_path("/default/my-app.1") is None
