"""The session records of a JSONL directory, and what this process knows of them.

A session exists while its record, ``sessions/<id>.json``, does: a creation links the
record into place last, a deletion removes it first. A record is written whole, never
edited in place (a new name or labels, or a snapshot bringing its event count up to
date, replaces the file), and only under the directory's lock. So a record this process
has read stays true exactly while its file keeps its identity
(:data:`~agentstore.backends.jsonl.files.FileIdentity`): a change made by another process
is seen at the next look, which costs a ``stat``, not a parse.

``catalog.jsonl`` holds a line per record written, with the identity of the file it went
to: a new process lists a large directory from it, and parses only the records whose file
changed since its line was written (or that other programs wrote).
"""

from __future__ import annotations

import os
import time

import orjson

from agentstore.backends.codec import decode_session, encode_session
from agentstore.backends.jsonl.files import FileIdentity, Files
from agentstore.errors import CorruptLogError, SessionNotFoundError
from agentstore.ids import validate_session_id
from agentstore.sessions import Session

__all__ = ["Records"]

_SUFFIX = ".json"
_SETTLED_NS = 1_000_000_000  # a directory unchanged this long is not changing in this tick
_Entry = tuple[Session, FileIdentity]


class Records:
    """The records of one directory's sessions, as this process knows them.

    Safe for any number of threads; :meth:`listing` is called under the backend's lock,
    and :meth:`write` and :meth:`remove` under the directory's.

    Args:
        files: the file layer.
        root: the data directory.
    """

    def __init__(self, files: Files, root: str) -> None:
        self._files = files
        self._directory = os.path.join(root, "sessions")
        self._catalog_path = os.path.join(root, "catalog.jsonl")
        self._known: dict[str, _Entry] = {}  # each record read, with its file's identity
        self._catalog: dict[str, _Entry] = {}  # lines of the catalog not used yet
        self._catalog_read = 0  # bytes of catalog.jsonl already read
        self._listed: dict[str, FileIdentity] = {}
        self._listed_directory: FileIdentity | None = None  # the directory, when listed
        self._newest_first: list[Session] = []

    def path(self, session_id: str) -> str:
        """The file of a session's record."""
        return os.path.join(self._directory, session_id + _SUFFIX)

    def exists(self, session_id: str) -> bool:
        """Whether the session exists now (its record is there)."""
        return self._files.exists(self.path(session_id))

    def current(self, session_id: str) -> Session:
        """The session's record as it is now: read again if its file changed since.

        Raises:
            SessionNotFoundError: there is no such session (any more).
            CorruptLogError: the file is not a record of this session.
        """
        identity = self._files.identity(self.path(session_id))
        if identity is None:
            self.forget(session_id)
            raise SessionNotFoundError(session_id)
        entry = self._known.get(session_id)
        if entry is not None and entry[1] == identity:
            return entry[0]
        return self.read(session_id)

    def read(self, session_id: str) -> Session:
        """Read the session's record from its file (under the directory's lock, the truth).

        Raises:
            SessionNotFoundError: there is no such session.
            CorruptLogError: the file is not a record of this session.
        """
        path = self.path(session_id)
        while True:
            before = self._files.identity(path)
            data = self._files.read_file(path) if before is not None else None
            if data is None:
                self.forget(session_id)
                raise SessionNotFoundError(session_id)
            if self._files.identity(path) == before:  # not replaced while it was read
                break
        assert before is not None
        record = _decode(path, session_id, data)
        self._known[session_id] = (record, before)
        return record

    def write(self, session: Session, *, exclusive: bool = False) -> bool:
        """Write a session's record whole and catalog it; with ``exclusive``, only if absent.

        Returns False when ``exclusive`` found a record. The caller holds the directory's
        lock, so no one replaces the file before its identity is taken.
        """
        path = self.path(session.id)
        if not self._files.write_file(path, encode_session(session), exclusive=exclusive):
            return False
        identity = self._files.identity(path)
        if identity is not None:
            self._known[session.id] = (session, identity)
            self._add_to_catalog(session, identity)
        return True

    def remove(self, session_id: str) -> None:
        """Remove a session's record, durably: from then on the session does not exist."""
        self._files.remove(self.path(session_id))
        self._files.sync_dir(self._directory)
        self.forget(session_id)

    def forget(self, session_id: str) -> None:
        """Forget what was read of a session's record."""
        self._known.pop(session_id, None)

    def listing(self) -> list[Session]:
        """Every session's record, newest first; records changed since are read again.

        Every change of a record (written, replaced or removed) changes the directory: while
        the directory is as it was at the last listing, that listing stands, unless the
        directory had changed just before it (the file system's clock is coarse: a change
        within the same tick would leave the directory's time as it was).
        """
        directory = self._files.identity(self._directory)
        if directory is not None and directory == self._listed_directory:
            return self._newest_first
        present = {
            name[: -len(_SUFFIX)]: identity
            for name, identity in self._files.identities(self._directory).items()
            if name.endswith(_SUFFIX) and _is_session_id(name[: -len(_SUFFIX)])
        }
        settled = directory is not None and time.time_ns() - directory[2] > _SETTLED_NS
        self._listed_directory = directory if settled else None
        if present == self._listed:
            return self._newest_first
        if any(self._identity_known(sid) != identity for sid, identity in present.items()):
            self._read_catalog()
        records = []
        for session_id, identity in present.items():
            entry = self._known.get(session_id)
            if entry is None or entry[1] != identity:
                entry = self._learn(session_id, identity)
            if entry is not None:
                records.append(entry[0])
        for gone in self._known.keys() - present.keys():  # deleted by another process
            self._known.pop(gone, None)
        self._catalog.clear()  # every record listed is known now
        records.sort(key=lambda record: (record.created_at, record.id), reverse=True)
        self._listed, self._newest_first = present, records
        return records

    def _identity_known(self, session_id: str) -> FileIdentity | None:
        entry = self._known.get(session_id)
        return entry[1] if entry is not None else None

    def _learn(self, session_id: str, identity: FileIdentity) -> _Entry | None:
        """A record not known as it is now: from the catalog if it has it, else its file."""
        line = self._catalog.pop(session_id, None)
        if line is not None and line[1] == identity:
            self._known[session_id] = line
            return line
        try:
            record = self.read(session_id)
        except (SessionNotFoundError, CorruptLogError):
            return None  # removed meanwhile, or not a record (verify reports it)
        entry = self._known[session_id]
        self._add_to_catalog(record, entry[1])
        return entry

    def _read_catalog(self) -> None:
        """Learn the lines appended to the catalog since it was last read."""
        data = self._files.read_file(self._catalog_path) or b""
        end = data.rfind(b"\n") + 1
        if end < self._catalog_read:  # a new catalog: read it from the start
            self._catalog_read = 0
        for line in data[self._catalog_read : end].split(b"\n")[:-1]:
            try:
                fields = orjson.loads(line)
                inode, size, modified = fields.pop("file")
                record = Session.from_dict(fields)
                identity = (int(inode), int(size), int(modified))
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
                continue  # a cache: a torn or older line costs a file read, nothing more
            self._catalog[record.id] = (record, identity)
        self._catalog_read = end

    def _add_to_catalog(self, session: Session, identity: FileIdentity) -> None:
        # Not fsync'd: the catalog only saves parsing records, which stay the truth.
        if self._files.read_only:
            return  # a read-only store writes nothing, a cache neither
        line = {**session.to_dict(), "file": list(identity)}
        fd = self._files.open_log(self._catalog_path)
        try:
            self._files.append(fd, orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        finally:
            self._files.close(fd)


def _decode(path: str, session_id: str, data: bytes) -> Session:
    try:
        record = decode_session(data)
    except ValueError as error:
        raise CorruptLogError(path, 1, str(error)) from None
    if record.id != session_id:
        raise CorruptLogError(path, 1, f"the record is of session {record.id!r}")
    return record


def _is_session_id(name: str) -> bool:
    try:
        validate_session_id(name)
    except ValueError:
        return False
    return True
