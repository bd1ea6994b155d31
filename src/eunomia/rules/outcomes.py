"""What an event's outcome settles: whether the operation worked, failed or has no result.

The generated rule functions (codegen.py) are made per event kind and outcome,
so checks such as `fd.num >= 0` or `evt.res = SUCCESS` are decided when the
function is made; each field that can be settled so has a decide function here.
"""

from __future__ import annotations

from typing import Any, Callable

Event = dict[str, Any]

# decide(kind, outcome, op, constant, compare) → the check's answer when the event's kind and
# outcome (its result: True worked, False failed, None none) settle it, else None
Decide = Callable[[str, "bool | None", str, Any, Callable[[Any], bool]], "bool | None"]


def worked(event: Event) -> bool:
    """Did the operation succeed (a signal: delivered, ignored, …; else a result >= 0)?"""
    result = event.get("result")
    if event.get("type") == "signal":  # delivered, ignored, …: what the kernel did; an errno name failed
        return result == 0 or (isinstance(result, str) and not result.startswith("E"))
    return isinstance(result, int) and result >= 0


def outcome(event: Event) -> bool | None:
    """Did the operation work?  None: the event has no result (an attempt seen at entry, an exit)."""
    result = event.get("result")
    if result is None:
        return None
    if type(result) is int and event.get("type") != "signal":  # the common case, as worked() says it
        return result >= 0
    return worked(event)


def _sign_decides(nonnegative: bool, op: str, c: Any) -> bool | None:
    """A check on a value known only to be >= 0 (nonnegative) or < 0, when the sign settles it."""
    if not isinstance(c, int) or isinstance(c, bool):
        return None
    if nonnegative:
        answers = {">=": True if c <= 0 else None, ">": True if c < 0 else None, "<": False if c <= 0 else None,
                   "<=": False if c < 0 else None, "=": False if c < 0 else None, "!=": True if c < 0 else None}
    else:
        answers = {">=": False if c >= 0 else None, ">": False if c >= -1 else None, "<": True if c >= 0 else None,
                   "<=": True if c >= -1 else None, "=": False if c >= 0 else None, "!=": True if c >= 0 else None}
    return answers.get(op)


def rawres_decides(kind: str, done: bool | None, op: str, c: Any, compare: Callable[[Any], bool]) -> bool | None:
    return False if done is None else _sign_decides(done, op, c)


def fd_num_decides(kind: str, done: bool | None, op: str, c: Any, compare: Callable[[Any], bool]) -> bool | None:
    if kind != "open":
        return False  # no descriptor: the value is None
    if done is None:
        return None
    return _sign_decides(True, op, c) if done else compare(-1)


def res_decides(kind: str, done: bool | None, op: str, c: Any, compare: Callable[[Any], bool]) -> bool | None:
    if done is None:
        return False
    if done:
        return compare("SUCCESS")
    # an errno name: ENOENT, EACCES, … (an unnamed one is E<number>)
    if op == "startswith" and c in ("E", ""):
        return True
    if op in ("=", "!=") and c == "SUCCESS":
        return op == "!="
    return None


def failed_decides(kind: str, done: bool | None, op: str, c: Any, compare: Callable[[Any], bool]) -> bool | None:
    return False if done is None else compare(not done)
