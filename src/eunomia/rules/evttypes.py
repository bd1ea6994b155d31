"""Falco's event types on Eunomia's events.

Each Eunomia event type is the exit of one Falco event type (FALCO_TYPE),
and answers to the other names of the same operation too (ALIASES: an
`open` event is `openat`, `open`, `openat2` and `creat`).  The attempts the
syscall tracker sees at a syscall's entry (module loads, mounts) are Falco's
enter events and name the one syscall that was called.
"""

from __future__ import annotations

# Eunomia event type → the Falco event type it stands for (the exit of that syscall)
FALCO_TYPE = {
    "exec": "execve", "exit": "procexit", "open": "openat", "unlink": "unlinkat", "rmdir": "rmdir",
    "rename": "renameat2", "chmod": "fchmodat", "chown": "fchownat", "mkdir": "mkdirat", "symlink": "symlinkat",
    "link": "linkat", "truncate": "truncate", "connect": "connect", "accept": "accept4", "close": "close",
    "bind": "bind", "listen": "listen", "signal": "kill", "ptrace": "ptrace", "unix_connect": "connect",
    "socket": "socket", "dup": "dup", "module": "init_module", "mount": "mount",
}
# kinds seen at syscall entry (the syscall tracker's attempts): no result, evt.dir is `>`
ENTRY_KINDS = frozenset({"module", "mount"})
# kinds whose evt.type depends on the event, not only on its kind (a kill, or a signal the kernel sent;
# which syscall an attempt called)
DYNAMIC_TYPE_KINDS = frozenset({"signal"}) | ENTRY_KINDS
# Falco event types each Eunomia event also answers to (Falco has several syscalls for one operation)
ALIASES = {"execve": {"execveat"}, "openat": {"open", "openat2", "creat"}, "unlinkat": {"unlink"},
           "renameat2": {"rename", "renameat"}, "fchmodat": {"chmod", "fchmod", "fchmodat2"},
           "fchownat": {"chown", "lchown", "fchown"}, "mkdirat": {"mkdir"}, "symlinkat": {"symlink"},
           "linkat": {"link"}, "truncate": {"ftruncate"}, "accept4": {"accept"},
           "kill": {"tkill", "tgkill", "rt_sigqueueinfo", "pidfd_send_signal"}, "dup": {"dup2", "dup3"},
           "init_module": {"finit_module"}, "mount": {"umount", "umount2"}}
# Eunomia event type → every Falco name of it, the main one first
_NAMES_OF = {ours: [theirs, *sorted(ALIASES.get(theirs, ()))] for ours, theirs in FALCO_TYPE.items()}
EUNOMIA_TYPES: dict[str, set[str]] = {}
for _ours, _theirs in FALCO_TYPE.items():
    for _name in {_theirs, *ALIASES.get(_theirs, ())}:
        EUNOMIA_TYPES.setdefault(_name, set()).add(_ours)
