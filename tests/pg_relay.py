"""A TCP relay in front of the test PostgreSQL server, which can go away and come back.

The shared server cannot be stopped by a test; its clients can lose it all the same: while
the relay is down, connecting is refused and every connection through it is cut, as when
a server host goes away; once it is up again, on the same port, connections reach the
real server again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Relay"]


class Relay:
    """Relays ``127.0.0.1:<port>`` to the server of ``url``; :attr:`url` reaches it through us."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._server = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.up()
        netloc = f"{parts.username}@127.0.0.1:{self.port}" if parts.username else None
        self.url = urlunsplit(parts._replace(netloc=netloc or f"127.0.0.1:{self.port}"))

    def up(self) -> None:
        """Accept connections again, on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse connections and cut those open."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting on it
            listener.close()
        with self._lock:
            cut, self._sockets = self._sockets, []
        for end in cut:
            with contextlib.suppress(OSError):  # already closed by its pump
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Go down for good."""
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # down
                return
            server = socket.create_connection(self._server)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=_pump, args=(client, server), daemon=True).start()


def _pump(client: socket.socket, server: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([client, server], [], [])
            for end in readable:
                data = end.recv(65536)
                if not data:
                    return
                (server if end is client else client).sendall(data)
    except (OSError, ValueError):  # cut
        return
    finally:
        client.close()
        server.close()
