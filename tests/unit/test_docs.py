"""The README is true to the code: its code layout names every package under
src/eunomia (and nothing that is gone), and every command of the CLI appears."""

from __future__ import annotations

import re
from pathlib import Path

from typing import Any

import typer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PACKAGE = ROOT / "src" / "eunomia"


def packages() -> set[str]:
    """Every directory of Python modules under src/eunomia (namespace packages
    such as eunomia.bpf included), as `src/eunomia/<path>/`."""
    found = set()
    for module in PACKAGE.rglob("*.py"):
        folder = module.parent
        if folder != PACKAGE and "__pycache__" not in folder.parts:
            found.add(f"{folder.relative_to(ROOT).as_posix()}/")
    return found


def layout_block(text: str) -> dict[str, str]:
    """The README's code layout: path → its one-line role."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    block = max(blocks, key=lambda b: sum(line.startswith("src/eunomia/") for line in b.splitlines()))
    entries = {}
    for line in block.splitlines():
        if line.startswith("src/eunomia/"):
            path, _, role = line.partition(" ")
            entries[path] = role.strip()
    return entries


def commands(group: Any, prefix: str = "") -> list[str]:
    """Names of a command group's commands, subcommands as "advise seccomp"."""
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if getattr(command, "hidden", False):
            continue
        found.append(prefix + name)
        found.extend(commands(command, f"{prefix}{name} "))
    return found


def test_layout_lists_every_package_with_its_role():
    entries = layout_block(README.read_text())
    missing = sorted(packages() - set(entries))
    assert not missing, f"packages missing from the README's code layout: {missing}"
    assert all(entries.values()), [path for path, role in entries.items() if not role]


def test_layout_names_only_folders_that_exist():
    stale = [path for path in layout_block(README.read_text()) if not (ROOT / path).is_dir()]
    assert not stale, f"the README's code layout names folders that do not exist: {stale}"


def test_readme_shows_every_cli_command():
    from eunomia.cli import app

    text = README.read_text()
    names = commands(typer.main.get_command(app))  # what `eunomia --help` lists, and subcommands
    assert {"doctor", "trace", "record", "report", "advise"} <= set(names)
    missing = [name for name in names if f"eunomia {name}" not in text]
    assert not missing, f"commands missing from the README: {missing}"


def test_readme_points_to_the_architecture_in_the_repository():
    text = README.read_text()
    assert "../shared" not in text
    assert "(docs/architecture.md)" in text and (ROOT / "docs" / "architecture.md").is_file()


def test_package_discovery_sees_namespace_packages():
    found = packages()
    assert "src/eunomia/bpf/" in found            # no __init__.py, still a package
    assert "src/eunomia/trackers/exec/" in found
    assert "src/eunomia/bpf/include/" not in found  # C headers only
