"""Which tasks' events reach user space: the -c selectors and --host.

The decision is made in the kernel (see bpf/include/eunomia/filter.h); this
module turns the command line into the filter's knobs and verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICT_DROP = 1  # enum eun_verdict
VERDICT_KEEP = 2


class UnknownContainerError(LookupError):
    def __init__(self, selector: str, known: list[str]) -> None:
        super().__init__(selector)
        self.selector = selector
        self.known = known

    def __str__(self) -> str:
        hint = f" (running: {', '.join(sorted(self.known)[:8])})" if self.known else " (no containers are running)"
        return f"no container named or with id {self.selector!r}{hint}; check 'docker ps'"


class AmbiguousContainerError(LookupError):
    def __init__(self, selector: str, matches: list[str]) -> None:
        super().__init__(selector)
        self.selector = selector
        self.matches = matches

    def __str__(self) -> str:
        return (f"id prefix {self.selector!r} matches {len(self.matches)} containers "
                f"({', '.join(sorted(self.matches)[:4])}); give more digits or the name")


@dataclass(frozen=True)
class Scope:
    containers: tuple[str, ...] = ()   # -c NAME|ID, empty = every container
    host: bool = False                 # --host: processes outside containers too
    allow_pending: bool = False        # names may belong to containers not created yet

    @property
    def filter_by_container(self) -> bool:
        """False only for --host without -c: then everything passes."""
        return bool(self.containers) or not self.host

    @property
    def all_containers(self) -> bool:
        return not self.containers

    def knobs(self) -> dict[str, bool]:
        return {"filter_by_container": self.filter_by_container, "filter_keep_host": self.host}

    def verdict(self, container_id: str, selected_ids: set[str]) -> int:
        if self.all_containers or container_id in selected_ids:
            return VERDICT_KEEP
        return VERDICT_DROP
