"""Programs the multi-process and crash tests run as real subprocesses.

python tests/workers.py append TARGET SESSION COUNT THREADS TAG
    append COUNT events from each of THREADS threads; print nothing
python tests/workers.py async-append TARGET SESSION COUNT TASKS TAG
    the same, from TASKS tasks of an AsyncStore
python tests/workers.py create TARGET SESSION
    create the session; print "created" or "exists"
python tests/workers.py forever TARGET SESSION
    append events until killed; print each event's id once its append returned
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

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
            print("exists", flush=True)
        else:
            print("created", flush=True)


def forever(target: str, session_id: str) -> None:
    with _open(target) as store:
        n = 0
        while True:
            event = store.append(session_id, new_event("tick", {"n": n, "pad": "x" * (n % 300)}))
            sys.stdout.write(f"{event.id}\n")
            sys.stdout.flush()
            n += 1


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "append":
        append(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif command == "async-append":
        asyncio.run(async_append(args[0], args[1], int(args[2]), int(args[3]), args[4]))
    elif command == "create":
        create(args[0], args[1])
    elif command == "forever":
        forever(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command!r}")
