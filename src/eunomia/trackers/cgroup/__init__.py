"""cgroup: container cgroups appearing and going; gives the filter its verdicts."""

from eunomia.trackers import TrackerDef

TRACKER = TrackerDef(
    name="cgroup",
    summary="container cgroup creation and removal (feeds the container filter)",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop"),
    ringbuf_bytes=256 << 10,
    internal=True,
)
