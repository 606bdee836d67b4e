"""Programs the multi-process and crash tests run as real subprocesses.

python tests/workers.py append TARGET SESSION COUNT THREADS TAG
    append COUNT events from each of THREADS threads; print nothing
python tests/workers.py async-append TARGET SESSION COUNT TASKS TAG
    the same, from TASKS tasks of an AsyncStore
python tests/workers.py create TARGET SESSION
    create the session; print "created" or "exists"
python tests/workers.py forever TARGET SESSION
    append events until killed; print each event's id once its append returned
python tests/workers.py serve TARGET
    fork the processes each line of stdin asks for, from this one whose imports (and
    TARGET's backend's) are done: a fork takes milliseconds, a new interpreter half a
    second. They all print to this one's stdout, in lines shorter than a pipe's atomic
    write, so that they never mix. A line is split as a shell would: "spawn N COMMAND
    TARGET ARGS..." forks N processes that each run COMMAND (one of the above); "kill"
    SIGKILLs them, "wait" waits for them, and each then prints "done" and the exit status
    of each (-9 for a kill)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator

import agentstore
import agentstore.aio
from agentstore import SessionExistsError, new_event


def _open(target: str) -> agentstore.Store:
    """Open the target with the options the test passes in AGENTSTORE_TEST_OPTIONS."""
    return agentstore.open(target, **json.loads(os.environ.get("AGENTSTORE_TEST_OPTIONS", "{}")))


def append(target: str, session_id: str, count: int, threads: int, tag: str) -> None:
    with _open(target) as store:

        def write(thread: int) -> None:
            for n in range(count):
                store.append(session_id, new_event("step", {"tag": tag, "thread": thread, "n": n}))

        workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()


async def async_append(target: str, session_id: str, count: int, tasks: int, tag: str) -> None:
    options = json.loads(os.environ.get("AGENTSTORE_TEST_OPTIONS", "{}"))
    async with agentstore.aio.open(target, **options) as store:

        async def write(task: int) -> None:
            for n in range(count):
                payload = {"tag": tag, "thread": task, "n": n}
                await store.append(session_id, new_event("step", payload))

        await asyncio.gather(*(write(task) for task in range(tasks)))


def create(target: str, session_id: str) -> None:
    with _open(target) as store:
        try:
            store.create_session(id=session_id)
        except SessionExistsError:
            outcome = "exists"
        else:
            outcome = "created"
        sys.stdout.write(f"{outcome}\n")  # one write: forked processes share a pipe
        sys.stdout.flush()


def forever(target: str, session_id: str) -> None:
    with _open(target) as store:
        n = 0
        while True:
            event = store.append(session_id, new_event("tick", {"n": n, "pad": "x" * (n % 300)}))
            sys.stdout.write(f"{event.id}\n")
            sys.stdout.flush()
            n += 1


def serve(target: str, commands: Callable[[str, list[str]], None] | None = None) -> None:
    """Fork the processes stdin asks for, each running one of ``commands`` (ours)."""
    _preload(target)
    children: list[int] = []
    while line := sys.stdin.readline():
        command, *args = shlex.split(line)
        if command == "spawn":
            for _ in range(int(args[0])):
                child = os.fork()
                if child == 0:
                    _forked(commands or run, args[1], args[2:])
                children.append(child)
        elif command in ("kill", "wait"):
            if command == "kill":
                for child in children:
                    os.kill(child, signal.SIGKILL)
            statuses = [os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) for child in children]
            children.clear()
            print("done", *statuses, flush=True)
        else:
            raise SystemExit(f"unknown command {command!r}")
    for child in children:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def _preload(target: str) -> None:
    """Import the backend of ``target`` once, for every process forked from this one."""
    if target.startswith(("postgres://", "postgresql://")):
        importlib.import_module("agentstore.backends.postgres")
    elif target.startswith("sqlite:"):
        importlib.import_module("agentstore.backends.sqlite")
    else:
        importlib.import_module("agentstore.backends.jsonl.backend")


def _forked(commands: Callable[[str, list[str]], None], command: str, args: list[str]) -> None:
    """Run ``command`` in a forked process, which ends with it and never returns."""
    status = 0
    try:
        commands(command, args)
    except BaseException:  # noqa: BLE001 - a forked process must end in os._exit
        sys.stdout.write(f"failed: {command}\n")
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


# The test's side of ``serve``.


@contextlib.contextmanager
def serving(server: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """A ``serve`` worker, ended with the block: its stdin closed, it kills what it forked."""
    try:
        yield server
    finally:
        _, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors


def spawn(command: str, *args: str, count: int = 1) -> str:
    """The line that asks a ``serve`` worker for ``count`` processes running ``command``."""
    return shlex.join(["spawn", str(count), command, *args])


def send(server: subprocess.Popen[str], *lines: str) -> None:
    """Send lines to a ``serve`` worker, which forks the processes they ask for."""
    assert server.stdin is not None
    server.stdin.write("".join(f"{line}\n" for line in lines))
    server.stdin.flush()


def until_done(server: subprocess.Popen[str]) -> tuple[list[str], list[int]]:
    """The lines its processes printed before the worker's ``done``, and their statuses."""
    assert server.stdout is not None
    lines: list[str] = []
    while line := server.stdout.readline():
        if line.startswith("done"):
            return lines, [int(status) for status in line.split()[1:]]
        lines.append(line.strip())
    raise AssertionError(server.communicate(timeout=30)[1])


def run(command: str, args: list[str]) -> None:
    if command == "append":
        append(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif command == "async-append":
        asyncio.run(async_append(args[0], args[1], int(args[2]), int(args[3]), args[4]))
    elif command == "create":
        create(args[0], args[1])
    elif command == "forever":
        forever(args[0], args[1])
    elif command == "serve":
        serve(args[0])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2:])
