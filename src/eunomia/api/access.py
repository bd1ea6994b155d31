"""Who may use the API: loopback by default, a bearer token when exposed.

    token = read_token(path, os.environ)      # --api-token-file, else EUNOMIA_API_TOKEN, else None
    check_exposure(("0.0.0.0", 8527), token)  # AccessError: not loopback and no token
    served_names("127.0.0.1", 8527)           # the Host headers it answers to: {"127.0.0.1:8527", ...}
    Bearer(token).allows(headers.get("authorization"))   # constant-time
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from typing import Mapping

from ..inputs import read_small_file, why_unreadable

TOKEN_ENV = "EUNOMIA_API_TOKEN"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_BYTES = 4096


class AccessError(ValueError):
    """The API cannot be served as asked; the message names the fix."""


def read_token(path: Path | None, environ: Mapping[str, str]) -> str | None:
    """The token from the file (its first line), else from the environment, else None."""
    if path is not None:
        try:
            raw = read_small_file(path, MAX_TOKEN_BYTES)
        except OSError as exc:
            raise AccessError(f"--api-token-file {path}: {why_unreadable(exc)}; give a readable file "
                              "holding the token") from None
        text, where = raw.decode("utf-8", "replace").strip().splitlines()[0] if raw.strip() else "", str(path)
    elif environ.get(TOKEN_ENV):
        text, where = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        return None
    if len(text) < MIN_TOKEN_CHARS or not text.isascii() or not text.isprintable() or " " in text:
        raise AccessError(f"{where}: the API token must be at least {MIN_TOKEN_CHARS} printable ASCII characters "
                          "without spaces, e.g. from `openssl rand -hex 32`")
    return text


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_names(host: str, port: int) -> frozenset[str]:
    """The Host headers a loopback server answers to: its address and loopback's
    names with the port (and without it on port 80, HTTP's default)."""
    names = {f"[{host}]" if ":" in host else host, "localhost", "127.0.0.1", "[::1]"}
    return frozenset({f"{n.lower()}:{port}" for n in names} | ({n.lower() for n in names} if port == 80 else set()))


def check_exposure(address: tuple[str, int], token: str | None) -> None:
    host, port = address
    if token is None and not is_loopback(host):
        shown = f"[{host}]" if ":" in host else host
        raise AccessError(f"--api {shown}:{port} is reachable from other machines: give a token with "
                          f"--api-token-file FILE (or {TOKEN_ENV}), or serve on 127.0.0.1")


class Bearer:
    """Checks an Authorization header against the token, in constant time."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def allows(self, header: bytes | str | None) -> bool:
        if header is None:
            return False
        given = header.encode("latin-1", "replace") if isinstance(header, str) else header
        return hmac.compare_digest(given, self._expected)
