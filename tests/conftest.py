"""Project-wide test policy: under CI=true a skip is a failure.

A test skipped because something is missing (not root, no chromium or
playwright, no C compiler, no Docker socket) proves nothing, and a CI run
that is green only because the tests it needed were skipped hides exactly
the fresh-machine gaps CI exists to find.  So in CI every skip fails,
unless the test says the skip is about the machine's kind, not a missing
set-up step: `@pytest.mark.skip_ok_in_ci(reason=...)`.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "skip_ok_in_ci(reason): a skip of this test is about the machine (e.g. no cgroup v1), "
        "not a missing dependency, so it stays a skip under CI=true")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not IN_CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    if item.get_closest_marker("skip_ok_in_ci") is not None:
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true, which counts as a failure: {_skip_reason(report)} "
                       "(make the project's set-up provide it: scripts/install-deps.sh, .ci/run)")
