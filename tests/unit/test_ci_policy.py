"""Under CI=true a skip is a failure (tests/conftest.py), unless marked skip_ok_in_ci."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

POLICY = Path(__file__).resolve().parents[1] / "conftest.py"

SAMPLE = '''
import pytest

def test_needs_a_missing_tool():
    pytest.skip("no frobnicator on this machine")

@pytest.mark.skip_ok_in_ci(reason="about the machine's kind")
def test_machine_kind():
    pytest.skip("no cgroup v1 here")

@pytest.mark.xfail(reason="known")
def test_known_failure():
    assert False

def test_plain():
    assert True
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(POLICY, tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_a_skip_fails_under_ci(tmp_path):
    result = _run(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in result.stdout
    assert "skipped under CI=true, which counts as a failure: no frobnicator on this machine" in result.stdout


def test_a_skip_is_a_skip_outside_ci(tmp_path):
    result = _run(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout
