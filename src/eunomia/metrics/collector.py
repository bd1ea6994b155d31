"""The agent's metrics, read at scrape time (a prometheus_client Collector).

Nothing is counted per event for a scrape: the kernel's maps (bytes per
file, syscalls, tracker counters) are read when Prometheus asks, and the
streamed events' counts (activity.py) are copied then.  The read happens
under the runner's lock, so a scrape sees the pipeline between two polls.

Series per container carry `container` (its name, or the short id while
no runtime named it), `container_id` (12 hex, `host` for the host) and
`image`.  docs/metrics.md lists every metric.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..bpf.maps import HASH_TYPES
from .activity import Activity, ContainerActivity

CONTAINER_LABELS = ("container", "container_id", "image")
# activity key → (metric name without _total, help, extra label names)
ACTIVITY_METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "process_starts": ("eunomia_process_starts", "Programs started (successful execs) in the container.", ()),
    "exec_failures": ("eunomia_exec_failures", "Execs that failed in the container.", ()),
    "shell_starts": ("eunomia_shell_starts", "Shells started in the container (also counted as process starts), "
                     "by the shell's name.", ("shell",)),
    "file_open_failures": ("eunomia_file_open_failures", "Opens that failed, by access (write: for writing "
                           "or creating).", ("access",)),
    "tcp_connections": ("eunomia_tcp_connections",
                        "Outbound TCP connections established, by peer container (\"\": not a container "
                        "on this host).", ("peer",)),
    "tcp_connect_failures": ("eunomia_tcp_connect_failures", "Outbound TCP connects that failed, by peer.",
                             ("peer",)),
    "capability_checks": ("eunomia_capability_checks", "Capability checks, by capability and outcome.",
                          ("capability", "granted")),
    "signals_sent": ("eunomia_signals_sent", "Signals sent by the container's processes, by signal.",
                     ("signal",)),
}


def container_labels(container_id: str, name: str | None, image: str | None) -> list[str]:
    short = container_id[:12]
    return [name or short, short, image or ""]


class PipelineState:
    """What a scrape reads, each a callable bound to the live pipeline."""

    def __init__(self, summary: Callable[[], dict[str, Any]], aggregates: Callable[[], list[dict[str, Any]]],
                 ring_fill: Callable[[], dict[str, float]], activity: Activity,
                 lock: Any, extra: Callable[[], Iterator[Metric]] | None = None,
                 maps: Callable[[], list[tuple[str, Any]]] | None = None) -> None:
        self.summary, self.aggregates, self.ring_fill = summary, aggregates, ring_fill
        self.activity, self.lock, self.extra, self.maps = activity, lock, extra, maps


class EunomiaCollector(Collector):
    def __init__(self, state: PipelineState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        with state.lock:
            aggregates = _current(state.aggregates(), state.activity)
            activity = state.activity.snapshot()
            summary = state.summary()
            fill = state.ring_fill()
            maps = _map_fill(state.maps()) if state.maps is not None else None
        yield from _activity_metrics(activity)
        yield from _kernel_metrics(aggregates)
        yield from _health_metrics(summary, fill, len(activity))
        if maps is not None:
            yield maps
        if state.extra is not None:
            yield from state.extra()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked at registration: the families depend on the trackers loaded


def _current(aggregates: list[dict[str, Any]], activity: Activity) -> list[dict[str, Any]]:
    """The kernel's records of containers that still have series; a
    container seen only there is registered, so it leaves when it exits."""
    kept = []
    for record in aggregates:
        container = record.get("container") or {}
        container_id = container.get("id") or ""
        if activity.is_forgotten(container_id):
            continue
        activity.touch(container_id, container.get("name"), container.get("image"))
        kept.append(record)
    return kept


def _activity_metrics(activity: dict[str, ContainerActivity]) -> Iterator[Metric]:
    families = {key: CounterMetricFamily(name, text, labels=[*CONTAINER_LABELS, *extra])
                for key, (name, text, extra) in ACTIVITY_METRICS.items()}
    for container_id, entry in sorted(activity.items()):
        labels = container_labels(container_id, entry.name, entry.image)
        for key, count in entry.counts.items():
            family = families.get(key[0])
            if family is not None:  # (opens: the kernel counts every one, below)
                family.add_metric([*labels, *key[1:]], count)
    yield from families.values()


# file_bytes counter → (metric name without _total, help): the kernel's counts of regular files
FILE_METRICS = {
    "opens": ("eunomia_file_opens", "Successful opens of regular files, repeated ones included (kernel counts)."),
    "reads": ("eunomia_file_reads", "Read calls on regular files (kernel counts)."),
    "writes": ("eunomia_file_writes", "Write calls on regular files (kernel counts)."),
    "bytes_read": ("eunomia_file_read_bytes", "Bytes read from regular files (kernel counts)."),
    "bytes_written": ("eunomia_file_written_bytes", "Bytes written to regular files (kernel counts)."),
}


def _kernel_metrics(aggregates: list[dict[str, Any]]) -> Iterator[Metric]:
    """Per container, from the trackers' kernel maps: files, syscalls."""
    files = {key: CounterMetricFamily(name, text, labels=list(CONTAINER_LABELS))
             for key, (name, text) in FILE_METRICS.items()}
    syscalls = CounterMetricFamily("eunomia_syscalls", "System calls of the container's workload, by name "
                                   "(syscall tracker).", labels=[*CONTAINER_LABELS, "syscall"])
    totals: dict[tuple[str, ...], dict[str, int]] = {}
    for record in aggregates:
        container = record.get("container") or {}
        labels = tuple(container_labels(container.get("id") or "", container.get("name"), container.get("image")))
        if record["type"] == "file_bytes":
            total = totals.setdefault(labels, dict.fromkeys(FILE_METRICS, 0))
            for key in FILE_METRICS:
                total[key] += record[key]
        elif record["type"] == "syscalls":
            for name, count in record["syscalls"].items():
                syscalls.add_metric([*labels, name], count)
    for labels, total in sorted(totals.items()):
        for key, family in files.items():
            family.add_metric(list(labels), total[key])
    yield from files.values()
    yield syscalls


def _map_fill(maps: list[tuple[str, Any]]) -> Metric:
    """How full each hash map is: a full one refuses new entries (counted as map_full per tracker)."""
    fill = GaugeMetricFamily("eunomia_map_fill_ratio", "Share of a kernel hash map's entries in use.",
                             labels=["tracker", "map"])
    for tracker, bpf_map in maps:
        if bpf_map.type in HASH_TYPES and bpf_map.max_entries:
            fill.add_metric([tracker, bpf_map.name], bpf_map.count() / bpf_map.max_entries)
    return fill


def _health_metrics(summary: dict[str, Any], fill: dict[str, float], containers: int) -> Iterator[Metric]:
    received = CounterMetricFamily("eunomia_events_received", "Records read from a tracker's ring buffer.",
                                   labels=["tracker"])
    lost = CounterMetricFamily("eunomia_events_lost", "Events the kernel could not hand over: the ring buffer "
                               "was full.", labels=["tracker"])
    for tracker, stats in sorted(summary["trackers"].items()):
        received.add_metric([tracker], sum(stats.get("received", {}).values()))
        lost.add_metric([tracker], stats.get("lost", 0))
    ring = GaugeMetricFamily("eunomia_ring_buffer_fill_ratio", "Share of a tracker's ring buffer not read yet.",
                             labels=["tracker"])
    for tracker, share in sorted(fill.items()):
        if tracker != "cgroup":
            ring.add_metric([tracker], share)
    undecodable = CounterMetricFamily("eunomia_records_undecodable", "Records of a type this version cannot decode.")
    undecodable.add_metric([], summary.get("undecodable", 0))
    watched = GaugeMetricFamily("eunomia_containers", "Containers with series (exited ones leave after a grace).")
    watched.add_metric([], containers)
    info = InfoMetricFamily("eunomia_build", "The agent's version.")
    info.add_metric([], {"version": __version__})
    yield from (received, lost, ring, undecodable, watched, info)


def sink_metrics(sinks: list[Any]) -> Iterator[Metric]:
    """What each sink delivered and could not (`name`, `undelivered`, and `delivered` when it counts)."""
    undelivered = CounterMetricFamily("eunomia_sink_undelivered", "Events a sink could not deliver (down, slow, "
                                      "refused, full queue).", labels=["sink"])
    delivered = CounterMetricFamily("eunomia_sink_delivered", "Events a network sink delivered.", labels=["sink"])
    queued = GaugeMetricFamily("eunomia_sink_queued", "Events waiting in a network sink's queue.", labels=["sink"])
    for n, sink in enumerate(sinks):
        label = f"{getattr(sink, 'name', 'sink')}-{n}"
        # given up for good (a counter only grows); what is queued is a gauge beside it
        undelivered.add_metric([label], getattr(sink, "given_up", getattr(sink, "undelivered", 0)))
        if hasattr(sink, "delivered"):
            delivered.add_metric([label], sink.delivered)
            queued.add_metric([label], getattr(sink, "queued", 0))
    yield from (undelivered, delivered, queued)


def rule_metrics(alerts: dict[tuple[str, str, str], int], suppressed: dict[str, int]) -> Iterator[Metric]:
    """Alerts by (rule, priority, container), and what each rule's rate limit held back."""
    raised = CounterMetricFamily("eunomia_alerts", "Alerts raised by the rules.",
                                 labels=["rule", "priority", "container"])
    for (rule, priority, container), count in sorted(alerts.items()):
        raised.add_metric([rule, priority, container], count)
    held = CounterMetricFamily("eunomia_alerts_suppressed", "Alerts a rule's rate limit held back (counted, "
                               "not sent).", labels=["rule"])
    for rule, count in sorted(suppressed.items()):
        held.add_metric([rule], count)
    yield from (raised, held)
