"""Where the workplace's reference data is (../shared/reference: Falco's stable rules).

Read, never copied into the project.  A clone elsewhere finds it through
EUNOMIA_REFERENCE, next to the clone, or at the workplace's own path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def reference_file(name: str) -> Path:
    candidates = [Path(os.environ["EUNOMIA_REFERENCE"]) / name] if os.environ.get("EUNOMIA_REFERENCE") else []
    candidates += [ROOT.parent / "shared" / "reference" / name, Path("/work/shared/reference") / name]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip(f"reference data {name} not found (set EUNOMIA_REFERENCE to the folder holding it)")
