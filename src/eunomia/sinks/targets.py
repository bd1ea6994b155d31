"""What the network sinks share: their target URLs and HTTP POSTs."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import SplitResult, urlsplit

from . import SinkSpecError
from .queued import DeliveryError

HTTP_TIMEOUT_SECONDS = 5.0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would become a GET without its body: refuse it, and say where it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def shown(url: str) -> str:
    """A URL for messages: without credentials or query (they may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

def parse_url(kind: str, target: str, schemes: tuple[str, ...], usage: str,
              default_port: int | None = None) -> SplitResult:
    """A sink's URL, checked: one of `schemes`, a host, a port."""
    url = urlsplit(target)
    if url.scheme not in schemes or not url.hostname:
        raise SinkSpecError(f"--sink {kind}:{target}: give {kind}:{usage}")
    try:
        port = url.port
    except ValueError:
        raise SinkSpecError(f"--sink {kind}:{target}: the port must be 1–65535") from None
    if port is None and default_port is None:
        raise SinkSpecError(f"--sink {kind}:{target}: give the port, {kind}:{usage}")
    return url


def post(url: str, body: bytes, content_type: str, what: str,
         retry_codes: tuple[int, ...] = (408, 429)) -> None:
    """POST body; a failure is a DeliveryError naming `what` (retried unless
    the answer is a 4xx outside retry_codes: asking again cannot help)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": "eunomia"})
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location") or "elsewhere"
            raise DeliveryError(f"{what}: HTTP {exc.code}: redirected to {shown(where)}; give that URL",
                                retry=False) from None
        detail = " ".join(exc.read(300).decode(errors="replace").split())
        retry = exc.code >= 500 or exc.code in retry_codes
        raise DeliveryError(f"{what}: HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}",
                            retry=retry) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{what}: {getattr(exc, 'reason', exc)}") from None
