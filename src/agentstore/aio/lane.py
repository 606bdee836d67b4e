"""Appends of concurrent tasks, committed together by backends that can.

SQLite writes one transaction at a time, and PostgreSQL flushes its log once a commit:
appends that arrive while a batch is being written wait for it, then go as the next
batch, in one transaction. The batch grows with the load, as a group commit's does; each
append stays all or none and fails alone (see :meth:`Backend.append_many`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from agentstore.backends.base import AppendRequest
from agentstore.errors import AgentStoreError, StoreClosedError
from agentstore.events import Event

__all__ = ["AppendLane", "Outcomes"]

Outcomes = list[list[Event] | AgentStoreError]
_Pending = list[tuple[AppendRequest, "asyncio.Future[list[Event]]"]]


class AppendLane:
    """Gathers appends while a batch is written, and hands the next batch to ``commit``.

    Args:
        commit: starts writing a batch (in a thread or a task) and returns the future of
            each append's events or error, in order; it must run to its end even when the
            tasks that asked are cancelled.
    """

    def __init__(self, commit: Callable[[list[AppendRequest]], asyncio.Future[Outcomes]]) -> None:
        self._commit = commit
        self._pending: _Pending = []
        self._writing = False

    def append(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> asyncio.Future[list[Event]]:
        """Queue an append; the future gives its events as stored, or its error."""
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        if not self._pending and not self._writing:
            asyncio.get_running_loop().call_soon(self._flush)  # after the tasks ready now
        self._pending.append(((session_id, events, expected_seq), future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._writing = True
        try:
            done = self._commit([request for request, _ in batch])
        except StoreClosedError as error:
            self._settle(batch, None, error)
            return
        done.add_done_callback(lambda _: self._settle(batch, done, None))

    def _settle(
        self,
        batch: _Pending,
        done: asyncio.Future[Outcomes] | None,
        failure: BaseException | None,
    ) -> None:
        self._writing = False
        if done is not None and done.cancelled():
            failure = StoreClosedError()  # the loop is shutting down
        elif done is not None and failure is None:
            failure = done.exception()
        outcomes = done.result() if done is not None and failure is None else []
        for index, (_, future) in enumerate(batch):
            if future.cancelled():
                continue  # its append was made (or not) all the same
            outcome = failure if failure is not None else outcomes[index]
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._flush()
