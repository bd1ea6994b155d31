"""The API's HTTP server: uvicorn on its own thread and event loop.

    with ApiServer(app_for, ("127.0.0.1", 8527)) as server:   # OSError naming the fix when it cannot bind
        server.port, server.loop
        ...                                                   # the pump goes on on the main thread

The socket is bound here, before the thread starts, so a port in use is an
error of `eunomia run`, not a log line of a thread that died.  The app is
made once the port is bound (`app_for(port)`; port 0 takes a free one), so
it knows the address it answers to from its first request.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable

import uvicorn

STARTUP_SECONDS = 10.0


class ApiServer:
    def __init__(self, app_for: Callable[[int], Any], address: tuple[str, int],
                 on_stop: Callable[[], None] | None = None) -> None:
        self.app_for, self.address, self.on_stop = app_for, address, on_stop
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> "ApiServer":
        host, port = self.address
        self._socket = _bind(host, port)
        self._port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(self.app_for(self._port), log_config=None, log_level="warning", access_log=False,
                                lifespan="off", ws="none", timeout_graceful_shutdown=1, server_header=False)
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            async def main() -> None:
                self.loop = asyncio.get_running_loop()
                assert self._server is not None and self._socket is not None
                startup = asyncio.ensure_future(self._server.serve(sockets=[self._socket]))
                while not self._server.started and not startup.done():
                    await asyncio.sleep(0.01)
                ready.set()
                await startup
            try:
                asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - reported to the thread that waits
                failure.append(exc)
            finally:
                ready.set()
        self._thread = threading.Thread(target=serve, name="eunomia-api", daemon=True)
        self._thread.start()
        if not ready.wait(STARTUP_SECONDS) or failure or not self._server.started:
            self.__exit__(None, None, None)
            raise OSError(f"the API server on {host}:{port} did not start"
                          f"{': ' + str(failure[0]) if failure else ''}")
        return self

    @property
    def port(self) -> int:
        return getattr(self, "_port", self.address[1])

    def __exit__(self, *exc: object) -> None:
        if self.on_stop is not None:
            self.on_stop()  # e.g. the streams end, so that no response keeps the server waiting
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._socket is not None:
            self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot serve the API on {host}:{port}: {exc.strerror}; "
                                 "give another --api HOST:PORT (or --api off)") from None
    return sock
