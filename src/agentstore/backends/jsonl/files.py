"""The file operations of the JSONL backend, in one thin layer a test can replace.

Every byte the backend writes goes through :class:`Files`, so a test can stand in for the
disk (keep only what was fsync'd, tear or zero the rest) and check that no acknowledged
write is lost. The rules it follows: files are created owner-only (0600, directories 0700);
a new file is written to a unique temporary name, fsync'd, then renamed or linked into
place, and its directory fsync'd; log appends are fsync'd before they are acknowledged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import time

__all__ = ["FileIdentity", "Files"]

#: What tells one version of a file from the next: inode, size and modification time. A
#: file replaced whole (written aside, then renamed into place) gets a new one.
FileIdentity = tuple[int, int, int]

FILE_MODE = 0o600
DIR_MODE = 0o700
_sync_data = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class Files:
    """The operating system's files, with fsyncs where durability needs them.

    Every file is opened through :meth:`open_file`, so a test can refuse what a
    read-only mount refuses (an open for writing, a new file) and nothing else.

    Args:
        temporary_dir: where new files are written before they are moved into place; it
            must be on the same file system as the files.
        read_only: open logs for reading only, and create none (a read-only store's).
    """

    def __init__(self, temporary_dir: str, *, read_only: bool = False) -> None:
        self.temporary_dir = temporary_dir
        self.read_only = read_only

    def open_file(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        """``os.open``: every file this layer opens, it opens here."""
        return os.open(path, flags, mode)

    # Logs

    def open_log(self, path: str) -> int:
        """Open (creating if missing) a log for reading and appending; returns its descriptor.

        A log created here has its directory fsync'd, so its entry outlives a power loss.
        Read-only, the log is opened for reading, and a missing one reads as empty (as a
        writer would create it).
        """
        if self.read_only:
            try:
                return self.open_file(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return self.open_file(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            return self.open_file(path, flags)
        except FileNotFoundError:
            pass
        try:
            fd = self.open_file(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            return self.open_file(path, flags)
        self.sync_dir(os.path.dirname(path))
        return fd

    def append(self, fd: int, data: bytes) -> None:
        """Write all of ``data`` at the end of the log (not yet durable)."""
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def sync(self, fd: int) -> None:
        """Make what was written to ``fd`` durable (its data and its size)."""
        _sync_data(fd)

    def size(self, fd: int) -> int:
        """The size of an open file."""
        return os.fstat(fd).st_size

    def linked_size(self, fd: int) -> int | None:
        """The size of an open file, or None once no name leads to it any more.

        A log loses its name when a repair puts a new file in its place (or its session
        is removed): a process still holding the old file must not write there.
        """
        status = os.fstat(fd)  # one call for both: this is every read's first step
        return status.st_size if status.st_nlink else None

    def reopen(self, fd: int, path: str) -> None:
        """Make ``fd`` refer to the log now at ``path``; the file it referred to is closed.

        The descriptor keeps its number, so a caller holding it reads the new file. Its
        lock, if it held one, is released with the old file.

        Raises:
            FileNotFoundError: no file is at ``path``.
        """
        flags = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_APPEND
        new = self.open_file(path, flags | os.O_CLOEXEC)
        try:
            os.dup2(new, fd, inheritable=False)
        finally:
            os.close(new)

    def read_at(self, fd: int, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes from ``offset``."""
        chunks = []
        while length > 0:
            chunk = os.pread(fd, length, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(chunks)

    def truncate(self, fd: int, size: int) -> None:
        """Cut the file to ``size`` bytes, durably."""
        os.ftruncate(fd, size)
        os.fsync(fd)

    def lock(self, fd: int) -> None:
        """Take the file's exclusive lock, shared with every process (blocks until free)."""
        fcntl.flock(fd, fcntl.LOCK_EX)

    def unlock(self, fd: int) -> None:
        """Release the file's lock."""
        fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self, fd: int) -> None:
        """Close a descriptor."""
        os.close(fd)

    # Whole files

    def read_file(self, path: str) -> bytes | None:
        """Return a file's bytes, or None if it does not exist."""
        try:
            fd = self.open_file(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with open(fd, "rb") as file:
            return file.read()

    def write_file(self, path: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Durably create or replace ``path`` with ``data``, all or nothing.

        With ``exclusive``, an existing file is left alone and False is returned.
        """
        temporary = self._temporary_name(os.path.basename(path))
        fd = self.create_temporary(temporary)
        try:
            try:
                self.append(fd, data)
                self.sync(fd)
            finally:
                self.close(fd)
            if exclusive and not self.link(temporary, path):
                return False
            if not exclusive:
                self.rename(temporary, path)
        finally:
            self.remove(temporary)
        self.sync_dir(os.path.dirname(path))
        return True

    def create_temporary(self, path: str) -> int:
        """Create a new, empty file for writing."""
        return self.open_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC)

    def link(self, source: str, target: str) -> bool:
        """Give ``source`` the name ``target`` too, unless ``target`` exists (then False)."""
        try:
            os.link(source, target)  # atomic create-if-absent, its content complete
        except FileExistsError:
            return False
        return True

    def rename(self, source: str, target: str) -> None:
        """Move ``source`` to ``target``, replacing it atomically."""
        os.replace(source, target)

    def remove(self, path: str) -> None:
        """Remove a file if it exists (not made durable: used for leftovers)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return os.path.exists(path)

    def list_dir(self, path: str) -> list[str]:
        """The names in a directory."""
        return os.listdir(path)

    def identity(self, path: str) -> FileIdentity | None:
        """The identity of the file at ``path`` (see :data:`FileIdentity`); None if absent."""
        try:
            return _identity(os.stat(path))
        except FileNotFoundError:
            return None

    def identities(self, directory: str) -> dict[str, FileIdentity]:
        """The identity of each file in ``directory``, by name."""
        found = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    found[entry.name] = _identity(entry.stat())
                except FileNotFoundError:  # removed since the directory was read
                    continue
        return found

    def make_dirs(self, path: str) -> None:
        """Create a directory (owner-only) and its parents, durably."""
        if os.path.isdir(path):
            return
        parent = os.path.dirname(os.path.abspath(path))
        self.make_dirs(parent)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            return
        self.sync_dir(parent)

    def sync_dir(self, path: str) -> None:
        """Make the directory's entries (new, renamed, removed files) durable."""
        fd = self.open_file(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        except OSError as error:  # some file systems cannot fsync a directory
            if error.errno not in (errno.EINVAL, errno.EBADF):
                raise
        finally:
            os.close(fd)

    def open_lock_file(self, path: str) -> int:
        """Open (creating if missing) a file used only for its lock."""
        return self.open_file(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)

    def sweep(self, directory: str, *, older_than: float) -> None:
        """Remove files left in ``directory`` for longer than ``older_than`` seconds."""
        cutoff = time.time() - older_than
        with os.scandir(directory) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)

    def _temporary_name(self, name: str) -> str:
        # Random, not just pid and counter: a pid is reused after a restart, and a crash
        # may have left a file by that name.
        return os.path.join(self.temporary_dir, f"{name}.{secrets.token_hex(8)}.tmp")


def _identity(status: os.stat_result) -> FileIdentity:
    return (status.st_ino, status.st_size, status.st_mtime_ns)
