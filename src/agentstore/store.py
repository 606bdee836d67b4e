"""The Store: the API an agent records, replays and inspects its sessions through.

The store is a thin shell: it checks arguments and prepares events (pure code from
:mod:`agentstore.core.sequencing` and friends), calls its backend, and keeps each session's
latest materialized state so reading state after appends folds only the new events.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from agentstore.backends.adapters import DirectBackend
from agentstore.backends.base import Backend
from agentstore.backends.read_only import ReadOnlyBackend
from agentstore.core.checks import check_at_seq
from agentstore.core.operations import StoreCore
from agentstore.core.plans import replay_plan
from agentstore.core.running import iterate, run
from agentstore.events import Event, EventType
from agentstore.feeds import Watch
from agentstore.recording.recorder import Recorder
from agentstore.sessions import Session
from agentstore.state import State

__all__ = ["Store"]


class Store(StoreCore[Backend]):
    """An event store for agent sessions, over one backend.

    Open one with :func:`agentstore.open`. A store is safe to share between threads and is
    a context manager that closes it.

    Args:
        backend: where sessions, events and snapshots are kept.
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`agentstore.default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON.
        read_only: refuse every write with ReadOnlyStoreError and save no snapshot
            (also the case over a backend opened read-only).

    Raises:
        InvalidArgumentError: a backend of another kind, or a bad setting.
    """

    _backend_type = Backend

    def _awaited(self, backend: Backend) -> DirectBackend:
        return DirectBackend(backend)

    def _refusing_writes(self, backend: Backend) -> Backend:
        return ReadOnlyBackend.of(backend)

    def __enter__(self) -> Store:
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Sessions

    def create_session(
        self,
        *,
        id: str | None = None,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> Session:
        """Create a session (an agent run) and return it.

        Args:
            id: the session id; a random UUID when None.
            name: a human-readable name.
            labels: str to str pairs to find the session by later.
            exist_ok: if a session with ``id`` exists, return it as it is (its name and
                labels unchanged) instead of raising: get or create. Processes doing so
                at once all get the one session.

        Raises:
            SessionExistsError: a session with this id exists (and not ``exist_ok``).
            InvalidSessionIdError: ``id`` is not a valid session id.
            InvalidArgumentError: ``name`` or ``labels`` are not strings.
        """
        session = self._new_session(id, name, labels)
        if exist_ok and id is not None:
            return run(self._get_or_create(session))
        return self._backend.create_session(session)

    def get_session(self, session_id: str) -> Session:
        """Return a session with its current event count.

        Raises:
            SessionNotFoundError: no such session.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        return self._backend.get_session(self._open_id(session_id))

    def list_sessions(
        self, *, limit: int | None = 100, offset: int = 0, labels: Mapping[str, str] | None = None
    ) -> list[Session]:
        """Return sessions, newest first.

        Args:
            limit: at most this many sessions (None: all).
            offset: skip this many first (after filtering by labels).
            labels: keep only sessions that have all of these pairs.

        Raises:
            InvalidArgumentError: a negative limit or offset, or bad labels.
        """
        size, start, wanted = self._page(limit, offset, labels)
        return self._backend.list_sessions(limit=size, offset=start, labels=wanted)

    def update_session(
        self,
        session_id: str,
        *,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        remove_labels: Iterable[str] | None = None,
    ) -> Session:
        """Rename a session or change its labels, and return it as it is now.

        Args:
            name: the new name (None: unchanged).
            labels: labels to set: added, or changed where the session has the key; the
                other labels stay.
            remove_labels: keys of labels to remove (a key the session lacks is no error).

        ``updated_at`` stays the time of the last event: a new name or label is not
        activity. Concurrent changes of different labels all hold.

        Raises:
            SessionNotFoundError: no such session.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
            InvalidArgumentError: a bad name or labels, or a key both set and removed;
                nothing is changed.
        """
        session_id, update = self._update(session_id, name, labels, remove_labels)
        return self._backend.update_session(session_id, update)

    def delete_session(self, session_id: str) -> Session:
        """Delete a session: its record, its events and its snapshot, all at once.

        A crash during the deletion leaves the whole session or nothing of it, on every
        backend. Forks of the session are copies and stay (their ``parent_id`` still
        names it); watches of it end.

        Returns:
            The session as it was just before it was deleted (with its event count).

        Raises:
            SessionNotFoundError: no such session.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        session_id = self._open_id(session_id)
        deleted = self._backend.delete_session(session_id)
        self._states.forget(session_id)
        return deleted

    # Appending

    def append(self, session_id: str, event: Event, *, expected_seq: int | None = None) -> Event:
        """Append ``event`` to a session and return it as stored, with its seq and time.

        If the session already holds an event with this id, that event is returned and
        nothing is written (appends are idempotent).

        Args:
            session_id: the session to append to.
            event: an event from :func:`agentstore.new_event`.
            expected_seq: if given, the session's last seq must equal it.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the session's last seq.
            InvalidEventError: the payload is not plain JSON or too large.
            InvalidSessionIdError, InvalidArgumentError: bad arguments.
        """
        prepared = self._prepared(session_id, event, expected_seq)
        return self._backend.append_one(session_id, prepared, expected_seq=expected_seq)

    def append_batch(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None = None
    ) -> list[Event]:
        """Append several events atomically (all or none) with consecutive seqs.

        Events whose id the session already holds are returned as stored and not written
        again; ids must be unique within the batch.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the session's last seq.
            InvalidEventError: an event is bad (its index is in the message).
            InvalidSessionIdError, InvalidArgumentError: bad arguments.
        """
        prepared = self._prepared_batch(session_id, events, expected_seq)
        if not prepared:
            self._backend.last_seq(session_id)  # an unknown session is still an error
            return []
        return self._backend.append(session_id, prepared, expected_seq=expected_seq)

    # Reading

    def get_events(self, session_id: str, from_seq: int = 0) -> list[Event]:
        """Return the session's events with ``seq >= from_seq`` (0: all), in order.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``from_seq`` is negative or not an int.
        """
        session_id, start = self._read_from(session_id, from_seq)
        return self._backend.read(session_id, from_seq=start)

    def replay(
        self,
        session_id: str,
        *,
        types: Iterable[EventType | str] | EventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> list[Event]:
        """Return the session's events in order, filtered; every range is inclusive.

        Args:
            types: keep only events of these types.
            since, until: keep only events stamped in this time range (aware datetimes).
            from_seq, to_seq: keep only events in this seq range.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: a bad type name, naive datetime or negative seq.
        """
        session_id = self._open_id(session_id)
        plan = replay_plan(types, since, until, from_seq, to_seq)
        return plan.keep(self._backend.read(session_id, from_seq=plan.start, to_seq=plan.end))

    def iter_events(
        self,
        session_id: str,
        *,
        types: Iterable[EventType | str] | EventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[Event]:
        """Yield the session's events in order, filtered as :meth:`replay` filters them.

        The events are read from the backend ``page_size`` at a time, so a log of any
        length is replayed in memory bounded by one page. Events appended while the
        iteration runs are yielded too when they are stored before it reaches the end:
        it ends at the first page that finds no more (or at ``to_seq``).

        Args:
            types, since, until, from_seq, to_seq: as :meth:`replay`'s; ranges inclusive.
            page_size: how many events each read fetches from the backend.

        Raises:
            InvalidArgumentError: (at the call) a bad filter, or a ``page_size`` below 1.
            SessionNotFoundError: (at the first ``next()``) no such session.
            StoreClosedError: the store was closed; at a page read while iterating.
        """
        checked = self._streaming(session_id, types, since, until, from_seq, to_seq, page_size)
        return itertools.chain.from_iterable(iterate(self._pages(*checked)))

    def get_state(self, session_id: str, *, at_seq: int | None = None) -> State:
        """Return the session's state, derived from its events by the store's reducer.

        Args:
            at_seq: the state just after this event (0: before any) instead of the latest.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``at_seq`` is negative, not an int, or past the last event.
        """
        session_id = self._open_id(session_id)
        last = self._backend.last_seq(session_id)
        start = self._states.cached_start(session_id) if at_seq is None else None
        if start is not None:
            # The call of an agent's every step, without a coroutine (a third of its cost):
            # the cached state, folded on by the events appended since if need be.
            if start.state.version >= last:
                return start.state
            first = start.state.version + 1
            events = self._backend.read(session_id, from_seq=first, to_seq=last)
            state = self._states.fold_on(session_id, start, events, last)
            if state is not None:
                return state
        if at_seq is None:
            return run(self._states.latest(self._flows, session_id, last))
        target = check_at_seq(session_id, at_seq, last)
        return run(self._states.at(self._flows, session_id, target, last))

    # Forks and live feeds

    def fork(
        self,
        session_id: str,
        *,
        at_seq: int,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        id: str | None = None,
    ) -> Session:
        """Create a new session whose history is the first ``at_seq`` events of another.

        The fork keeps the events' ids, seqs, times and payloads, records its
        ``parent_id`` and ``forked_at_seq``, and inherits the parent's labels updated by
        ``labels``; its name is ``name`` or the parent's.

        Raises:
            SessionNotFoundError: no such session.
            SessionExistsError: a session with ``id`` exists.
            InvalidArgumentError: ``at_seq`` is negative, not an int, or past the last event.
        """
        return run(self._fork(session_id, at_seq, name, labels, id))

    def watch(
        self, session_id: str | None = None, *, from_seq: int = 0, timeout: float | None = None
    ) -> Watch:
        """Yield a session's events as they are appended, also by other processes.

        With a session id, the stored events with ``seq >= from_seq`` come first (0: all),
        then new ones. With None, the events of every session appended after the watch is
        made. The iterator ends after ``timeout`` seconds without a new event (None:
        never), when its ``stop()`` is called (from any thread) or when the store is closed.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: a negative ``from_seq`` or ``timeout``.
        """
        return Watch(self._feed(session_id, from_seq, timeout))

    def recorder(self, session_id: str, *, worker_id: str = "", price: bool = True) -> Recorder:
        """Return a :class:`~agentstore.recording.Recorder` of one session's events.

        It records messages, plans, tool and LLM calls with their durations, tokens and
        costs in one line each.

        Args:
            session_id: the session to record into (it must exist when events are recorded).
            worker_id: recorded in each event's metadata, if given.
            price: price LLM calls from their tokens when no cost is given (needs the
                ``prices`` extra).

        Raises:
            InvalidSessionIdError: ``session_id`` is not a valid id.
        """
        return Recorder(self, self._check_id(session_id), worker_id=worker_id, price=price)

    def close(self) -> None:
        """Close the store and its backend; watchers end. Calling it again does nothing."""
        if self._closing():
            self._backend.close()
