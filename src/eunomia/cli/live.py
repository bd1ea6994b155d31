"""`eunomia run` on a terminal: per container, what it did so far, refreshed each second."""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..metrics.activity import Activity, ContainerActivity
from ..sinks.escape import escape_text

# programs started, execs that failed, files opened to write / to read,
# TCP connections made / failed, signals sent, rule alerts
COLUMNS = ("container", "image", "execs", "failed", "writes", "reads", "tcp", "tcp failed", "signals", "alerts")


def _row(container_id: str, entry: ContainerActivity) -> list[str]:
    counts = entry.counts

    def total(kind: str) -> int:
        return sum(n for key, n in counts.items() if key[0] == kind)

    return [escape_text(entry.name or container_id[:12]), escape_text(entry.image or ""),
            str(total("process_starts")), str(total("exec_failures")),
            str(counts.get(("file_opens", "write"), 0)), str(counts.get(("file_opens", "read"), 0)),
            str(total("tcp_connections")), str(total("tcp_connect_failures")), str(total("signals_sent")),
            str(counts.get(("alerts",), 0))]


def activity_table(activity: Activity, title: str) -> Table:
    table = Table(title=Text(title), title_justify="left", expand=False)  # Text: no Rich markup in names
    for column in COLUMNS:
        if column in ("container", "image"):
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for container_id, entry in sorted(activity.snapshot().items(), key=lambda item: item[1].name or item[0]):
        table.add_row(*(Text(cell) for cell in _row(container_id, entry)))
    return table


class LiveView:
    def __init__(self, activity: Activity, out: IO[str], title: str) -> None:
        self.activity, self.title = activity, title
        self.console = Console(file=out)
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> "LiveView":
        self._live.start()
        self.refresh()
        return self

    def refresh(self, status: str = "") -> None:
        self._live.update(activity_table(self.activity, self.title + status), refresh=True)

    def print(self, renderable: Any) -> None:
        self._live.console.print(renderable)

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self._live.stop()
