"""exec: process lifecycle — fork, exec (successful and failed), exit."""

from eunomia.trackers import Handles, TrackerDef


def login_uid(value: int) -> int:
    """The audit login uid; -1 when none was set (as /proc/<pid>/loginuid's 4294967295 means)."""
    return -1 if value == 0xFFFFFFFF else value


TRACKER = TrackerDef(
    name="exec",
    summary="process lifecycle: exec (with argv, cwd, failures) and exit (code, lifetime)",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop", "tp_btf"),
    # failed execs: the call's pointers kept at entry, read at a failed exit;
    # every task's calls (the entry counts those the filter discards, the
    # exit drops the entry's state)
    syscall_handlers={
        "enter__execve": Handles(("execve",), every_task=True),
        "enter__execveat": Handles(("execveat",), every_task=True),
        "exit__execve": Handles(("execve", "execveat"), every_task=True),
    },
    ringbuf_bytes=2 << 20,
    # fork events keep the process table's parent chain; they are not printed
    printed_kinds=("exec", "exit"),
    formatters={"eun_login_uid": login_uid},
    fields={
        "executable": "process.executable",
        "cwd": "process.working_directory",
        "args": "process.args",
        "filename": "process.command_path",
        "tty": "process.tty",
        "loginuid": "user.login_id",
        "exe_flags": "process",         # eun_exe_flags → executable_in_upper_layer, executable_in_memory
        "result": "result",
        "status": "process",           # eun_wait_status → exit_code (+ exit_signal)
        "duration": "process.duration_ms",
        "child_pid": "process.child.pid",
    },
)
