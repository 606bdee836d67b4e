"""Process forks: a store opened before ``os.fork()``, used by the parent and the child.

What a pre-forking server or a ``multiprocessing`` pool with the "fork" start method does
with a store opened at import. The child must behave as if it had opened the store
itself: on a store shared between processes, parent and child append to one session at
once, every seq stays unique and gapless, every acknowledged event is there for a fresh
store, and ``verify`` finds nothing wrong. An in-memory store is copied by the fork: the
child appends to its own copy, and the parent's never sees it.

A child runs on a fork of the pytest process: it reports through a pipe and ends with
``os._exit``, whatever happens, so that it never returns into the test runner.
"""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from agentstore import Session, Store, new_event
from agentstore.backends.memory import MemoryBackend
from agentstore.testing.async_face import LoopThread, SyncFace
from agentstore.testing.conformance.base import StoreFactory, record
from agentstore.verifying import verify

_CHILD_DEADLINE = 60.0  # seconds: a child stuck on a lock the fork copied is ended after it

#: What an append acknowledged: the event's id and seq.
Acknowledged = list[tuple[str, int]]


class _Child:
    """A forked process running ``work(store)`` on its copy of ``store``; its answer is JSON.

    The child says it is ready before it works, and waits for :meth:`go`, so that parent
    and child start appending together.
    """

    def __init__(self, store: Store, work: Callable[[Store], Any]) -> None:
        if not hasattr(os, "fork"):
            pytest.skip("os.fork() exists on POSIX systems only")
        answer_read, answer_write = os.pipe()
        go_read, go_write = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock the
            # child: that fork is the very thing tested here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(answer_read)
            os.close(go_write)
            _child_main(store, work, go_read, answer_write)  # never returns
        os.close(answer_write)
        os.close(go_read)
        self.pid = pid
        self._answer = answer_read
        self._go = go_write

    def go(self) -> None:
        """Let the child start its work."""
        os.write(self._go, b"!")
        os.close(self._go)

    def answer(self) -> Any:
        """The child's answer, once it ended; a child that failed or hung fails the test."""
        data = b""
        deadline = time.monotonic() + _CHILD_DEADLINE
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._answer], [], [], left)[0]:
                    os.kill(self.pid, signal.SIGKILL)
                    pytest.fail("the forked child hung (a lock taken before the fork?)")
                chunk = os.read(self._answer, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(self._answer)
            _, status = os.waitpid(self.pid, 0)
        answer = json.loads(data) if data else {"error": f"the child died: status {status}"}
        if "error" in answer:
            pytest.fail(f"the forked child failed:\n{answer['error']}")
        return answer["result"]


def _child_main(store: Store, work: Callable[[Store], Any], go: int, answer: int) -> None:
    code = 1
    try:
        try:
            os.read(go, 1)
            result: dict[str, Any] = {"result": _work_in_child(store, work)}
            code = 0
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            result = {"error": "".join(traceback.format_exception(error))}
        data = json.dumps(result).encode()
        while data:
            data = data[os.write(answer, data) :]
    finally:
        os._exit(code)


def _work_in_child(store: Store, work: Callable[[Store], Any]) -> Any:
    if not isinstance(store, SyncFace):
        with store:
            return work(store)
    # An async store's calls ran on a loop in a thread of the parent's, which the fork did
    # not copy: the child runs the same AsyncStore on a loop of its own.
    with LoopThread() as loop, loop.face(store.async_store) as face:
        return work(face)


def _append(store: Store, session_id: str, writer: str, count: int) -> Acknowledged:
    return [
        (event.id, event.seq)
        for event in (
            store.append(session_id, new_event("step", {"writer": writer, "n": n}))
            for n in range(count)
        )
    ]


def _in_this_process_only(store: Store) -> bool:
    """Whether the store's data lives in this process's memory (a fork copies it)."""
    backend: object = store.async_store.backend if isinstance(store, SyncFace) else store.backend
    return isinstance(getattr(backend, "backend", backend), MemoryBackend)


def _check_shared(open_store: StoreFactory, session_id: str, acknowledged: Acknowledged) -> None:
    """A fresh store finds every acknowledged event at its seq, gapless, and nothing wrong."""
    with open_store() as fresh:
        events = fresh.get_events(session_id)
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert len({event.id for event in events}) == len(events)
        stored = {event.id: event.seq for event in events}
        assert {event_id: stored.get(event_id) for event_id, _ in acknowledged} == dict(
            acknowledged
        )
        assert verify(fresh, [session_id]).problems == []


class ProcessForkScenarios:
    fork_appends = 40

    def test_a_parent_and_its_forked_child_append_to_one_session(
        self, open_store: StoreFactory, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)  # the store has its files or connections open now
        count = self.fork_appends
        child = _Child(store, lambda mine: _append(mine, session.id, "child", count))
        child.go()
        ours = _append(store, session.id, "parent", count)
        theirs = [(event_id, seq) for event_id, seq in child.answer()]
        # The child closed its store: the parent's goes on.
        last = store.append(session.id, new_event("after"))
        if _in_this_process_only(store):
            assert [seq for _, seq in theirs] == list(range(3, count + 3))
            assert [seq for _, seq in ours] == list(range(3, count + 3))
            assert last.seq == count + 3
            assert not {event.id for event in store.get_events(session.id)} & dict(theirs).keys()
            return
        seqs = sorted(seq for _, seq in ours + theirs)
        assert seqs == list(range(3, 2 * count + 3))
        assert last.seq == 2 * count + 3
        _check_shared(open_store, session.id, [*ours, *theirs, (last.id, last.seq)])

    def test_a_fork_while_threads_append_leaves_the_child_a_working_store(
        self, open_store: StoreFactory, store: Store, session: Session
    ) -> None:
        # Other threads are inside the store at the fork, holding its locks: the child
        # has copies of those locks, held, and none of those threads.
        ours: Acknowledged = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def write(writer: int) -> None:
            n = 0
            try:
                while not stop.is_set():
                    stored = store.append(session.id, new_event("step", {"thread": writer, "n": n}))
                    ours.append((stored.id, stored.seq))
                    n += 1
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
                stop.set()

        threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        try:
            theirs: list[Acknowledged] = []
            for number in range(3):
                while len(ours) < 5 * (number + 1) and not errors:  # the writers are busy
                    time.sleep(0.001)
                child = _Child(store, lambda mine: _append(mine, session.id, "child", 10))
                child.go()
                theirs.append([(event_id, seq) for event_id, seq in child.answer()])
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert errors == []
        if _in_this_process_only(store):
            for acknowledged in theirs:  # each child appended to its copy, after its last
                seqs = [seq for _, seq in acknowledged]
                assert seqs == list(range(seqs[0], seqs[0] + 10))
            assert [seq for _, seq in sorted(ours, key=lambda ack: ack[1])] == list(
                range(1, len(ours) + 1)
            )
            return
        everything = ours + [ack for acknowledged in theirs for ack in acknowledged]
        assert sorted(seq for _, seq in everything) == list(range(1, len(everything) + 1))
        _check_shared(open_store, session.id, everything)
