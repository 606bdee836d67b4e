"""The JSONL directory backend: the default store, human-readable and durable.

Layout (the seed library's, so its data directories open unchanged and it can read ours)::

    <root>/sessions/<id>.json     the session record (replaced whole, never in place)
    <root>/events/<id>.jsonl      one event per line, appended and fsync'd
    <root>/snapshots/<id>.json    the latest snapshot, replaced atomically
    <root>/catalog.jsonl          a cache of the session records, for fast listing
    <root>/tmp/                   files being written, before they are moved into place
    <root>/.lock                  taken while a session record is written or removed

Appends from several threads of one process share one write and one fsync (group
commit); several processes append under each log's file lock. A session exists while its
record does (:mod:`agentstore.backends.jsonl.records`): its deletion removes the record
while holding the log's lock, so no append lands in a deleted log.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from agentstore.backends import forked
from agentstore.backends.base import (
    AppendRequest,
    Backend,
    Problem,
    Subscription,
    matches_labels,
    translating,
)
from agentstore.backends.codec import (
    decode_snapshot,
    encode_event,
    encode_snapshot,
    event_parts,
)
from agentstore.backends.jsonl.checks import check_log
from agentstore.backends.jsonl.commit import Request
from agentstore.backends.jsonl.files import Files
from agentstore.backends.jsonl.log import SessionLog, commit_together
from agentstore.backends.jsonl.records import Records
from agentstore.backends.jsonl.watch import FilePoller
from agentstore.errors import (
    AgentStoreError,
    InvalidArgumentError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreNotFoundError,
)
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["JsonlBackend"]

_OPEN_LOGS = 256  # log files kept open; more active sessions than that reopen theirs
_KEPT_LOGS = 4096  # sessions whose log this process remembers (last seq, id index)
_STALE_TEMPORARY = 3600.0  # seconds: a file left in tmp/ that long was left by a crash


_translated = translating((OSError,), lambda backend: backend.root)


class JsonlBackend(Backend):
    """Sessions as files in a directory: ``sessions/``, ``events/`` and ``snapshots/``.

    Args:
        root: the data directory; created (owner-only) if missing.
        files: the file layer (tests replace it to simulate crashes); read-only exactly
            when the backend is.
        poll_interval: how often a watch looks for events appended by other processes.
        read_only: open an existing store and write nothing to it, not even the
            ``tmp/`` directory or the catalog: its logs are opened for reading only.

    Raises:
        InvalidArgumentError: ``root`` is a file (or ``files`` do not match ``read_only``).
        StoreNotFoundError: (read-only) ``root`` is not a store's directory.
        StorageError: the directory cannot be made.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        files: Files | None = None,
        poll_interval: float = 0.05,
        read_only: bool = False,
    ) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.read_only = read_only
        self._files = files or Files(os.path.join(self.root, "tmp"), read_only=read_only)
        if self._files.read_only != read_only:
            raise InvalidArgumentError(
                f"the file layer of a store opened with read_only={read_only} must be too"
            )
        if read_only:
            self._check_store()
        else:
            self._make_directories()
        self._lock = threading.Lock()
        self._logs: OrderedDict[str, SessionLog] = OrderedDict()
        self._recent: OrderedDict[str, None] = OrderedDict()  # logs that may hold a file
        self._records = Records(self._files, self.root)
        self._poller = FilePoller(self, poll_interval)
        self._closed = False
        forked.reopen_after_fork(self)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        with self._lock, self._creation_lock():
            if self._records.exists(session.id):
                raise SessionExistsError(session.id)
            # The log first (replacing any left by a creation or deletion that crashed,
            # as is any snapshot), then the session record, created only if absent: the
            # record's existence is the commit.
            log_data = b"".join(encode_event(event) for event in history)
            self._files.write_file(self._path("events", session.id, ".jsonl"), log_data)
            self._files.remove(self._path("snapshots", session.id, ".json"))
            if not self._records.write(session, exclusive=True):
                raise SessionExistsError(session.id)
            log = self._logs.pop(session.id, None)
            if log is not None:
                log.close()
        if history:
            self._poller.notify()
            last = history[-1]
            return dataclasses.replace(session, event_count=last.seq, updated_at=last.timestamp)
        return session

    @_translated
    def get_session(self, session_id: str) -> Session:
        return self._with_counts(self._records.current(session_id))

    @_translated
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        with self._lock:
            records = self._records.listing()
        chosen = [record for record in records if matches_labels(record, labels)]
        found = []
        for record in chosen[offset : offset + limit]:
            try:
                found.append(self._with_counts(record))
            except SessionNotFoundError:
                continue  # deleted since the directory was read
        return found

    @_translated
    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        log = self._log(session_id)  # outside the directory's lock, which it may wait for
        with self._creation_lock():
            record = self._records.read(session_id)  # as it is, under the lock
            changed = update.apply(record)
            if changed is not record:
                self._records.write(_counted(changed, log))
        return _counted(changed, log)

    @_translated
    def delete_session(self, session_id: str) -> Session:
        log = self._log(session_id)
        with self._creation_lock():
            record = self._records.read(session_id)
            with log.held():  # appenders, here and in other processes, wait
                # The snapshot first (a session without one is whole), then the record:
                # the session is gone. A crash before the log is removed leaves a log no
                # record names, which nothing reads and a new session of that id replaces.
                deleted = _count_now(record, log.path, self._files)
                self._files.remove(self._path("snapshots", session_id, ".json"))
                self._records.remove(session_id)
                self._files.remove(log.path)
                self._files.sync_dir(os.path.dirname(log.path))
        self._forget(session_id)
        self._poller.notify()
        return deleted

    # Events

    @_translated
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        stored = self._log(session_id).append(events, expected_seq)
        self._poller.notify()
        return stored

    commits_many = True
    parallel_commits = 4  # batches of other sessions' logs are synced meanwhile

    @_translated
    def append_many(self, requests: Sequence[AppendRequest]) -> list[list[Event] | AgentStoreError]:
        # The lines of every session first, then the fsyncs one after the other: fewer
        # journal commits than a write and an fsync per session (see commit_together).
        outcomes: list[list[Event] | AgentStoreError] = [[] for _ in requests]
        work: dict[str, list[tuple[int, Request]]] = {}
        for index, (session_id, events, expected_seq) in enumerate(requests):
            try:
                self._log(session_id)
            except AgentStoreError as error:
                outcomes[index] = error
                continue
            parts = {event.id: event_parts(event) for event in events}
            work.setdefault(session_id, []).append((index, Request(events, expected_seq, parts)))
        commit_together(
            [(self._log(sid), [request for _, request in work[sid]]) for sid in sorted(work)]
        )
        for index, request in itertools.chain.from_iterable(work.values()):
            outcomes[index] = self._outcome(request)
        self._poller.notify()
        return outcomes

    def _outcome(self, request: Request) -> list[Event] | AgentStoreError:
        error = request.error
        if error is None:
            return request.result
        if isinstance(error, AgentStoreError):
            return error
        return StorageError(getattr(error, "errno", 0) or 0, f"{self.root}: {error}")

    @_translated
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._log(session_id).import_events(events)
        self._poller.notify()

    @_translated
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._log(session_id).read(max(from_seq, 1), to_seq)

    @_translated
    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        # The cursor is the byte offset of the next page's first line in the log.
        return self._log(session_id).page(max(from_seq, 1), to_seq, limit, cursor)

    @_translated
    def last_seq(self, session_id: str) -> int:
        return self._log(session_id).last()[0]

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        log = self._log(session_id)
        path = self._path("snapshots", session_id, ".json")
        data = self._files.read_file(path)
        if data is None:
            return None
        try:
            snapshot, offset = decode_snapshot(data)
        except ValueError as error:
            self._discard(path, str(error))
            return None
        if offset is not None:
            log.hint(snapshot.version + 1, offset)
        return snapshot

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        log = self._log(snapshot.session_id)
        current = self.read_snapshot(snapshot.session_id)
        if current is not None and current.version >= snapshot.version:
            return
        offset = log.snapshot_offset(snapshot.version)
        path = self._path("snapshots", snapshot.session_id, ".json")
        with self._creation_lock():  # not while the session is deleted: none outlives it
            record = self._records.read(snapshot.session_id)
            self._files.write_file(path, encode_snapshot(snapshot, offset=offset))
            # Readers of the seed's format take the event count from the session record:
            # it is brought up to date (the record replaced whole) with each snapshot.
            self._records.write(_counted(record, log))

    # Checks

    @_translated
    def check(self, session_id: str) -> list[Problem]:
        self._records.current(session_id)  # raises SessionNotFoundError
        path = self._path("events", session_id, ".jsonl")
        problems = check_log(self._files.read_file(path) or b"", path=path, session_id=session_id)
        path = self._path("snapshots", session_id, ".json")
        data = self._files.read_file(path)
        try:
            if data is not None:
                decode_snapshot(data)
        except ValueError as error:
            reason = f"unreadable snapshot, ignored by reads: {error}"
            problems.append(Problem(session_id, f"{path}:1", reason))
        return problems

    # Feeds and closing

    @_translated
    def subscribe(self, session_id: str | None) -> Subscription:
        return self._poller.subscribe(session_id)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            logs = list(self._logs.values())
            self._logs.clear()
        forked.forget(self)
        self._poller.close()
        for log in logs:
            log.close()

    def after_fork_in_child(self) -> None:
        """In a forked child, forget the open logs: each reopens its file when next used.

        Their descriptors share the parent's open files, and with them each file's
        ``flock``: parent and child would both hold a log's lock at once and write over
        each other's lines. Closing the child's copies leaves the parent's open, and its
        locks held. What was read of the logs goes too: the parent may be mid-commit.
        """
        self._lock = threading.Lock()
        for log in self._logs.values():
            log.close_inherited()
        self._logs = OrderedDict()
        self._recent = OrderedDict()
        self._poller.after_fork_in_child()

    # Used by the poller

    def log_of(self, session_id: str) -> SessionLog:
        """The log of a session (which must exist)."""
        return self._log(session_id)

    def session_ids(self) -> list[str]:
        """Every session in the directory."""
        return [session.id for session in self._records.listing()]

    # Internals

    def _make_directories(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise InvalidArgumentError(f"cannot open store {self.root!r}: it is not a directory")
        try:
            for name in ("sessions", "events", "snapshots", "tmp"):
                self._files.make_dirs(os.path.join(self.root, name))
            self._files.sweep(os.path.join(self.root, "tmp"), older_than=_STALE_TEMPORARY)
        except OSError as error:
            raise StorageError(error.errno or 0, f"{self.root}: {error}") from error

    def _check_store(self) -> None:
        """Read-only, nothing is made: the directory must be a store (the seed's has no tmp/)."""
        if not os.path.isdir(self.root):
            found = "a file, not a directory" if os.path.exists(self.root) else "no such directory"
            raise StoreNotFoundError(self.root, found)
        missing = [
            f"{name}/"
            for name in ("sessions", "events")
            if not os.path.isdir(os.path.join(self.root, name))
        ]
        if missing:
            raise StoreNotFoundError(
                self.root, f"a directory without {' and '.join(missing)}, which a store has"
            )

    def _path(self, kind: str, session_id: str, suffix: str) -> str:
        return os.path.join(self.root, kind, session_id + suffix)

    def _creation_lock(self) -> _FileLock:
        return _FileLock(self._files, os.path.join(self.root, ".lock"))

    def _with_counts(self, record: Session) -> Session:
        return _counted(record, self._log(record.id))

    def _log(self, session_id: str) -> SessionLog:
        log = self._logs.get(session_id)  # the hot path: no lock (the dict is left whole)
        if log is not None:
            self._used(session_id)
            return log
        # The record as it is now: a log opened for a session another process deleted
        # would be created again, empty.
        record = self._records.current(session_id)  # raises SessionNotFoundError
        with self._lock:
            log = self._logs.get(session_id)
            if log is None:
                path = self._path("events", session_id, ".jsonl")
                alive = functools.partial(self._records.exists, session_id)
                log = SessionLog(self._files, path, session_id, record.created_at, alive=alive)
                self._logs[session_id] = log
                if len(self._logs) > _KEPT_LOGS:  # forget what was learnt of the oldest
                    _, oldest = self._logs.popitem(last=False)
                    oldest.close()
        self._used(session_id)
        return log

    def _used(self, session_id: str) -> None:
        """Keep the most recently used logs open; close the file of the least recent."""
        recent = self._recent
        try:
            recent.move_to_end(session_id)  # OrderedDict's methods are atomic in CPython
        except KeyError:
            recent[session_id] = None
            if len(recent) > _OPEN_LOGS:
                try:
                    oldest, _ = recent.popitem(last=False)
                except KeyError:
                    return
                log = self._logs.get(oldest)
                if log is not None:
                    log.release()  # keeps what it learnt; reopens its file when used

    def _forget(self, session_id: str) -> None:
        """Forget a deleted session's log and record."""
        with self._lock:
            log = self._logs.pop(session_id, None)
            self._recent.pop(session_id, None)
        self._records.forget(session_id)
        if log is not None:
            log.close()

    def _discard(self, path: str, reason: str) -> None:
        import logging

        logging.getLogger("agentstore").warning("discarding %s: %s", path, reason)


class _FileLock:
    """A lock shared by threads and processes: ``flock`` on a file opened by each holder.

    Two descriptors opened apart lock as two processes do, even within one process.
    """

    def __init__(self, files: Files, path: str) -> None:
        self._files = files
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = self._files.open_lock_file(self._path)
        self._files.lock(self._fd)

    def __exit__(self, *exc_info: object) -> None:
        self._files.unlock(self._fd)
        self._files.close(self._fd)


def _counted(record: Session, log: SessionLog) -> Session:
    """``record`` with the event count and last time of its log, as it is now."""
    last_seq, last_timestamp = log.last()
    return dataclasses.replace(
        record, event_count=last_seq, updated_at=last_timestamp or record.created_at
    )


def _count_now(record: Session, path: str, files: Files) -> Session:
    """``record`` counted from its log at ``path``, read afresh (the caller holds its lock)."""
    log = SessionLog(files, path, record.id, record.created_at)
    try:
        return _counted(record, log)
    finally:
        log.close()
