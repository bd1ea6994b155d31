"""Rules as generated code (eunomia.rules.codegen): the per-kind function
agrees with each rule's own predicate, reads each field once per event,
and drops what the kind decides."""

from __future__ import annotations

from pathlib import Path

from eunomia.rules import codegen
from eunomia.rules.engine import RulesEngine
from eunomia.rules.outcomes import outcome
from eunomia.rules.ruleset import load_rule_set

from ..recording_events import event, sample_events
from ..reference import reference_file


def _events() -> list[dict]:
    found = [e for lines in sample_events().values() for e in lines]
    return found + [
        event("open", "web", 7, comm="cat", file={"path": "/etc/shadow", "flags": ["read"]}, result=3),
        event("open", "web", 7, comm="sh", file={"path": "/bin/x", "flags": ["write", "create"]}, result=4),
        event("exec", "web", 8, comm="sh", ppid=7, args=["sh", "-c", "id"], result=0),
        event("exec", "web", 9, comm="dpkg", args=["dpkg", "-l"], result=0),
        event("signal", "web", 9, signal={"name": "SIGKILL", "number": 9, "origin": "kernel"}, result="delivered"),
        event("open", "web", 7, comm="cat", file={"path": "/srv/www/../../etc/passwd", "flags": ["read"],
                                                  "given_path": "/srv/www/../../etc/passwd"}, result="ENOENT"),
        event("connect", "web", 7, comm="ssh", result="EINPROGRESS", network={"transport": "tcp",
              "direction": "outbound", "type": "ipv4"}, source={"ip": "10.0.0.2", "port": 1, "container": "web"},
              destination={"ip": "93.184.216.34", "port": 443, "container": None}),
        event("module", "web", 7, comm="insmod", module={"syscall": "finit_module", "file": "/x.ko"}),
    ]


def test_the_kind_function_agrees_with_every_rule_alone() -> None:
    rules = load_rule_set([reference_file("falco_rules.yaml")], defaults=True).enabled
    engine = RulesEngine(rules, rate=1e9, burst=1e9)
    for e in _events():
        by_kind = {r.rule.name for r in engine._evaluator(e["type"], outcome(e))(e, engine.context)}
        alone = {r.rule.name for r in rules if r.test is not None and r.test(e, engine.context)}
        assert by_kind == alone, e["type"]
    assert any(engine.evaluate(e) for e in _events())  # and the sample does raise alerts


def test_a_field_is_read_once_per_event_however_many_rules_ask(tmp_path: Path) -> None:
    calls = []
    from eunomia.rules import fields

    original = fields.FIELDS["proc.pname"]
    fields.FIELDS["proc.pname"] = fields.FieldDef("str", lambda e, c, a: calls.append(1) or "nginx")
    try:
        path = tmp_path / "r.yaml"
        path.write_text("".join(f"- rule: r{n}\n  condition: evt.type = execve and proc.pname = p{n}\n"
                                f"  output: x\n  priority: INFO\n" for n in range(5)))
        engine = RulesEngine(load_rule_set([path]).rules)
        assert engine.evaluate(event("exec", "web", 1, result=0)) == []
    finally:
        fields.FIELDS["proc.pname"] = original
    assert calls == [1]


def test_the_kind_decides_evt_type_and_evt_dir(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("- macro: spawned\n  condition: evt.type = execve and evt.dir = <\n"
                    "- rule: a\n  condition: spawned and proc.name = sh\n  output: x\n  priority: INFO\n"
                    "- rule: b\n  condition: spawned or evt.type = openat\n  output: x\n  priority: INFO\n")
    rules = load_rule_set([path]).rules
    a, b = (r.ir for r in rules)
    assert isinstance(codegen.fold(a, "exec"), codegen.Leaf)   # only proc.name is left to test
    assert codegen.fold(a, "open") is False and codegen.fold(b, "open") is True and codegen.fold(b, "exec") is True
    # a macro two rules share is one tree: evaluated once per event
    assert len(codegen._shared([r.ir for r in rules])) >= 1
