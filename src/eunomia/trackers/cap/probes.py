"""Where the kernel only probes a capability: address ranges for cap.bpf.c.

Some callers ask for a capability with CAP_OPT_NOAUDIT: they only tune
their behaviour on the answer and never fail a call because of it (the
memory overcommit heuristic at every mmap, brk, fork and exec; the
`*_noaudit` helpers).  The cap_capable tracepoint does not carry the
option, so the BPF program looks for these functions on the kernel stack,
by their address ranges in /proc/kallsyms (readable with addresses by
root only; without them probes are not told apart).
"""

from __future__ import annotations

import struct
from pathlib import Path

PROBE_FUNCTIONS = (
    "security_vm_enough_memory_mm",   # the LSM hook of cap_vm_enough_memory()
    "cap_vm_enough_memory",           # when not inlined into it
    "ns_capable_noaudit",
    "has_ns_capability_noaudit",
    "has_capability_noaudit",
    "ptracer_capable",                # may a traced exec gain privileges
)
RANGES = 6  # PROBE_RANGES in cap.bpf.c


def text_ranges(names: tuple[str, ...], kallsyms: Path = Path("/proc/kallsyms")) -> dict[str, tuple[int, int]]:
    """[start, end) of each named kernel function (end: the next symbol)."""
    try:
        lines = kallsyms.read_text().splitlines()
    except OSError:
        return {}
    symbols: list[tuple[int, str]] = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or parts[1] not in ("t", "T") or len(parts) > 3:  # modules are not searched
            continue
        address = int(parts[0], 16)
        if address:
            symbols.append((address, parts[2]))
    symbols.sort()
    found: dict[str, tuple[int, int]] = {}
    for i, (address, name) in enumerate(symbols):
        if name in names and name not in found:
            end = next((a for a, _ in symbols[i + 1:] if a > address), address + 1)
            found[name] = (address, end)
    return found


def probe_ranges_knob(kallsyms: Path = Path("/proc/kallsyms")) -> bytes:
    """targ_probe_ranges: RANGES pairs of little-endian u64, zero-padded."""
    ranges = list(text_ranges(PROBE_FUNCTIONS, kallsyms).values())[:RANGES]
    flat = [value for pair in ranges for value in pair]
    flat += [0] * (2 * RANGES - len(flat))
    return struct.pack(f"<{2 * RANGES}Q", *flat)
