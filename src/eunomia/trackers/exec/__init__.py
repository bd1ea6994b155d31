"""exec: process lifecycle — fork, exec (successful and failed), exit."""

from eunomia.trackers import TrackerDef


def login_uid(value: int) -> int:
    """The audit login uid; -1 when none was set (as /proc/<pid>/loginuid's 4294967295 means)."""
    return -1 if value == 0xFFFFFFFF else value


TRACKER = TrackerDef(
    name="exec",
    summary="process lifecycle: exec (with argv, cwd, failures) and exit (code, lifetime)",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop"),
    # failed execs come from syscall tracepoints; without tracefs they are off
    optional_programs={
        "handle_enter_execve": "tracepoint", "handle_enter_execveat": "tracepoint",
        "handle_exit_execve": "tracepoint", "handle_exit_execveat": "tracepoint",
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
