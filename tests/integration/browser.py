"""Open a local HTML file in Debian's Chromium and report what the page did.

Chromium (/usr/bin/chromium, or $EUNOMIA_CHROMIUM) is started here, headless,
with its own temporary profile and DevTools on a loopback port; Playwright
attaches to it over CDP (`connect_over_cdp`), so no browser is downloaded and
this module owns the browser process: a watchdog kills its whole process
group when the time is up, and it is always killed at the end.

    with open_page(Path("report.html")) as page:
        assert not page.console_errors and not page.page_errors and not page.dialogs
        assert page.other_requests == []
        assert page.count("img") == 0
        assert "web" in page.text
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

CHROMIUM = os.environ.get("EUNOMIA_CHROMIUM", "/usr/bin/chromium")
SETTLE_MS = 300   # after "load": time for late console messages and requests

FLAGS = ["--headless=new", "--no-sandbox", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
         "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--disable-gpu", "--mute-audio", "--password-store=basic", "--use-mock-keychain"]


class BrowserError(RuntimeError):
    pass


def chromium_missing() -> Optional[str]:
    """Why the browser cannot be used here, or None when it can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-deps.sh does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    return None


@dataclass
class PageResult:
    """What a page did while it loaded, and a live view of its DOM (inside `open_page` only)."""

    url: str
    console: list[tuple[str, str]] = field(default_factory=list)   # (type, text) of every console message
    page_errors: list[str] = field(default_factory=list)           # uncaught exceptions
    dialogs: list[tuple[str, str]] = field(default_factory=list)   # (type, message): alert, confirm, prompt
    requests: list[str] = field(default_factory=list)              # every URL the page requested
    text: str = ""                                                 # document.body.innerText
    browser_version: str = ""
    _page: Any = field(default=None, repr=False)

    @property
    def console_errors(self) -> list[tuple[str, str]]:
        return [(kind, text) for kind, text in self.console if kind in ("error", "warning")]

    @property
    def other_requests(self) -> list[str]:
        """Requests for anything but the page itself (a self-contained page makes none)."""
        return [u for u in self.requests if u != self.url]

    def count(self, selector: str) -> int:
        return self._page.locator(selector).count()

    def texts(self, selector: str) -> list[str]:
        return self._page.locator(selector).all_text_contents()

    def attributes(self, selector: str, name: str) -> list[Optional[str]]:
        return self._page.eval_on_selector_all(selector, "(els, n) => els.map(e => e.getAttribute(n))", name)

    def evaluate(self, expression: str) -> Any:
        return self._page.evaluate(expression)

    def wait_for(self, selector: str, timeout_s: float = 20.0) -> None:
        """Until an element matching `selector` is in the page (a live page fills itself)."""
        self._page.wait_for_selector(selector, state="attached", timeout=timeout_s * 1000)

    def fill(self, selector: str, value: str) -> None:
        self._page.fill(selector, value)

    def click(self, selector: str) -> None:
        self._page.click(selector)

    def screenshot(self, path: Path) -> None:
        self._page.screenshot(path=str(path), full_page=True)


@contextlib.contextmanager
def open_page(target: Path | str, timeout: float = 60.0) -> Iterator[PageResult]:
    """Load `target` (a file, or an http:// URL on loopback) in a fresh headless
    Chromium; everything is over within `timeout` seconds."""
    why = chromium_missing()
    if why:
        raise BrowserError(why)
    from playwright.sync_api import sync_playwright

    url = target if isinstance(target, str) else target.resolve().as_uri()
    workdir = Path(tempfile.mkdtemp(prefix="eunomia-chromium-"))
    proc: Optional[subprocess.Popen] = None
    watchdog: Optional[threading.Timer] = None
    try:
        with open(workdir / "stderr.log", "wb") as log:
            proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile'}", "about:blank"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        watchdog = threading.Timer(timeout, _kill, args=(proc,))
        watchdog.daemon = True
        watchdog.start()
        deadline = time.monotonic() + timeout
        port = _devtools_port(workdir, proc, deadline)
        ms = max(1000.0, (deadline - time.monotonic()) * 1000)
        with sync_playwright() as pw:
            browser = pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}", timeout=ms)
            try:
                result = PageResult(url=url, browser_version=browser.version)
                context = browser.new_context(java_script_enabled=True)
                context.set_default_timeout(ms)
                page = context.new_page()
                page.on("console", lambda m: result.console.append((m.type, m.text)))
                page.on("pageerror", lambda e: result.page_errors.append(str(e)))
                page.on("dialog", lambda d: (result.dialogs.append((d.type, d.message)), d.dismiss()))
                page.on("request", lambda r: result.requests.append(r.url))
                page.goto(url, wait_until="load", timeout=ms)
                page.wait_for_timeout(SETTLE_MS)
                result.text = page.evaluate("document.body ? document.body.innerText : ''")
                result._page = page
                yield result
                result._page = None
            finally:
                with contextlib.suppress(Exception):
                    browser.close()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if proc is not None:
            _kill(proc)
        log_text = _tail(workdir / "stderr.log")
        shutil.rmtree(workdir, ignore_errors=True)
        if proc is not None and proc.returncode not in (None, 0, -signal.SIGKILL, -signal.SIGTERM):
            # a crash is worth seeing when a test fails
            print(f"chromium exited with {proc.returncode}: {log_text}")


def _devtools_port(workdir: Path, proc: subprocess.Popen, deadline: float) -> int:
    """Chromium writes the port it chose to <profile>/DevToolsActivePort."""
    marker = workdir / "profile" / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with {proc.returncode}: {_tail(workdir / 'stderr.log')}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.05)
    raise BrowserError(f"chromium did not open DevTools in time: {_tail(workdir / 'stderr.log')}")


def _kill(proc: subprocess.Popen) -> None:
    """Kill the browser and its helpers (renderer, GPU, zygote): its own process group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)   # helpers still alive in the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""
