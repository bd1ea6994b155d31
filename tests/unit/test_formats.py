"""Presentation of raw fields by typedef (eunomia.pipeline.formats)."""

from __future__ import annotations

import signal

import pytest

from eunomia.pipeline.formats import (
    BY_TYPEDEF,
    duration_ms,
    errno_name,
    format_result,
    signal_name,
    wait_status,
)


@pytest.mark.parametrize(("status", "expected"), [
    (0, {"exit_code": 0}),
    (3 << 8, {"exit_code": 3}),
    (255 << 8, {"exit_code": 255}),
    (9, {"exit_code": 137, "exit_signal": "SIGKILL"}),             # kill -9
    (15, {"exit_code": 143, "exit_signal": "SIGTERM"}),
    (11 | 0x80, {"exit_code": 139, "exit_signal": "SIGSEGV"}),     # core dumped
    (2, {"exit_code": 130, "exit_signal": "SIGINT"}),
])
def test_wait_status(status, expected):
    assert wait_status(status) == expected


def test_exit_code_with_signal_key_absent_on_normal_exit():
    assert "exit_signal" not in wait_status(1 << 8)


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0),
    (7, 7),              # a success value is kept as is
    (-2, "ENOENT"),
    (-13, "EACCES"),
    (-8, "ENOEXEC"),
    (-1, "EPERM"),
    (-9999, "E9999"),    # no such errno: still readable
])
def test_format_result(value, expected):
    assert format_result(value) == expected


def test_errno_name_accepts_either_sign():
    assert errno_name(2) == errno_name(-2) == "ENOENT"


@pytest.mark.parametrize(("number", "expected"), [
    (9, "SIGKILL"),
    (15, "SIGTERM"),
    (2, "SIGINT"),
    (0, "SIG0"),
    (200, "SIG200"),
])
def test_signal_name(number, expected):
    assert signal_name(number) == expected


def test_realtime_signals():
    rtmin, rtmax = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    assert signal_name(rtmin) == "SIGRTMIN"
    assert signal_name(rtmin + 1) == "SIGRTMIN+1"
    assert signal_name(rtmin + 5) == "SIGRTMIN+5"
    assert signal_name(rtmax) == "SIGRTMAX"


@pytest.mark.parametrize(("ns", "expected"), [
    (0, 0.0),
    (1_500_000, 1.5),
    (1, 0.0),
    (123_456_789, 123.457),
    (3_600_000_000_000, 3_600_000.0),
])
def test_duration_ms(ns, expected):
    assert duration_ms(ns) == expected


def test_formatters_by_typedef():
    assert BY_TYPEDEF["eun_errno"](-2) == "ENOENT"
    assert BY_TYPEDEF["eun_signal"](9) == "SIGKILL"
    assert BY_TYPEDEF["eun_duration"](2_000_000) == 2.0
    assert "eun_pid" not in BY_TYPEDEF  # plain numbers stay numbers
