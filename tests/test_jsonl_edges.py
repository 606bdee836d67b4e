"""Edge cases of the JSONL backend: torn batches, unsynced retries, interrupted writers,
many sessions, leftovers and failed writes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import agentstore
from agentstore import CorruptLogError, Store, new_event
from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.jsonl.files import Files
from agentstore.core.sequencing import prepare_batch


def _log(root: Path, session_id: str) -> Path:
    return root / "events" / f"{session_id}.jsonl"


def _lines(root: Path, session_id: str) -> list[bytes]:
    return _log(root, session_id).read_bytes().split(b"\n")[:-1]


def _write_lines(root: Path, session_id: str, lines: list[bytes]) -> None:
    _log(root, session_id).write_bytes(b"".join(line + b"\n" for line in lines))


def test_a_torn_line_after_a_huge_one_keeps_the_huge_one(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("big", {"blob": "x" * 100_000}))
        store.append(sid, new_event("small"))
    lines = _lines(root, sid)
    _write_lines(root, sid, [lines[0], b"\x00" * len(lines[1])])
    with agentstore.open(root) as store:
        assert [e.type for e in store.get_events(sid)] == ["big"]
        assert store.append(sid, new_event("after")).seq == 2
        assert len(store.get_events(sid)[0].payload["blob"]) == 100_000


def test_a_batch_missing_its_last_line_is_cut_whole(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("one"))
        store.append_batch(sid, [new_event("batch", {"i": i}) for i in range(3)])
    _write_lines(root, sid, _lines(root, sid)[:3])  # seqs 1-3: the batch lost seq 4
    with agentstore.open(root) as store:
        assert [e.seq for e in store.get_events(sid)] == [1]
        assert store.append(sid, new_event("after")).seq == 2


def test_zeroed_lines_of_the_last_commit_are_cut_with_it(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("one"))
        store.append_batch(sid, [new_event("batch", {"i": i}) for i in range(3)])
    lines = _lines(root, sid)
    lines[1] = b"\x00" * len(lines[1])  # the batch's first line never reached the disk
    _write_lines(root, sid, lines)
    with agentstore.open(root) as store:
        assert store.append(sid, new_event("after")).seq == 2
        assert [e.type for e in store.get_events(sid)] == ["one", "after"]


def test_a_whole_record_of_another_session_at_the_end_is_damage(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        other = store.create_session().id
        store.append(sid, new_event("one"))
        store.append(other, new_event("theirs"))
    _write_lines(root, sid, _lines(root, sid) + _lines(root, other))
    with agentstore.open(root) as store:
        with pytest.raises(CorruptLogError, match=f"session '{other}'"):
            store.append(sid, new_event("refused"))
        with pytest.raises(CorruptLogError):
            store.get_events(sid)


class _CountingFiles(Files):
    def __init__(self, temporary_dir: str) -> None:
        super().__init__(temporary_dir)
        self.syncs = 0
        self.bytes_read = 0

    def sync(self, fd: int) -> None:
        self.syncs += 1
        super().sync(fd)

    def read_at(self, fd: int, offset: int, length: int) -> bytes:
        data = super().read_at(fd, offset, length)
        self.bytes_read += len(data)
        return data


def test_an_event_found_again_is_synced_before_it_is_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("one"))
    # Another writer wrote this line and died before its fsync.
    with agentstore.open(root) as other:
        line = _lines(root, sid)[0].replace(b'"sequence_number":1', b'"sequence_number":2')
        line = line.replace(line[line.rfind(b'"id":') :], b'"id":"retried"}')
        del other
    with _log(root, sid).open("ab") as file:
        file.write(line + b"\n")
    files = _CountingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        stored = store.append(sid, new_event("one", id="retried"))
        assert stored.seq == 2
        assert files.syncs == 1


def test_a_waiting_writer_interrupted_does_not_stall_the_session(tmp_path: Path) -> None:
    release, slow = threading.Event(), threading.Event()

    class SlowFiles(Files):
        def sync(self, fd: int) -> None:
            if slow.is_set():
                release.wait(5)
            super().sync(fd)

    root = tmp_path / "data"
    store = Store(JsonlBackend(root, files=SlowFiles(str(root / "tmp"))))
    sid = store.create_session().id
    slow.set()
    leader = threading.Thread(target=store.append, args=(sid, new_event("leader")))
    leader.start()
    time.sleep(0.1)  # the leader now waits in its fsync

    class WaitInterruptedError(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise WaitInterruptedError

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(WaitInterruptedError):
            store.append(sid, new_event("follower"))  # queued behind the leader
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    release.set()
    leader.join(5)
    later = threading.Thread(target=store.append, args=(sid, new_event("later")))
    later.start()
    later.join(5)
    assert not later.is_alive(), "the session stalled"
    assert store.get_events(sid)[0].type == "leader"
    store.close()


def test_many_sessions_do_not_make_appends_read_their_logs_again(tmp_path: Path) -> None:
    root = tmp_path / "data"
    files = _CountingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        ids = [store.create_session().id for _ in range(300)]
        for _ in range(2):
            for sid in ids:
                store.append(sid, new_event("step", {"text": "x" * 200}))
        files.bytes_read = 0
        for sid in ids:
            store.append(sid, new_event("step"))
        assert files.bytes_read == 0


def test_a_read_of_the_whole_log_indexes_each_lines_start_and_id(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        appended = store.append_batch(sid, [new_event("step", {"text": "x" * n}) for n in range(7)])
        appended.append(store.append(sid, new_event("last", {"é": "€"})))  # not ASCII
    data = _log(root, sid).read_bytes()
    starts = [0] + [at + 1 for at, byte in enumerate(data[:-1]) if byte == ord("\n")]
    files = _CountingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        assert store.replay(sid) == appended
        known = store.backend._log(sid)._known  # type: ignore[attr-defined]
        assert known.starts == starts
        assert known.ids == {event.id: event.seq for event in appended}
        files.bytes_read = 0
        assert store.get_events(sid, 5) == appended[4:]  # read from line 5's start
        again = store.append(sid, new_event("step", id=appended[2].id))
        assert again == appended[2]  # found by its id: no new line
        assert files.bytes_read == len(data) - starts[4] + starts[3] - starts[2]


def test_files_left_in_tmp_by_a_crash_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    agentstore.open(root).close()
    old, new = root / "tmp" / "x.json.dead.tmp", root / "tmp" / "y.json.live.tmp"
    old.write_text("{")
    new.write_text("{")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    with agentstore.open(root) as store:
        store.create_session(id="fine")
    assert not old.exists()
    assert new.exists()  # may belong to a process writing right now


def test_a_failed_write_that_cannot_be_undone_stops_appends(tmp_path: Path) -> None:
    class FailingFiles(Files):
        def append(self, fd: int, data: bytes) -> None:
            super().append(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        def truncate(self, fd: int, size: int) -> None:
            raise OSError(5, "Input/output error")

    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("one"))
    with Store(JsonlBackend(root, files=FailingFiles(str(root / "tmp")))) as store:
        with pytest.raises(OSError, match="No space left"):
            store.append_batch(sid, [new_event("a"), new_event("b")])
        with pytest.raises(OSError, match="was not undone"):
            store.append(sid, new_event("c"))
    with agentstore.open(root) as store:  # a new store cuts the half batch off
        assert store.append(sid, new_event("d")).seq == 2
        assert [e.type for e in store.get_events(sid)] == ["one", "d"]


def test_a_watch_of_all_sessions_sees_appends_after_a_torn_tail(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
        store.append(sid, new_event("one"))
    with _log(root, sid).open("ab") as file:
        file.write(b'{"session_id": "torn')
    with agentstore.open(root, poll_interval=0.01) as watcher, agentstore.open(root) as writer:
        feed = watcher.watch(timeout=0.5)
        writer.append(sid, new_event("two"))
        writer.append(sid, new_event("three"))
        assert [e.type for e in feed] == ["two", "three"]


def test_disk_failures_are_storage_errors(tmp_path: Path) -> None:
    class FullDisk(Files):
        def sync(self, fd: int) -> None:
            raise OSError(28, "No space left on device")

    root = tmp_path / "data"
    with agentstore.open(root) as store:
        sid = store.create_session().id
    with Store(JsonlBackend(root, files=FullDisk(str(root / "tmp")))) as store:
        with pytest.raises(agentstore.StorageError) as raised:
            store.append(sid, new_event("lost"))
        assert raised.value.errno == 28
        assert isinstance(raised.value, OSError)
    with agentstore.open(root) as store:
        assert store.get_events(sid) == []  # the write was undone


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(agentstore.InvalidArgumentError, match="not a directory"):
        agentstore.open(tmp_path / "file")


def test_appends_to_many_sessions_at_once_fail_only_where_the_disk_fails(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        good, bad, other = (store.create_session(id=name).id for name in ("a", "b", "c"))
    failing = str(_log(root, bad))

    class OneBadFile(Files):
        def sync(self, fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}") == failing:
                raise OSError(5, "Input/output error")
            super().sync(fd)

    backend = JsonlBackend(root, files=OneBadFile(str(root / "tmp")))
    with Store(backend) as store:
        requests = [
            (sid, prepare_batch([new_event("step", {"n": n})], 1 << 20), None)
            for n, sid in enumerate([good, bad, other, good])
        ]
        outcomes = backend.append_many(requests)
        assert [e.seq for e in outcomes[0]] == [1]  # type: ignore[union-attr]
        assert isinstance(outcomes[1], agentstore.StorageError)
        assert outcomes[1].errno == 5
        assert [e.seq for e in outcomes[2]] == [1]  # type: ignore[union-attr]
        assert [e.seq for e in outcomes[3]] == [2]  # type: ignore[union-attr]
    with agentstore.open(root) as store:
        assert [len(store.get_events(sid)) for sid in (good, bad, other)] == [2, 0, 1]


def test_a_watch_of_all_sessions_goes_on_past_a_log_without_its_session(tmp_path: Path) -> None:
    """A log whose session record is not there (yet, or no more) is passed over."""
    with agentstore.open(tmp_path / "data", poll_interval=0.01) as store:
        store.create_session(id="real")
        watch = store.watch(None, timeout=5)
        (tmp_path / "data" / "events" / "ghost.jsonl").write_bytes(b"")
        (tmp_path / "data" / "events" / "ghost.jsonl").write_bytes(b"{}\n")
        store.append("real", agentstore.new_event("custom", {"n": 1}))
        assert next(watch).session_id == "real"
        watch.close()
