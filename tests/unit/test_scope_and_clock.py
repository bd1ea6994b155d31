"""Command-line scope → filter knobs (eunomia.pipeline.scope) and kernel time → wall time
(eunomia.pipeline.clock)."""

from __future__ import annotations

import pytest

from eunomia.pipeline.clock import BootClock, rfc3339
from eunomia.pipeline.scope import VERDICT_DROP, VERDICT_KEEP, Scope, UnknownContainerError


@pytest.mark.parametrize(("scope", "knobs"), [
    (Scope(), {"filter_by_container": True, "filter_keep_host": False}),           # containers only
    (Scope(host=True), {"filter_by_container": False, "filter_keep_host": True}),   # everything
    (Scope(containers=("web",)), {"filter_by_container": True, "filter_keep_host": False}),
    (Scope(containers=("web",), host=True), {"filter_by_container": True, "filter_keep_host": True}),
])
def test_knobs(scope, knobs):
    assert scope.knobs() == knobs
    assert scope.filter_by_container is knobs["filter_by_container"]


def test_all_containers_only_without_selectors():
    assert Scope().all_containers is True
    assert Scope(host=True).all_containers is True
    assert Scope(containers=("web", "db")).all_containers is False


def test_verdict_values_match_the_kernel_enum():
    assert (VERDICT_DROP, VERDICT_KEEP) == (1, 2)  # enum eun_verdict in types.h


def test_verdict_all_containers_keeps_every_one():
    assert Scope().verdict("aaa", set()) == VERDICT_KEEP
    assert Scope(host=True).verdict("bbb", {"ccc"}) == VERDICT_KEEP


def test_verdict_selected_only():
    scope = Scope(containers=("web",))
    assert scope.verdict("id-web", {"id-web"}) == VERDICT_KEEP
    assert scope.verdict("id-db", {"id-web"}) == VERDICT_DROP
    assert scope.verdict("id-web", set()) == VERDICT_DROP


def test_unknown_container_message_lists_running_names():
    err = UnknownContainerError("wbe", ["web", "db", "api"])
    assert str(err) == "no container named or with id 'wbe' (running: api, db, web); check 'docker ps'"
    assert err.selector == "wbe"
    assert isinstance(err, LookupError)


def test_unknown_container_message_without_containers():
    assert str(UnknownContainerError("web", [])) == (
        "no container named or with id 'web' (no containers are running); check 'docker ps'")


def test_unknown_container_message_lists_at_most_eight():
    names = [f"c{i:02d}" for i in range(12)]
    text = str(UnknownContainerError("x", names))
    assert "c07" in text and "c08" not in text


@pytest.mark.parametrize(("wall_ns", "expected"), [
    (0, "1970-01-01T00:00:00.000000Z"),
    (999, "1970-01-01T00:00:00.000000Z"),                     # below a microsecond
    (1_999_999, "1970-01-01T00:00:00.001999Z"),               # rounded down, not up
    (999_999_999, "1970-01-01T00:00:00.999999Z"),             # never becomes the next second
    (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456Z"),
    (951_782_400_000_000_000, "2000-02-29T00:00:00.000000Z"),  # leap day
])
def test_rfc3339(wall_ns, expected):
    assert rfc3339(wall_ns) == expected


def test_boot_clock_maps_ktime_to_wall_time():
    clock = BootClock(realtime_ns=1_700_000_000_000_000_000, monotonic_ns=5_000_000_000)
    assert clock.offset_ns == 1_700_000_000_000_000_000 - 5_000_000_000
    assert clock.wall_ns(5_000_000_000) == 1_700_000_000_000_000_000
    assert clock.rfc3339(6_500_000_000) == "2023-11-14T22:13:21.500000Z"
    assert clock.rfc3339(4_000_000_001) == "2023-11-14T22:13:19.000000Z"  # before the clock was read


def test_boot_clock_defaults_to_now():
    import time

    clock = BootClock()
    now_mono, now_real = time.monotonic_ns(), time.time_ns()
    assert abs(clock.wall_ns(now_mono) - now_real) < 5_000_000_000


def test_rfc3339_alternating_seconds():
    # the formatted second is cached: going back and forth must not reuse a stale one
    a, b = 1_700_000_000_000_000_000, 1_700_000_061_000_000_000
    assert [rfc3339(a + 1000), rfc3339(b), rfc3339(a + 2000), rfc3339(b + 5000)] == [
        "2023-11-14T22:13:20.000001Z", "2023-11-14T22:14:21.000000Z",
        "2023-11-14T22:13:20.000002Z", "2023-11-14T22:14:21.000005Z"]
