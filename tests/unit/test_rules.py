"""Falco-syntax rules (eunomia.rules): parsing, loading, compiling, evaluating.

Events are built as the pipeline emits them (tests/recording_events.py);
the reference file is Falco's stable rules, read unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eunomia.rules.engine import RulesEngine
from eunomia.rules.loader import RuleLoadError, load_rule_files
from eunomia.rules.ruleset import RuleSetError, load_rule_set
from eunomia.rules.syntax import And, Check, List, MacroRef, Not, Or, RuleSyntaxError, Value, parse

from ..recording_events import event
from ..reference import reference_file



def _rules(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _engine(tmp_path: Path, text: str) -> RulesEngine:
    return RulesEngine(load_rule_set([_rules(tmp_path, text)]).rules)


def _fired(engine: RulesEngine, e: dict) -> list[str]:
    return [a["rule"] for a in engine.evaluate(e)]


def _open(path: str, *, comm: str = "cat", flags=("read",), result=3, name: str = "web") -> dict:
    return event("open", name, 10, comm=comm, result=result, file={"path": path, "flags": list(flags)})


def test_every_condition_of_falcos_stable_rules_parses() -> None:
    items = yaml.safe_load(reference_file("falco_rules.yaml").read_text())
    conditions = [i["condition"] for i in items if "condition" in i]
    assert len(conditions) == 112
    for condition in conditions:
        parse(condition)


def test_the_tree_of_a_condition() -> None:
    assert parse("spawned_process and not proc.name in (shell_binaries, 'a b') or fd.name=/etc/x") == Or((
        And((MacroRef("spawned_process"),
             Not(Check("proc.name", "in", List((Value("shell_binaries", False), Value("a b", True))))))),
        Check("fd.name", "=", Value("/etc/x", False))))
    assert parse("evt.dir=< and proc.aname[2]=linux-bench and proc.pname exists") == And((
        Check("evt.dir", "=", Value("<", False)), Check("proc.aname[2]", "=", Value("linux-bench", False)),
        Check("proc.pname", "exists", None)))


@pytest.mark.parametrize("condition, message, line, column", [
    ("proc.name = ", "the condition ends too early", 1, 12),
    ("proc.name in (a, b", "the condition ends too early", 1, 19),
    ("proc.name foo bar", "unexpected 'foo'", 1, 11),
    ("a and\n (b or", "the condition ends too early", 2, 7),
])
def test_syntax_errors_say_where(condition, message, line, column) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse(condition)
    assert (caught.value.message, caught.value.line, caught.value.column) == (message, line, column)


def test_falcos_stable_rules_load_and_say_what_cannot_run() -> None:
    rule_set = load_rule_set([reference_file("falco_rules.yaml")])
    assert (len(rule_set.files.lists), len(rule_set.files.macros), len(rule_set.rules)) == (49, 87, 25)
    assert rule_set.disabled == []  # every one runs here
    assert len(rule_set.enabled) == 25
    # indexed by event type: the open rules are not tried on an exec
    kinds = {r.rule.name: r.kinds for r in rule_set.enabled}
    assert kinds["Terminal shell in container"] == kinds["Fileless execution via memfd_create"] == {"exec"}
    assert kinds["Detect release_agent File Container Escapes"] == {"open"}
    assert kinds["Packet socket created in container"] == {"socket"}
    assert kinds["Redirect STDOUT/STDIN to Network Connection in Container"] == {"dup"}
    assert kinds["Linux Kernel Module Injection Detected"] == {"module"}
    assert kinds["Read sensitive file untrusted"] == {"open"}
    assert kinds["PTRACE attached to process"] == {"ptrace"}


def test_a_reference_rule_fires_on_its_trigger_and_not_on_the_benign_case() -> None:
    engine = RulesEngine(load_rule_set([reference_file("falco_rules.yaml")]).rules)
    fired = engine.evaluate(_open("/etc/shadow", comm="cat"))
    assert [a["rule"] for a in fired] == ["Read sensitive file untrusted"]
    assert fired[0]["priority"] == "WARNING" and fired[0]["type"] == "alert"
    assert "file=/etc/shadow" in fired[0]["output"] and "process=cat" in fired[0]["output"]
    assert _fired(engine, _open("/etc/hostname")) == []
    assert _fired(engine, _open("/etc/shadow", result="EACCES")) == []  # fd.num >= 0: only opens that worked
    assert _fired(engine, _open("/etc/shadow", comm="sshd")) == []      # a program allowed to


def test_operators(tmp_path) -> None:
    engine = _engine(tmp_path, """
- list: base
  items: [/etc/shadow]
- list: nested
  items: [base, /etc/gshadow]
- macro: opened
  condition: evt.type = openat
""" + "".join(f"""
- rule: r{n}
  condition: opened and {cond}
  output: o
  priority: INFO
""" for n, cond in enumerate([
        "fd.name in (nested)", "fd.name contains shad", "fd.name icontains SHAD", "fd.name startswith /etc/",
        "fd.name endswith dow", "fd.name glob '/etc/*shadow'", "fd.name pmatch (/etc)", "fd.name regex '/etc/g?shadow'",
        "fd.name != /etc/passwd", "fd.num >= 3", "fd.num < 3", "proc.pname exists", "proc.aname intersects (sh)",
        "evt.arg.flags contains O_RDONLY", "fd.directory = /etc", "fd.filename = shadow"])))
    # r10 (fd.num < 3), r11 (no parent name known), r12 (no process table here) do not match
    assert _fired(engine, _open("/etc/shadow")) == [f"r{n}" for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15)]
    assert _fired(engine, _open("/etc/gshadow")) == [f"r{n}" for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14)]
    # a field an event does not have is false, with != too
    exec_event = event("exec", "web", 1, result=0)
    assert _fired(engine, exec_event) == []


def test_appends_overrides_exceptions_and_enabled(tmp_path) -> None:
    first = _rules(tmp_path, """
- list: programs
  items: [cat]
- macro: opened
  condition: evt.type = openat
- rule: Reads
  condition: opened and proc.name in (programs)
  output: "%proc.name read %fd.name"
  priority: NOTICE
  exceptions:
    - name: allowed
      fields: [proc.name, fd.name]
      values: [[cat, /etc/hostname]]
- rule: Switched off
  condition: opened
  output: o
  priority: DEBUG
""", "a.yaml")
    second = _rules(tmp_path, """
- list: programs
  items: [head]
  append: true
- macro: opened
  condition: or evt.type = unlinkat
  append: true
- rule: Reads
  condition: and not fd.name startswith /tmp
  override:
    condition: append
- rule: Switched off
  enabled: false
""", "b.yaml")
    rule_set = load_rule_set([first, second])
    engine = RulesEngine(rule_set.rules)
    assert _fired(engine, _open("/etc/passwd", comm="head")) == ["Reads"]
    assert engine.evaluate(_open("/etc/passwd", comm="cat"))[0]["output"] == "cat read /etc/passwd"
    assert _fired(engine, _open("/etc/hostname", comm="cat")) == []   # the exception
    assert _fired(engine, _open("/tmp/x", comm="cat")) == []          # the appended condition
    assert _fired(engine, event("unlink", "web", 1, comm="cat", result=0, file={"path": "/etc/x"})) == ["Reads"]
    assert {r.rule.name: r.disabled for r in rule_set.disabled} == {"Switched off": "enabled: false"}


@pytest.mark.parametrize("text, message", [
    ("- rule: x\n  condition: evt.type = openat and\n  output: o\n  priority: WARNING\n",
     "rules.yaml:2:35: rule 'x': the condition ends too early; fix the condition there"),
    ("- rule: x\n  condition: nosuch\n  output: o\n  priority: WARNING\n",
     "rules.yaml:1:3: rule 'x': no macro or list 'nosuch'"),
    ("- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: x\n  condition: a\n  output: o\n  priority: INFO\n",
     "rule 'x': macro 'a' uses itself (a → b → a)"),
    ("- rule: x\n  condition: fd.num > abc\n  output: o\n  priority: INFO\n", "fd.num is a number, not 'abc'"),
    ("- rule: x\n  condition: evt.type = openat\n  output: o\n  priority: LOUD\n",
     "priority 'LOUD' is not one of EMERGENCY, ALERT"),
    ("- rule: x\n  condition: evt.type = openat\n", "rule 'x': needs output, priority"),
    ("- list: l\n  items: [a]\n  append: true\n", "list 'l': appends to a list that is not defined before it"),
    ("- required_engine_version: 0.99.0\n", "requires Falco engine version 0.99.0"),
    ("rule: x\n", "rules.yaml:1:1: a rules file is a YAML list of items"),
])
def test_errors_name_the_file_line_and_item(tmp_path, text, message) -> None:
    with pytest.raises(RuleSetError) as caught:
        load_rule_set([_rules(tmp_path, text)])
    assert message in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_rule_flood_is_held_back_and_counted(tmp_path) -> None:
    now = [0.0]
    rule_set = load_rule_set([_rules(tmp_path, "- rule: any open\n  condition: evt.type=openat\n  output: o\n"
                                               "  priority: INFO\n")])
    engine = RulesEngine(rule_set.rules, rate=1.0, burst=3.0, clock=lambda: now[0])
    fired = sum(len(engine.evaluate(_open("/x"))) for _ in range(10))
    assert fired == 3 and engine.counts.suppressed == {"any open": 7}
    now[0] += 2.0  # two tokens back
    assert sum(len(engine.evaluate(_open("/x"))) for _ in range(5)) == 2
    assert engine.counts.alerts == {("any open", "INFORMATIONAL", "web"): 5}


def test_loader_keeps_positions(tmp_path) -> None:
    files = load_rule_files([_rules(tmp_path, "\n\n- rule: r\n  condition: evt.type=openat\n  output: o\n"
                                              "  priority: ERROR\n")])
    assert str(files.rules["r"].where).endswith("rules.yaml:3:3")
    with pytest.raises(RuleLoadError, match="cannot read it"):
        load_rule_files([tmp_path / "missing.yaml"])


def _connect(ip: str, port: int, name: str = "web") -> dict:
    return event("connect", name, 10, comm="ssh", result=0, network={"transport": "tcp", "type": "ipv4",
                 "direction": "outbound"}, source={"ip": "172.17.0.2", "port": 40000},
                 destination={"ip": ip, "port": port, "container": None})


def test_review_cases_match_falco(tmp_path) -> None:
    engine = RulesEngine(load_rule_set([reference_file("falco_rules.yaml")]).rules)
    # quoted list items are strings (rfc_1918_addresses), and != on an address takes a CIDR:
    # an ssh to a private or loopback address on port 443 is not "outbound"
    assert _fired(engine, _connect("10.1.2.3", 443)) == []
    assert _fired(engine, _connect("127.0.0.1", 443)) == []
    assert _fired(engine, _connect("93.184.216.34", 443)) == ["Disallowed SSH Connection Non Standard Port"]
    custom = _engine(tmp_path, """
- rule: any open
  condition: evt.type = open and fd.name = /x
  output: "(file=%fd.name proc=%(proc.name))  end"
  priority: INFO
- rule: signals ok
  condition: evt.type = kill and evt.res = SUCCESS and not evt.failed = true
  output: o
  priority: INFO
- rule: tried exe
  condition: evt.type = execve and proc.exepath = /bin/sh
  output: "%proc.exepath"
  priority: INFO
""")
    [alert] = custom.evaluate(_open("/x"))  # Falco's open: Eunomia's open stands for it too
    assert alert["output"] == "(file=/x proc=cat) end"
    assert _fired(custom, event("signal", "web", 1, result="delivered", signal={"name": "SIGTERM", "origin": "kill"})) \
        == ["signals ok"]
    assert _fired(custom, event("signal", "web", 1, result="delivered", signal={"name": "SIGCHLD",
                                                                                "origin": "kernel"})) == []
    # a failed exec is judged as its caller (no process table here: nothing known of it)
    assert _fired(custom, event("exec", "web", 1, result="ENOENT", executable="/bin/sh", args=["/bin/sh"])) == []


def test_appended_exceptions_merge_by_name_and_buckets_are_per_container(tmp_path) -> None:
    files = [_rules(tmp_path, """
- list: quiet
  items: [head]
- rule: reads
  condition: evt.type = openat
  output: o
  priority: INFO
  exceptions:
    - name: programs
      fields: proc.name
      comps: in
      values: [quiet]
""", "a.yaml"), _rules(tmp_path, """
- rule: reads
  exceptions:
    - name: programs
      values: [tail]
  override:
    exceptions: append
""", "b.yaml")]
    engine = RulesEngine(load_rule_set(files).rules, rate=0.0, burst=1.0, clock=lambda: 0.0)
    assert _fired(engine, _open("/x", comm="head")) == []   # a list name in a one-field exception expands
    assert _fired(engine, _open("/x", comm="tail")) == []   # the appended value joined that exception
    assert _fired(engine, _open("/x", comm="cat")) == ["reads"]
    assert _fired(engine, _open("/x", comm="cat")) == []    # this container's bucket is empty …
    assert _fired(engine, _open("/x", comm="cat", name="db")) == ["reads"]  # … not the other's


def test_system_user_interactive_on_a_recorded_login(tmp_path) -> None:
    """This host has no logins to trigger it: a recorded one, with its process
    table and the container's /etc/passwd (www-data, uid 33)."""
    from eunomia.context.processes import ProcessTable
    from eunomia.rules.engine import FieldContext

    proc_root = tmp_path / "proc"
    (proc_root / "300" / "root" / "etc").mkdir(parents=True)
    (proc_root / "300" / "root" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                                               "www-data:x:33:33::/var/www:/bin/sh\n")
    table = ProcessTable()
    table.on_exec(200, 1, name="sshd", executable="/usr/sbin/sshd", args=["sshd"], cwd="/", uid=0, ts=0, cgroup_id=1)
    table.on_fork(200, 300, 0, 1)
    engine = RulesEngine(load_rule_set([reference_file("falco_rules.yaml")]).rules,
                         FieldContext(table, proc_root=proc_root))
    login = event("exec", "web", 300, comm="bash", ppid=200, args=["bash"], result=0)
    login["user"] = {"id": 33}
    fired = engine.evaluate(login)
    assert [a["rule"] for a in fired] == ["System user interactive"]
    assert "user=www-data" in fired[0]["output"]
    root = dict(login, user={"id": 0})
    assert _fired(engine, root) == []  # root is not a system user


def test_debugfs_in_a_privileged_container_on_recorded_events() -> None:
    """`--privileged` containers cannot start on this host: what Docker says
    of one (HostConfig.Privileged) stands in, through the context's lookup."""
    from eunomia.context.model import Container
    from eunomia.rules.engine import FieldContext

    known = {"a" * 64: Container(id="a" * 64, name="web", privileged=True),
             "b" * 64: Container(id="b" * 64, name="db", privileged=False)}
    engine = RulesEngine(load_rule_set([reference_file("falco_rules.yaml")]).rules,
                         FieldContext(containers=known.get))
    debugfs = event("exec", "web", 300, comm="debugfs", args=["debugfs", "/dev/sda1"], result=0)
    debugfs["container"]["id"] = "a" * 64
    fired = engine.evaluate(debugfs)
    assert [a["rule"] for a in fired] == ["Debugfs Launched in Privileged Container"]
    assert "command=debugfs /dev/sda1" in fired[0]["output"]
    unprivileged = dict(debugfs, container=dict(debugfs["container"], id="b" * 64, name="db"))
    assert _fired(engine, unprivileged) == []
    unknown = dict(debugfs, container=dict(debugfs["container"], id="c" * 64, name="gone"))
    assert _fired(engine, unknown) == []  # a container the runtime never described is not assumed privileged


def test_thread_cap_effective_names_the_capabilities() -> None:
    from eunomia.rules.fields import FIELDS

    opened = _open("/sys/fs/cgroup/x/release_agent", flags=("write",))
    opened["process"]["cap_effective"] = "00000000a82425fb"  # Docker's default set plus CAP_SYS_ADMIN
    names = FIELDS["thread.cap_effective"].get(opened, None, None)
    assert names.split() == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
                             "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
                             "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]


def test_the_login_uid_and_its_name(tmp_path) -> None:
    """An exec event carries the audit login uid; later events of the process get it from the table."""
    from eunomia.context.processes import ProcessTable
    from eunomia.rules.engine import FieldContext
    from eunomia.rules.fields import FIELDS

    proc_root = tmp_path / "proc"
    (proc_root / "40" / "root" / "etc").mkdir(parents=True)
    (proc_root / "40" / "root" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n")
    table = ProcessTable()
    table.on_exec(40, 1, name="sh", executable="/bin/sh", args=["sh"], cwd="/", uid=0, ts=0, cgroup_id=1,
                  loginuid=1000)
    context = FieldContext(table, proc_root=proc_root)
    opened = _open("/etc/hosts")
    opened["process"]["pid"] = 40
    assert FIELDS["user.loginuid"].get(opened, context, None) == 1000
    assert FIELDS["user.loginname"].get(opened, context, None) == "alice"
    su = event("exec", "web", 40, comm="su", args=["su"], result=0)
    su["user"] = {"id": 0, "login_id": -1}
    assert FIELDS["user.loginuid"].get(su, context, None) == -1
    assert FIELDS["user.loginname"].get(su, context, None) is None  # no login set it


def _pod_connect(ip: str, port: int, *, image: str = "example/web:1", namespace: str | None = None) -> dict:
    e = event("connect", "web", 10, comm="curl", result=0, network={"transport": "tcp", "direction": "outbound",
                                                                    "type": "ipv4"},
              source={"ip": "10.1.0.5", "port": 40000, "container": "web"},
              destination={"ip": ip, "port": port, "container": None})
    e["container"] = {**e["container"], "image": image, "namespace": namespace}
    return e


def test_contact_k8s_api_server_on_recorded_events(tmp_path) -> None:
    """This host has no Kubernetes: the cluster's name for the API server's address comes from a hosts file."""
    from eunomia.rules.engine import FieldContext
    from eunomia.rules.names import NameResolver

    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.96.0.1 kubernetes.default.svc.cluster.local\n")
    names = NameResolver("hosts", hosts=hosts)
    engine = RulesEngine(load_rule_set([reference_file("falco_rules.yaml")]).rules, FieldContext(names=names))
    names.watch(engine.watched_names)
    assert "kubernetes.default.svc.cluster.local" in engine.watched_names
    fired = engine.evaluate(_pod_connect("10.96.0.1", 443))
    assert [a["rule"] for a in fired] == ["Contact K8S API Server From Container"]
    assert "connection=10.1.0.5:40000->10.96.0.1:443" in fired[0]["output"]
    assert _fired(engine, _pod_connect("10.96.0.2", 443)) == []                      # another address
    assert _fired(engine, _pod_connect("10.96.0.1", 443, namespace="kube-system")) == []  # the cluster's own


def test_names_of_addresses_follow_the_hosts_file_and_the_resolver(tmp_path) -> None:
    from eunomia.rules.names import NameResolver

    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 api.internal  # the API\n")
    now = [0.0]
    names = NameResolver("hosts", hosts=hosts, clock=lambda: now[0])
    names.watch(["API.internal", "db.internal"])
    assert names.names_of("10.0.0.1") == ["api.internal"] and names.names_of("10.0.0.2") == []
    hosts.write_text("10.0.0.2 db.internal api.internal\n")
    assert names.names_of("10.0.0.1") == ["api.internal"]   # looked at once a second at most
    now[0] = 2.0
    assert names.names_of("10.0.0.1") == [] and names.names_of("10.0.0.2") == ["api.internal", "db.internal"]

    asked = []
    dns = NameResolver("dns", resolve=lambda name: asked.append(name) or {"192.0.2.7"}, ttl=3600)
    dns.watch(["svc.example"])
    import time as _time
    for _ in range(100):
        if dns.names_of("192.0.2.7"):
            break
        _time.sleep(0.01)
    dns.close()
    assert dns.names_of("192.0.2.7") == ["svc.example"] and asked == ["svc.example"]
