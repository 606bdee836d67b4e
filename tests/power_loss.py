"""A file layer that loses power: a model of what a disk keeps, in the manner of SQLite's
crash tests.

It does every operation on real files, and tracks what would survive a power loss: a
file's bytes as of its last fsync, and a directory's entries as of its last fsync. At a
chosen operation it raises :class:`PowerLoss` instead of doing it; :meth:`crash_copy`
then writes what the disk would hold after rebooting: durable entries and bytes, plus a
torn, zeroed or vanished version of whatever was written and not yet fsync'd.
"""

from __future__ import annotations

import os
import random

from agentstore.backends.jsonl.files import Files


class PowerLoss(Exception):  # noqa: N818 - an event, not an error
    """The simulated machine lost power."""


class PowerLossFiles(Files):
    """Real files and a model of their durable state; raises PowerLoss at operation N."""

    def __init__(self, root: str, *, crash_at: int | None) -> None:
        super().__init__(os.path.join(root, "tmp"))
        self.root = root
        self.operations = 0
        self.crash_at = crash_at
        self.durable_bytes: dict[int, bytes] = {}  # inode -> content at its last fsync
        self.durable_entries: dict[str, dict[str, int]] = {root: {}}  # dir -> name -> inode
        self.directories: list[str] = [root]

    def _tick(self) -> None:
        self.operations += 1
        if self.crash_at is not None and self.operations >= self.crash_at:
            # Once the power is gone nothing more reaches the disk, not even a cleanup.
            raise PowerLoss(f"power lost at operation {self.crash_at}")

    # What changes the disk goes through _tick; fsyncs are recorded, not performed.

    def open_log(self, path: str) -> int:
        self._tick()
        return super().open_log(path)

    def append(self, fd: int, data: bytes) -> None:
        self._tick()
        super().append(fd, data)

    def sync(self, fd: int) -> None:
        self._tick()
        self.durable_bytes[os.fstat(fd).st_ino] = _content(fd)

    def truncate(self, fd: int, size: int) -> None:
        self._tick()
        os.ftruncate(fd, size)
        self.durable_bytes[os.fstat(fd).st_ino] = _content(fd)

    def create_temporary(self, path: str) -> int:
        self._tick()
        return super().create_temporary(path)

    def link(self, source: str, target: str) -> bool:
        self._tick()
        return super().link(source, target)

    def rename(self, source: str, target: str) -> None:
        self._tick()
        super().rename(source, target)

    def remove(self, path: str) -> None:
        self._tick()
        super().remove(path)

    def make_dirs(self, path: str) -> None:
        self._tick()
        super().make_dirs(path)
        if path not in self.directories:
            self.directories.append(path)
            self.durable_entries.setdefault(path, {})

    def sync_dir(self, path: str) -> None:
        self._tick()
        if path in self.durable_entries or path in self.directories:
            self.durable_entries[path] = {
                entry.name: entry.inode() for entry in os.scandir(path) if entry.is_file()
            }

    # After the crash

    def crash_copy(self, destination: str, rng: random.Random) -> None:
        """Write what the disk holds after the power loss, under ``destination``."""
        current = _inodes(self.directories)
        for directory in self.directories:
            if not os.path.isdir(directory):
                continue  # never created: power went before its mkdir
            relative = os.path.relpath(directory, self.root)
            target_dir = os.path.normpath(os.path.join(destination, relative))
            os.makedirs(target_dir, exist_ok=True)
            for name, inode in self.durable_entries.get(directory, {}).items():
                durable = self.durable_bytes.get(inode, b"")
                now = current.get(inode, durable)
                extra = now[len(durable) :] if now.startswith(durable) else b""
                with open(os.path.join(target_dir, name), "wb") as file:
                    file.write(durable + _tear(extra, rng))


def _content(fd: int) -> bytes:
    with open(f"/proc/self/fd/{fd}", "rb") as file:  # the descriptor may be write-only
        return file.read()


def _inodes(directories: list[str]) -> dict[int, bytes]:
    found = {}
    for directory in directories:
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            if entry.is_file():
                with open(entry.path, "rb") as file:
                    found[entry.inode()] = file.read()
    return found


def _tear(unsynced: bytes, rng: random.Random) -> bytes:
    """What of the bytes written after the last fsync survives: any of it, torn or zeroed."""
    if not unsynced:
        return b""
    keep = rng.randint(0, len(unsynced))
    choice = rng.randrange(4)
    if choice == 0:
        return b""  # nothing reached the disk
    if choice == 1:
        return unsynced[:keep]  # a prefix did
    if choice == 2:
        return unsynced[:keep] + b"\x00" * (len(unsynced) - keep)  # the size did, not the data
    zeroed = bytearray(unsynced)  # a block in the middle did not
    start = rng.randrange(len(zeroed))
    zeroed[start : start + 512] = b"\x00" * len(zeroed[start : start + 512])
    return bytes(zeroed)
