"""exec: process lifecycle — fork, exec (successful and failed), exit."""

from eunomia.trackers import TrackerDef

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
    fields={
        "executable": "process.executable",
        "cwd": "process.working_directory",
        "args": "process.args",
        "filename": "process.command_path",
        "tty": "process.tty",
        "exe_flags": "process",         # eun_exe_flags → executable_in_upper_layer, executable_in_memory
        "result": "result",
        "status": "process",           # eun_wait_status → exit_code (+ exit_signal)
        "duration": "process.duration_ms",
        "child_pid": "process.child.pid",
    },
)
