"""What a retrack carries from one session to the next (eunomia.pipeline.carry)."""

from __future__ import annotations

from eunomia.pipeline.carry import add_counts, forget_containers, merge_aggregates

WEB = {"id": "a" * 64, "name": "web", "image": "nginx"}
DB = {"id": "b" * 64, "name": "db", "image": "postgres"}


def test_summaries_add_up() -> None:
    before = {"trackers": {"file": {"received": {"open": 3}, "lost": 1}}, "lost": 1, "undecodable": 0}
    now = {"trackers": {"file": {"received": {"open": 2, "unlink": 1}, "lost": 0}, "exec": {"received": {}}},
           "lost": 0, "undecodable": 2}
    assert add_counts(before, now) == {
        "trackers": {"file": {"received": {"open": 5, "unlink": 1}, "lost": 1}, "exec": {"received": {}}},
        "lost": 1, "undecodable": 2}


def test_file_records_merge_by_identity_and_keep_the_known_path() -> None:
    carried = [{"type": "file_bytes", "container": WEB, "file": {"path": "/tmp/a", "inode": 7, "device": "0:40"},
                "opens": 5, "reads": 0, "writes": 5, "bytes_read": 0, "bytes_written": 10},
               {"type": "file_bytes", "container": DB, "file": {"path": "/db", "inode": 7, "device": "0:41"},
                "opens": 1, "reads": 1, "writes": 0, "bytes_read": 9, "bytes_written": 0, "runtime_setup": True}]
    live = [{"type": "file_bytes", "container": {**WEB, "name": "web2"},   # renamed meanwhile
             "file": {"path": None, "inode": 7, "device": "0:40"},          # found open: no path
             "opens": 0, "reads": 0, "writes": 2, "bytes_read": 0, "bytes_written": 4},
            {"type": "file_bytes", "container": DB, "file": {"path": "/db", "inode": 7, "device": "0:41"},
             "opens": 1, "reads": 0, "writes": 0, "bytes_read": 0, "bytes_written": 0}]
    merged = merge_aggregates(carried, live)
    assert merged == [
        {"type": "file_bytes", "container": {**WEB, "name": "web2"},
         "file": {"path": "/tmp/a", "inode": 7, "device": "0:40"},
         "opens": 5, "reads": 0, "writes": 7, "bytes_read": 0, "bytes_written": 14},
        {"type": "file_bytes", "container": DB, "file": {"path": "/db", "inode": 7, "device": "0:41"},
         "opens": 2, "reads": 1, "writes": 0, "bytes_read": 9, "bytes_written": 0}]  # the workload opened it too
    assert forget_containers(merged, {WEB["id"]}) == merged[1:]


def test_syscall_and_udp_records() -> None:
    carried = [{"type": "syscalls", "container": WEB, "syscalls": {"read": 4, "write": 1}, "runtime_syscalls": {},
                "total": 5},
               {"type": "udp_peers", "container": WEB, "destination": {"ip": "10.0.0.1", "port": 53, "container": None},
                "bytes_sent": 40, "bytes_received": 80, "packets_sent": 1, "packets_received": 1}]
    live = [{"type": "syscalls", "container": WEB, "syscalls": {"write": 2, "close": 1}, "runtime_syscalls": {},
             "total": 3},
            {"type": "udp_peers", "container": WEB, "destination": {"ip": "10.0.0.1", "port": 5353, "container": None},
             "bytes_sent": 1, "bytes_received": 0, "packets_sent": 1, "packets_received": 0}]
    merged = merge_aggregates(carried, live)
    assert merged[0]["syscalls"] == {"read": 4, "write": 3, "close": 1} and merged[0]["total"] == 8
    assert [r["destination"]["port"] for r in merged[1:]] == [53, 5353]  # another port: another peer


def test_capability_lists_merge_not_replace() -> None:
    def check(process: str, syscall: str | None, granted: int, denied: int = 0) -> dict:
        return {"process": process, "syscall": syscall, "credentials": "own", "probe": False,
                "granted": granted, "denied": denied}
    carried = [{"type": "capabilities", "container": WEB, "capabilities": {
        "CAP_CHOWN": {"granted": 2, "denied": 0, "processes": ["chown"], "checks": [check("chown", "fchownat", 2)]}}}]
    live = [{"type": "capabilities", "container": WEB, "capabilities": {
        "CAP_CHOWN": {"granted": 1, "denied": 1, "processes": ["nginx", "chown"],
                      "checks": [check("chown", "fchownat", 1), check("nginx", "chown", 0, 1)]},
        "CAP_KILL": {"granted": 1, "denied": 0, "processes": ["sh"], "checks": [check("sh", "kill", 1)]}}}]
    [merged] = merge_aggregates(carried, live)
    chown = merged["capabilities"]["CAP_CHOWN"]
    assert (chown["granted"], chown["denied"]) == (3, 1)
    assert chown["processes"] == ["chown", "nginx"]                # the union: chown from before stays
    assert chown["checks"] == [check("chown", "fchownat", 3), check("nginx", "chown", 0, 1)]
    assert merged["capabilities"]["CAP_KILL"]["checks"] == [check("sh", "kill", 1)]
