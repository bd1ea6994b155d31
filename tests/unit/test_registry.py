"""cgroup id → container (eunomia.context.registry), with a fake resolver and clock."""

from __future__ import annotations

import pytest

from eunomia.context.model import HOST, HOST_CONTAINER, CgroupRef, Container, container_fields
from eunomia.context.registry import ADDRESS_GRACE_SECONDS, RETRY_SECONDS, ContainerRegistry

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
DB = "c0ffee00" * 8
LATE = "ab" * 32


class FakeResolver:
    """Knows the containers in ``known``; counts what it was asked."""

    def __init__(self, known: dict[str, tuple[str, str]]) -> None:
        self.known = dict(known)
        self.calls: list[CgroupRef] = []

    def resolve(self, ref: CgroupRef) -> Container | None:
        self.calls.append(ref)
        if ref.container_id not in self.known:
            return None
        name, image = self.known[ref.container_id]
        return Container(id=ref.container_id, runtime="docker", name=name, image=image)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({WEB: ("web", "nginx:1.27"), DB: ("db", "postgres:16")})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(resolver, clock) -> ContainerRegistry:
    return ContainerRegistry([resolver], clock=clock)


def test_docker_cgroup_becomes_a_container(registry, resolver):
    c = registry.add_cgroup(101, f"/system.slice/docker-{WEB}.scope")
    assert (c.id, c.runtime, c.name, c.image) == (WEB, "docker", "web", "nginx:1.27")
    assert c.cgroup_path == f"/system.slice/docker-{WEB}.scope"
    assert c.display_name == "web"
    assert registry.container_of(101) is c
    assert registry.is_container_cgroup(101)
    assert resolver.calls == [CgroupRef("docker", WEB)]


def test_host_cgroup_is_not_a_container(registry, resolver):
    assert registry.add_cgroup(7, "/system.slice/cron.service") is None
    assert registry.add_cgroup(8, "/") is None
    assert not registry.is_container_cgroup(7)
    host = registry.container_of(7)
    assert host is HOST_CONTAINER
    assert (host.id, host.display_name, host.name) == (HOST, "host", None)
    assert host.id == "host"
    assert registry.containers() == []
    assert resolver.calls == []


def test_unseen_cgroup_is_the_host(registry):
    assert registry.container_of(123456).id == "host"


def test_sub_cgroups_map_to_the_same_container(registry, resolver):
    top = registry.add_cgroup(201, f"/docker/{WEB}")
    init = registry.add_cgroup(202, f"/docker/{WEB}/init.scope")
    assert init is top
    assert registry.container_of(202) is registry.container_of(201)
    assert sorted(registry.cgroups_of(WEB)) == [201, 202]
    assert len(registry.containers()) == 1
    assert len(resolver.calls) == 1  # metadata asked once per container


@pytest.fixture
def populated(registry):
    registry.add_cgroup(1, f"/docker/{WEB}")
    registry.add_cgroup(2, f"/docker/{DB}")
    return registry


def test_find_by_name_id_and_prefix(populated):
    web = populated.container_of(1)
    db = populated.container_of(2)
    assert populated.find("web") == [web]
    assert populated.find("db") == [db]
    assert populated.find(WEB) == [web]
    assert populated.find(WEB.upper()) == [web]       # ids are hex: case does not matter
    assert populated.find("3f4e1c2a9b8d") == [web]   # docker ps short id
    assert populated.find("3f4") == [web]
    assert populated.find("c0ffee") == [db]


@pytest.mark.parametrize("selector", ["3f", "c0", "", "nosuch", "WEB", "3f4e-", "zzz", "3f4e1c2a9b8d" + "0" * 52])
def test_find_no_match(populated, selector):
    assert populated.find(selector) == []


def test_find_name_wins_over_id_prefix(registry, resolver):
    resolver.known[DB] = ("abc", "img")          # a container named like a hex prefix
    registry.add_cgroup(1, f"/docker/{DB}")
    registry.add_cgroup(2, f"/docker/{'abc' + '0' * 61}")
    assert [c.id for c in registry.find("abc")] == [DB]


def test_unknown_container_is_retried_only_after_retry_seconds(registry, resolver, clock):
    c = registry.add_cgroup(301, f"/docker/{LATE}")
    assert (c.id, c.name, c.display_name) == (LATE, None, LATE[:12])
    assert len(resolver.calls) == 1

    resolver.known[LATE] = ("late", "busybox")   # the runtime learns it
    clock.now += RETRY_SECONDS / 2
    assert registry.container_of(301).name is None
    assert len(resolver.calls) == 1              # too early: not asked again

    clock.now += RETRY_SECONDS / 2
    assert registry.container_of(301).name == "late"
    assert registry.container_of(301).image == "busybox"
    assert len(resolver.calls) == 2

    clock.now += 10 * RETRY_SECONDS
    registry.container_of(301)
    assert len(resolver.calls) == 2              # known now: never asked again


def test_still_unknown_waits_again(registry, resolver, clock):
    registry.add_cgroup(301, f"/docker/{LATE}")
    clock.now += RETRY_SECONDS
    assert registry.container_of(301).name is None
    assert len(resolver.calls) == 2
    clock.now += RETRY_SECONDS - 0.5
    registry.container_of(301)
    assert len(resolver.calls) == 2


def test_first_resolver_that_knows_wins(clock):
    empty = FakeResolver({})
    second = FakeResolver({WEB: ("web", "nginx")})
    third = FakeResolver({WEB: ("other", "other")})
    registry = ContainerRegistry([empty, second, third], clock=clock)
    assert registry.add_cgroup(1, f"/docker/{WEB}").name == "web"
    assert (len(empty.calls), len(second.calls), len(third.calls)) == (1, 1, 0)


def test_add_container_then_cgroup(registry, resolver):
    listed = registry.add_container(Container(id=LATE, runtime="docker", name="listed", image="alpine"))
    assert registry.find("listed") == [listed]
    assert registry.add_cgroup(5, f"/docker/{LATE}") is listed
    assert registry.container_of(5).image == "alpine"


def test_an_address_docker_has_not_named_yet_is_named_by_its_kernel_owner(registry, clock):
    """The kernel's address_owners map (ip → cgroup id of the task that used it
    as its own address) names a peer before Docker's start event gives the
    container its addresses; a stopped container's old entry names nobody."""
    web = registry.add_cgroup(4242, f"/system.slice/docker-{WEB}.scope")
    owners = {"172.18.0.5": 4242, "172.18.0.9": 777}  # 777: a host cgroup
    registry.add_address_owners(owners.get)
    assert registry.by_ip("172.18.0.5") is web
    assert registry.by_ip("172.18.0.9") is None
    assert registry.by_ip("10.9.9.9") is None
    registry.forget_addresses(WEB)  # Docker's die event: the address goes back to the pool
    # its connections' last events may still be on their way (read in batches)
    assert registry.by_ip("172.18.0.5") is web
    clock.now += ADDRESS_GRACE_SECONDS
    assert registry.by_ip("172.18.0.5") is None


def test_docker_addresses_win_over_the_kernel_map(registry):
    web = registry.add_cgroup(1, f"/docker/{WEB}")
    db = registry.add_cgroup(2, f"/docker/{DB}")
    db.ips = ["172.18.0.5"]          # Docker says: db holds it now
    registry.add_address_owners({"172.18.0.5": 1}.get)   # web held it before
    assert registry.by_ip("172.18.0.5") is db
    assert web is not db


def test_removing_a_containers_own_cgroup_forgets_its_addresses(registry, clock):
    """Without Docker's die event, the cgroup's removal says the container is gone;
    a sub-cgroup's removal does not."""
    web = registry.add_cgroup(10, f"/docker/{WEB}")
    registry.add_cgroup(11, f"/docker/{WEB}/init.scope")
    registry.add_address_owners({"172.18.0.5": 10}.get)
    web.ips = ["172.18.0.5"]
    registry.cgroup_removed(11)
    assert registry.by_ip("172.18.0.5") is web
    registry.cgroup_removed(10)
    assert web.ips == [] and registry.by_ip("172.18.0.5") is web  # for late events, briefly
    clock.now += ADDRESS_GRACE_SECONDS
    assert registry.by_ip("172.18.0.5") is None
    registry.cgroup_removed(999)  # unknown: nothing happens


def test_a_forgotten_container_leaves_every_table(populated, resolver):
    populated.add_cgroup(3, f"/docker/{WEB}/init.scope")
    assert sorted(populated.forget(WEB)) == [1, 3]
    assert [c.id for c in populated.containers()] == [DB]
    assert not populated.is_container_cgroup(1) and not populated.is_container_cgroup(3)
    assert populated.container_of(1).id == HOST and populated.get(WEB) is None
    assert populated.forget(WEB) == []  # twice: nothing left
    # it may come back (a cgroup of that id again): learnt afresh
    assert populated.add_cgroup(4, f"/docker/{WEB}").name == "web"


def test_forgetting_addresses_on_two_threads_while_containers_come_and_go():
    """Docker's die events (its event thread) and cgroup removals (the pump)
    both forget addresses while containers are added and forgotten."""
    import sys
    import threading

    registry = ContainerRegistry([])
    ids = [f"{n:064x}" for n in range(1, 200)]
    failures: list[BaseException] = []
    done = threading.Event()

    def churn() -> None:
        try:
            while not done.is_set():
                for cid in ids:
                    registry.add_container(Container(id=cid, runtime="docker", name=cid[-6:], ips=[f"10.0.{cid[-2:]}"]))
                for cid in ids:
                    registry.forget(cid)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def forgetting() -> None:
        try:
            while not done.is_set():
                for cid in ids:
                    registry.forget_addresses(cid)
                    registry.by_ip(f"10.0.{cid[-2:]}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=churn), threading.Thread(target=forgetting),
                   threading.Thread(target=forgetting)]
        for t in threads:
            t.start()
        threading.Timer(0.5, done.set).start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_the_container_block_is_shared_until_the_container_changes() -> None:
    container = Container(id="c" * 64, runtime="docker")
    block = container_fields(container)
    assert container_fields(container) is block  # one dict for its events
    container.name, container.image = "web", "nginx:1"  # Docker's answer, merged in place
    named = container_fields(container)
    assert named == {"id": "c" * 64, "name": "web", "image": "nginx:1", "runtime": "docker",
                     "pod": None, "namespace": None}
    assert block["name"] is None  # the events already out keep what they said
    container.labels = {"a": "b"}  # not shown: the block stays
    assert container_fields(container) is named


def test_ctr_containers_by_their_case_kept_ids() -> None:
    registry = ContainerRegistry([])
    registry.containerd_namespaces = frozenset({"default"})
    app = registry.add_cgroup(900, "/default/My-App.1")
    assert app is not None and (app.id, app.runtime) == ("My-App.1", "containerd")
    assert registry.find("My-App.1") == [app]
    assert registry.add_cgroup(901, "/elsewhere/My-App.2") is None
