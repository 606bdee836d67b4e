"""The ``agentstore`` command, run in processes forked from one that has imported it.

A command run as ``agentstore ...`` spends about half a second starting the interpreter
and importing, the same for every command; forked from this program, once its imports are
done, a process spends only what its command does. It is still a process of its own: its
arguments, environment, working directory, standard streams and exit status are its own,
and it exits as the installed command does (``sys.exit`` of ``main()``, the threads it left
joined, the exit handlers run). The tests of the command itself starting (on a terminal,
following a log, the documentation's examples) run the installed command.

python tests/commands.py FD
    read requests from the socket FD, a JSON line each: {"args", "env", "cwd", "out",
    "err"}; run the command with those arguments, environment and working directory in a
    forked process whose stdout and stderr are the files "out" and "err"; answer with a
    JSON line holding its pid, then one holding its exit status once it has ended
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import locale
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

AGENTSTORE = str(Path(sys.executable).parent / "agentstore")


class Commands:
    """Runs commands in processes forked by a server it starts at its first command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._answers: Any = None

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run ``agentstore ARGS`` as ``subprocess.run(..., capture_output=True, text=True)``."""
        with self._lock, tempfile.TemporaryDirectory() as directory:
            out, err = Path(directory, "out"), Path(directory, "err")
            request = {"args": args, "env": env, "cwd": os.getcwd(), "out": str(out)}
            self._ask({**request, "err": str(err)})
            pid = self._answer(timeout)
            try:
                status = self._answer(timeout)
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self.close()  # a socket that timed out reads no more: the next starts anew
                raise subprocess.TimeoutExpired([AGENTSTORE, *args], timeout) from None
            encoding = locale.getpreferredencoding(False)
            return subprocess.CompletedProcess(
                [AGENTSTORE, *args],
                status,
                out.read_text(encoding=encoding),
                err.read_text(encoding=encoding),
            )

    def close(self) -> None:
        """End the server: it ends when its socket closes."""
        if self._server is not None and self._socket is not None:
            self._answers.close()
            self._socket.close()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            self._server = self._socket = self._answers = None

    def _ask(self, request: dict[str, Any]) -> None:
        if self._server is None:
            ours, theirs = socket.socketpair()
            self._server = subprocess.Popen(
                [sys.executable, __file__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdout=subprocess.DEVNULL,
                env={key: value for key, value in os.environ.items() if key != "AGENTSTORE_URL"},
            )
            theirs.close()
            self._socket, self._answers = ours, ours.makefile("rb")
        assert self._socket is not None
        self._socket.sendall(json.dumps(request).encode() + b"\n")

    def _answer(self, timeout: float) -> int:
        assert self._socket is not None
        self._socket.settimeout(timeout)
        line = self._answers.readline()
        if not line:
            raise RuntimeError("the command server ended")
        return int(json.loads(line))


def serve(fd: int) -> None:
    for module in ("cli", "backends.jsonl.backend", "backends.sqlite", "backends.postgres"):
        with contextlib.suppress(ImportError):  # PostgreSQL's driver is an extra
            importlib.import_module(f"agentstore.{module}")
    requests = socket.socket(fileno=fd)
    lines = requests.makefile("rb")
    while line := lines.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            _command(request)
        requests.sendall(b"%d\n" % pid)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        requests.sendall(b"%d\n" % status)


def _command(request: dict[str, Any]) -> None:
    """Run one command in this forked process, which ends with it."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for stream, path in ((1, request["out"]), (2, request["err"])):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(file, stream)
        os.close(file)
    sys.argv = [AGENTSTORE, *request["args"]]
    status = 0
    try:
        from agentstore.cli import main

        main()
    except SystemExit as done:  # what the interpreter makes of it
        if done.code is None:
            status = 0
        elif isinstance(done.code, int):
            status = done.code
        else:
            print(done.code, file=sys.stderr)
            status = 1
    except BaseException:  # noqa: BLE001 - printed as the interpreter would, then exit 1
        traceback.print_exc()
        status = 1
    for thread in threading.enumerate():  # the interpreter waits for them before exiting
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)


COMMANDS = Commands()
atexit.register(COMMANDS.close)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
