"""CSV: one row per event with the common columns; formulas neutralised."""

from __future__ import annotations

import csv
import io
from typing import IO, Any

from . import Event
from .escape import csv_cell
from .table import summary_line

COLUMNS = [
    "time", "type", "container.id", "container.name", "container.image", "container.runtime",
    "process.pid", "process.parent.pid", "process.name", "process.executable", "process.args",
    "process.working_directory", "user.id", "result", "process.exit_code", "process.duration_ms",
]


def _get(event: Event, dotted: str) -> Any:
    node: Any = event
    for key in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, list):
        return " ".join(str(a) for a in node)
    return node


class CsvSink:
    def __init__(self, out: IO[bytes], stderr: IO[str] | None = None) -> None:
        self.out = out
        self.stderr = stderr
        self._text = io.StringIO()
        self._writer = csv.writer(self._text)
        self._writer.writerow(COLUMNS)

    def write(self, event: Event) -> None:
        self._writer.writerow([csv_cell(_get(event, c)) for c in COLUMNS])
        if self._text.tell() > 1 << 16:
            self.flush()

    def flush(self) -> None:
        self.out.write(self._text.getvalue().encode("utf-8", "backslashreplace"))
        self._text.seek(0)
        self._text.truncate()
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self.flush()
        if self.stderr is not None:
            self.stderr.write(summary_line(summary) + "\n")
