"""Rules on live events: the right rules for each event, alerts with their output.

    engine = RulesEngine(compile_rules(load_rule_files(paths)), FieldContext(processes, clock))
    for alert in engine.evaluate(event): …

An event is tested only against the rules indexed under its type (and the
few that can match any type).  An alert is one JSON object: `type:
"alert"`, `time`, `rule`, `priority`, `output` (the rule's output with each
%field filled in), `tags`, `container`, and the triggering event.  A
token bucket per rule (default 10 alerts/s, bursts of 100) keeps a flood
of one rule from drowning everything; what it holds back is counted, per
rule, never dropped silently.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..eventpath import event_ns
from .codegen import build, fields_of, names_of
from .compile import CompiledRule
from .fields import FIELDS, split_field
from .names import NameResolver
from .outcomes import outcome

Event = dict[str, Any]
_FIELD_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?"
_OUTPUT_FIELD = re.compile(rf"%\(({_FIELD_NAME})\)|%({_FIELD_NAME})")
NA = "<NA>"


class FieldContext:
    """What fields need beyond the event: the process table, the containers
    (what the runtime says of them), user names, a clock."""

    def __init__(self, processes: Any = None, wall_ns: Callable[[int], int] | None = None,
                 proc_root: Path = Path("/proc"), containers: Callable[[str], Any] | None = None,
                 names: NameResolver | None = None) -> None:
        self.processes, self.wall_ns, self.proc_root = processes, wall_ns, proc_root
        self._containers = containers  # container id → Container | None
        self.names = names             # host names of addresses (fd.sip.name); None: none known
        self._count = 0
        self._names: dict[tuple[str, str, int], str | None] = {}
        self._unreadable: dict[tuple[str, str, int], float] = {}  # → when to try again

    def number(self, event: Event) -> int:
        return self._count

    def next_event(self) -> None:
        self._count += 1

    def ancestors(self, pid: int | None) -> list[Any]:
        if self.processes is None or pid is None:
            return []
        result: list[Any] = self.processes.ancestors(pid)
        return result

    def host_names(self, address: str | None) -> list[str] | None:
        return None if self.names is None else self.names.names_of(address)

    def container(self, container_id: str) -> Any:
        return None if self._containers is None else self._containers(container_id)

    def process(self, pid: int | None) -> Any:
        return None if self.processes is None or pid is None else self.processes.get(pid)

    def now_ns(self, event: Event) -> int:
        ns = event_ns(event["time"])
        return ns if self.wall_ns is None else ns - self.wall_ns(0)

    def user_name(self, event: Event) -> str | None:
        return self._name(event, "passwd", (event.get("user") or {}).get("id"))

    def login_name(self, event: Event, uid: int | None) -> str | None:
        return None if uid is None or uid < 0 else self._name(event, "passwd", uid)

    def group_name(self, event: Event) -> str | None:
        return self._name(event, "group", (event.get("group") or {}).get("id"))

    def _name(self, event: Event, table: str, number: int | None) -> str | None:
        """The name of a uid/gid as the process's own /etc sees it (its container's), cached."""
        if number is None:
            return None
        container = str((event.get("container") or {}).get("id") or "host")
        key = (container, table, number)
        if key in self._names:
            return self._names[key]
        pid = (event.get("process") or {}).get("pid")
        now = time.monotonic()
        if self._unreadable.get(key, 0.0) > now:
            return None
        try:
            name = _lookup(self.proc_root / str(pid) / "root" / "etc" / table, number)
        except OSError:  # the process is gone already: another of its container may tell, in a while
            if len(self._unreadable) > 4096:
                self._unreadable.clear()
            self._unreadable[key] = now + 1.0
            return None
        if len(self._names) > 65536:
            self._names.clear()
        self._names[key] = name
        return name


def _lookup(path: Path, number: int) -> str | None:
    """The name of `number` in a passwd/group file; None when it has none (OSError: unreadable)."""
    with open(path, "rb") as f:
        for line in f.read(1 << 20).decode("utf-8", "replace").splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2].strip() == str(number):
                return parts[0]
    return None


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    last: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class RuleCounts:
    alerts: dict[tuple[str, str, str], int] = field(default_factory=dict)   # (rule, priority, container) → n
    suppressed: dict[str, int] = field(default_factory=dict)               # rule → held back by its bucket


class RulesEngine:
    def __init__(self, rules: list[CompiledRule], context: FieldContext | None = None, *,
                 rate: float = 10.0, burst: float = 100.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.context = context or FieldContext()
        self.rate, self.burst, self.clock = rate, burst, clock
        self.counts = RuleCounts()
        self._buckets: dict[tuple[str, str], Bucket] = {}
        # per event kind, one generated function testing every rule that can match it (codegen.py)
        self._evaluators: dict[tuple[str, bool | None], Callable[[Event, Any], list[CompiledRule]]] = {}

    @property
    def watched_names(self) -> set[str]:
        """The host names the running rules compare addresses with (resolved ahead, names.py)."""
        return set().union(*(names_of(r.ir) for r in self.active))

    @property
    def fields_used(self) -> set[str]:
        """The fields the running rules read (some need a tracker knob: fd.nameraw)."""
        return set().union(*(fields_of(r.ir) for r in self.active))

    @property
    def active(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.test is not None]

    def candidates(self, kind: str) -> list[CompiledRule]:
        """The rules an event of this kind is tested against (indexed by their evt.type checks)."""
        return [r for r in self.active if r.kinds is None or kind in r.kinds]

    def _evaluator(self, kind: str, done: bool | None) -> Callable[[Event, Any], list[CompiledRule]]:
        """The function for events of this kind and outcome (worked, failed, no result)."""
        key = (kind, done)
        evaluate = self._evaluators.get(key)
        if evaluate is None:
            if len(self._evaluators) > 256:  # kinds are few; a flood of made-up ones is not kept
                self._evaluators.clear()
            evaluate = self._evaluators[key] = build([(r, r.ir) for r in self.candidates(kind)], kind,
                                                     outcome=done)
        return evaluate

    def evaluate(self, event: Event) -> list[Event]:
        self.context.next_event()
        seen = self._callers_view(event)
        key = (event.get("type", ""), outcome(seen))
        evaluate = self._evaluators.get(key) or self._evaluator(*key)
        matched = evaluate(seen, self.context)
        alerts = []
        for rule in matched:
            alert = self._alert(rule, event)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _callers_view(self, event: Event) -> Event:
        """A failed exec changed nothing: as in Falco, proc.* are the caller's
        (the event itself shows the program that was tried)."""
        if event.get("type") != "exec" or not isinstance(event.get("result"), str):
            return event
        caller = self.context.process((event.get("process") or {}).get("pid"))
        process = dict(event.get("process") or {})
        if caller is not None:
            process.update(executable=caller.executable, args=list(caller.args), working_directory=caller.cwd)
        else:
            process.update(executable=None, args=None)
        return {**event, "process": process}

    def _alert(self, rule: CompiledRule, event: Event) -> Event | None:
        name, priority = rule.rule.name, rule.rule.priority.upper()
        container = event.get("container") or {}
        label = container.get("name") or str(container.get("id") or "")[:12]
        now = self.clock()
        # per (rule, container): a flood in one container cannot hide the same rule's alert in another
        bucket = self._buckets.get((name, label))
        if bucket is None:
            if len(self._buckets) > 65536:
                self._buckets.clear()
            bucket = self._buckets[(name, label)] = Bucket(self.rate, self.burst, self.burst, now)
        if not bucket.take(now):
            self.counts.suppressed[name] = self.counts.suppressed.get(name, 0) + 1
            return None
        key = (name, priority, label)
        self.counts.alerts[key] = self.counts.alerts.get(key, 0) + 1
        return {"type": "alert", "time": event.get("time"), "rule": name, "priority": priority,
                "output": self.output(rule.rule.output, event), "tags": list(rule.rule.tags),
                "container": container, "event": event}

    def output(self, template: str, event: Event) -> str:
        """The rule's output, each %field replaced by its value (<NA> when there is none)."""
        def value(match: re.Match[str]) -> str:
            base, arg = split_field(match.group(1) or match.group(2))
            definition = FIELDS.get(base)
            if definition is None:
                return NA
            found = definition.get(event, self.context, arg)
            if found is None or found == []:
                return NA
            if isinstance(found, list):
                return ",".join(str(v) for v in found)
            return str(found).lower() if isinstance(found, bool) else str(found)
        return _OUTPUT_FIELD.sub(value, " ".join(template.split()))  # the template's lines joined, values as they are
