"""The files under deploy/: Grafana dashboards and their PromQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
# what Grafana substitutes before it sends a query, as a test sets it
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s"}


def dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panel_queries(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def variable_queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(variable name, the PromQL inside its label_values(QUERY, label))."""
    for variable in board["templating"]["list"]:
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"])
        assert m, variable
        yield variable["name"], m.group(1)


def substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in {**GRAFANA_VARIABLES, **{f"${k}": v for k, v in values.items()}}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable left in {expr}"
    return expr
