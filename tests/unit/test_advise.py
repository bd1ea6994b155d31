"""Advice from reports, without a kernel: profile content, capability rules,
the docker run that verifies them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eunomia.advise import AdviceError
from eunomia.advise.caps import advise_caps, docker_flags, evidence, k8s_capabilities
from eunomia.advise.inputs import RecordedContainer, load_container
from eunomia.advise.runtime import RUNTIME_AFTER_FILTER
from eunomia.advise.seccomp import advise_seccomp, k8s_name, k8s_profile, k8s_security_context, oci_profile
from eunomia.advise.verify import judge, parse_run_help, plan_rerun

from ..recording_events import sample_events
from ..recording_samples import DB, FOLDERS, WEB, index_doc, sample_reports, write_recording

# as `docker run --help` prints them (Docker 20.10), a few lines
RUN_HELP = """
Options:
      --add-host list                  Add a custom host-to-IP mapping
  -a, --attach list                    Attach to STDIN, STDOUT or STDERR
      --cap-add list                   Add Linux capabilities
      --cap-drop list                  Drop Linux capabilities
      --cidfile string                 Write the container ID to the file
      --cpu-quota int                  Limit CPU CFS (Completely Fair
  -d, --detach                         Run container in background and
  -e, --env list                       Set environment variables
  -i, --interactive                    Keep STDIN open even if not attached
      --name string                    Assign a name to the container
      --oom-score-adj int              Tune host's OOM preferences (-1000
      --privileged                     Give extended privileges to this
      --rm                             Automatically remove the container
      --security-opt list              Security Options
  -t, --tty                            Allocate a pseudo-TTY
"""
OPTIONS = parse_run_help(RUN_HELP)
CID = Path("/tmp/cid")


def recorded(syscalls: dict[str, int] | None = None, runtime: dict[str, int] | None = None,
             capabilities: dict[str, Any] | None = None, machine: str = "x86_64",
             exit_code: int | None = 0, directory: str = "rec") -> RecordedContainer:
    report = {"container": {"id": "a" * 64, "name": "app", "namespace": None, "exit_code": exit_code},
              "syscalls": syscalls if syscalls is not None else {"read": 3, "write": 1},
              "runtime_syscalls": runtime or {}, "capabilities": capabilities or {}}
    return RecordedContainer(Path(directory), machine, report, None)


def check(process: str, syscall: str | None, granted: int = 0, denied: int = 0,
          credentials: str = "own", **extra: Any) -> dict[str, Any]:
    return {"process": process, "syscall": syscall, "credentials": credentials, "granted": granted,
            "denied": denied, **extra}


def test_profile_allows_workload_and_runtime_and_nothing_else() -> None:
    advice = advise_seccomp([recorded({"read": 3, "write": 1}, {"fstatfs": 1}),
                             recorded({"openat": 2, "read": 1}, {"execve": 1})])
    profile = oci_profile(advice)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64"]
    rule, fallback = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ALLOW"
    assert rule["names"] == sorted({"read", "write", "openat", "fstatfs", "execve"} | RUNTIME_AFTER_FILTER)
    assert advice.workload == {"read": 4, "write": 1, "openat": 2}
    # glibc falls back from clone3 to clone only on ENOSYS
    assert fallback == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    with_clone3 = oci_profile(advise_seccomp([recorded({"clone3": 2, "read": 1})]))
    assert len(with_clone3["syscalls"]) == 1 and "clone3" in with_clone3["syscalls"][0]["names"]


def test_unknown_syscall_numbers_are_an_error_never_dropped() -> None:
    with pytest.raises(AdviceError, match="syscall number 1023, which libseccomp does not name"):
        advise_seccomp([recorded({"read": 1, "unknown_1023": 5})])
    with pytest.raises(AdviceError, match="'not_a_syscall' is not known to libseccomp"):
        advise_seccomp([recorded({"read": 1, "not_a_syscall": 5})])


def test_empty_recording_and_unknown_machine_are_errors() -> None:
    with pytest.raises(AdviceError, match="no syscalls were recorded"):
        advise_seccomp([recorded({})])
    with pytest.raises(AdviceError, match="'sparc64' machine"):
        advise_seccomp([recorded(machine="sparc64")])


def test_merging_machines_lists_each_architecture() -> None:
    advice = advise_seccomp([recorded(), recorded(machine="aarch64", syscalls={"read": 1})])
    assert advice.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]


def test_k8s_profile_and_security_context() -> None:
    advice = advise_seccomp([recorded()])
    doc = k8s_profile(advice, "My_App.v2", "shop")
    assert doc["apiVersion"] == "security-profiles-operator.x-k8s.io/v1beta1" and doc["kind"] == "SeccompProfile"
    assert doc["metadata"] == {"name": "my-app-v2", "namespace": "shop"}
    assert doc["spec"]["defaultAction"] == "SCMP_ACT_ERRNO" and doc["spec"]["syscalls"][0]["names"] == advice.names
    assert doc["spec"]["syscalls"][1] == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": "38"}
    assert k8s_security_context("My_App.v2", "shop") == {"securityContext": {"seccompProfile": {
        "type": "Localhost", "localhostProfile": "operator/shop/my-app-v2.json"}}}
    assert k8s_name("...") == "container"


def test_caps_count_only_the_workloads_own_granted_checks() -> None:
    capabilities = {
        "CAP_CHOWN": {"checks": [check("chown", "fchownat", granted=2)]},
        "CAP_NET_BIND_SERVICE": {"checks": [check("httpd", "bind", granted=1)]},
        "CAP_SETPCAP": {"checks": [check("runc:[2:INIT]", "prctl", granted=55)]},
        # runc's final exec runs with the container's capabilities: its checks count
        "CAP_DAC_READ_SEARCH": {"checks": [check("runc:[2:INIT]", "execve", granted=1)]},
        "CAP_DAC_OVERRIDE": {"checks": [check("sh", "openat", granted=3, credentials="borrowed")]},
        "CAP_SYS_ADMIN": {"checks": [check("sh", "mmap", granted=9), check("sh", None, denied=1),
                                     check("sh", "write", granted=1, probe=True)]},
        "CAP_KILL": {"checks": [check("kill", "kill", denied=1)]},
    }
    advice = advise_caps([recorded(capabilities=capabilities)])
    assert advice.names == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_NET_BIND_SERVICE"]  # kernel order
    assert docker_flags(advice) == ["--cap-drop", "ALL", "--cap-add", "CAP_CHOWN", "--cap-add",
                                    "CAP_DAC_READ_SEARCH", "--cap-add", "CAP_NET_BIND_SERVICE"]
    assert k8s_capabilities(advice) == {"securityContext": {"capabilities": {
        "drop": ["ALL"], "add": ["CHOWN", "DAC_READ_SEARCH", "NET_BIND_SERVICE"]}}}
    doc = evidence(advice, "app")
    assert doc["needed"]["CAP_CHOWN"] == {"granted_checks": 2, "processes": ["chown"], "syscalls": ["fchownat"]}
    assert doc["not_needed"] == {
        "CAP_DAC_OVERRIDE": {"borrowed credentials (overlayfs)": 3},
        "CAP_KILL": {"denied only": 1},
        "CAP_SETPCAP": {"container runtime set-up": 55},
        "CAP_SYS_ADMIN": {"probe": 11},
    }


def test_caps_refuse_names_that_are_not_capabilities() -> None:
    with pytest.raises(AdviceError, match="'--privileged' is not a capability"):
        advise_caps([recorded(capabilities={"--privileged": {"checks": [check("sh", "read", granted=1)]}})])
    with pytest.raises(AdviceError, match="is not a syscall name"):
        advise_seccomp([recorded({"read": 1, "x; rm -rf /": 1})])


def test_caps_need_the_per_check_detail() -> None:
    with pytest.raises(AdviceError, match="no detail"):
        advise_caps([recorded(capabilities={"CAP_CHOWN": {"granted": 1, "denied": 0, "processes": ["chown"]}})])


def test_rerun_injects_the_advice_and_keeps_the_users_options() -> None:
    advice = advise_caps([recorded(capabilities={"CAP_CHOWN": {"checks": [check("chown", "fchownat", granted=1)]}})])
    plan = plan_rerun(["docker", "run", "--rm", "-e", "A=1", "--cpu-quota", "50000", "-it", "--name", "app", "img",
                       "sh", "-c", "x"], Path("/tmp/p.json"), advice, OPTIONS, CID)
    assert plan.argv == ["docker", "run", "--cidfile", "/tmp/cid", "--security-opt", "seccomp=/tmp/p.json",
                         "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN", "--rm", "-e", "A=1", "--cpu-quota", "50000",
                         "-it", "--name", "app", "img", "sh", "-c", "x"]
    assert (plan.name, plan.named_here, plan.removes_itself) == ("app", False, True)
    # "--name x" after the image is the program's argument: the container gets a name of ours
    unnamed = plan_rerun(["docker", "container", "run", "--rm=false", "img", "--name", "x"], Path("/p"), advice,
                         OPTIONS, CID)
    assert unnamed.named_here and unnamed.name.startswith("eunomia-verify-") and not unnamed.removes_itself
    assert unnamed.argv[-6:] == ["--name", unnamed.name, "--rm=false", "img", "--name", "x"]
    assert plan_rerun(["docker", "run", "--name=web", "-eA=1", "img"], Path("/p"), advice, OPTIONS, CID).name == "web"


@pytest.mark.parametrize("argv, message", [
    (["podman", "run", "img"], "as a `docker run"),
    (["docker", "run", "--privileged", "img"], "already sets --privileged"),
    (["docker", "run", "--cap-add=NET_ADMIN", "img"], "already sets --cap-add"),
    (["docker", "run", "--oom-score-adj", "500", "--cap-add", "SYS_ADMIN", "img"], "already sets --cap-add"),
    (["docker", "run", "--security-opt", "seccomp=unconfined", "img"], "already sets --security-opt"),
    (["docker", "run", "-tid", "img"], "runs detached"),
    (["docker", "run", "--no-such-option", "img"], "no option --no-such-option"),
    (["docker", "run", "-Z", "img"], "no option -Z"),
])
def test_rerun_refuses_what_would_void_the_proof(argv: list[str], message: str) -> None:
    with pytest.raises(AdviceError, match=message):
        plan_rerun(argv, Path("/p"), advise_caps([recorded()]), OPTIONS, CID)


def test_judge_names_denied_syscalls_and_capabilities() -> None:
    one = recorded(exit_code=0)
    caps = advise_caps([one])
    verdict = judge(one, {"read", "write", "chown"}, caps, exit_code=1, stdout=None,
                    eperm={"mkdirat": 2, "chown": 1},
                    capabilities={"CAP_CHOWN": {"checks": [check("chown", "fchownat", denied=1)]},
                                  "CAP_SYS_ADMIN": {"checks": [check("sh", "mmap", denied=4)]}})
    assert not verdict.ok and verdict.recorded_exit_code == 0
    assert verdict.denied_syscalls == {"mkdirat": 2} and verdict.other_eperm == {"chown": 1}
    assert verdict.denied_capabilities == {"CAP_CHOWN": ["chown"]}  # the mmap probe is not named
    same = judge(one, {"read"}, caps, exit_code=0, stdout=None, eperm={}, capabilities={})
    assert same.ok and same.denied_syscalls == {}
    # denied while recorded too: not what the advice changed
    kill = recorded(capabilities={"CAP_KILL": {"checks": [check("kill", "kill", denied=1)]}})
    verdict = judge(kill, set(), advise_caps([kill]), 0, None, {},
                    {"CAP_KILL": {"checks": [check("kill", "kill", denied=1)]}})
    assert verdict.denied_capabilities == {}
    # nothing to compare: the container was still running when the recording ended
    with pytest.raises(AdviceError, match="no exit code to compare with"):
        judge(recorded(exit_code=None), set(), caps, 0, None, {}, {})


def test_judge_compares_stdout_only_when_recorded(tmp_path: Path) -> None:
    (tmp_path / "command.stdout").write_bytes(b"hello\n")
    one = RecordedContainer(tmp_path, "x86_64", recorded(exit_code=None).report, {"argv": ["docker"], "exit_code": 0,
                                                                    "stdout": "command.stdout"})
    caps = advise_caps([one])
    assert judge(one, set(), caps, 0, b"hello\n", {}, {}).ok
    assert judge(one, set(), caps, 0, b"bye\n", {}, {}).stdout_matches is False
    with pytest.raises(AdviceError, match="holds no output of its command"):
        judge(recorded(), set(), caps, 0, b"x", {}, {})


# -- the recordings advise reads: the loader of `eunomia report`, nothing stricter or looser ------

def _advisable(tmp_path: Path) -> Path:
    """A complete recording whose web container has syscalls and per-check capability detail."""
    reports = sample_reports()
    reports[WEB]["capabilities"] = {"CAP_NET_BIND_SERVICE": {
        "granted": 1, "denied": 0, "processes": ["nginx"],
        "checks": [check("nginx", "bind", granted=1)]}}
    return write_recording(tmp_path / "rec", reports=reports)


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    lambda text: text.encode("utf-16"),
    lambda text: text.replace('"testhost"', '"test\\udcffhost"').encode("utf-8"),   # a lone surrogate
])
def test_advice_reads_what_report_reads(tmp_path: Path, encode) -> None:
    directory = _advisable(tmp_path)
    for path in (directory / "index.json", directory / FOLDERS[WEB] / "report.json"):
        path.write_bytes(encode(path.read_text(encoding="utf-8")))
    (one,) = load_container([directory], WEB)
    assert one.machine == "x86_64" and one.report["syscalls"]["read"] == 900
    assert one.report["capabilities"]["CAP_NET_BIND_SERVICE"]["checks"][0]["process"] == "nginx"


@pytest.mark.parametrize("value", [None, [1], "many"])
def test_wrong_typed_loss_counters_are_a_bad_recording(tmp_path: Path, value: Any) -> None:
    directory = _advisable(tmp_path)
    doc = index_doc()
    doc["stats"]["trackers"]["syscall"] = {"lost": value, "map_full": 0}
    (directory / "index.json").write_text(json.dumps(doc))
    with pytest.raises(AdviceError, match="index.json: invalid at /stats/trackers/syscall/lost: "):
        load_container([directory], WEB)


def test_losses_are_a_warning(tmp_path: Path) -> None:
    directory = _advisable(tmp_path)
    doc = index_doc()
    doc["stats"]["trackers"] = {"syscall": {"lost": 3, "map_full": 2}, "cap": {"lost": 1}}
    (directory / "index.json").write_text(json.dumps(doc))
    (one,) = load_container([directory], WEB)
    assert any("lost 4 events and could not count 2" in w for w in one.warnings)


def test_reports_that_are_not_advice_material(tmp_path: Path) -> None:
    directory = _advisable(tmp_path)
    (directory / FOLDERS[DB] / "report.json").unlink()
    with pytest.raises(AdviceError, match="the report of 'db' was never written"):
        load_container([directory], DB)
    (directory / FOLDERS[DB] / "events.jsonl").write_text(json.dumps(sample_events()[DB][0]) + "\n")
    with pytest.raises(AdviceError, match="rebuilt from its events.jsonl"):
        load_container([directory], DB)
    (directory / "index.json").unlink()  # its report.json is complete, but the machine is unknown
    with pytest.raises(AdviceError, match="has no index.json .*: the machine it was recorded on is unknown"):
        load_container([directory], WEB)


def test_advice_errors_are_one_bounded_line(tmp_path: Path) -> None:
    directory = _advisable(tmp_path)
    doc = index_doc()
    doc["containers"][1]["name"] = "\x1b]0;pwned\x07" + "N" * 5_000_000
    (directory / "index.json").write_text(json.dumps(doc))
    with pytest.raises(AdviceError) as caught:
        load_container([directory], "nginx")
    message = str(caught.value)
    assert len(message) <= 500 and "\n" not in message and "\x1b" not in message and "\x07" not in message
    # messages made by the advice itself are bounded too
    long_name = "x" * 1_000_000
    with pytest.raises(AdviceError) as caught:
        advise_seccomp([recorded({"read": 1, long_name + "; rm -rf /\n": 1})])
    assert len(str(caught.value)) <= 500 and "\n" not in str(caught.value)
