"""Repairing a damaged JSONL log, as a user does it: the library, the real command, crashes.

Every kind of damage is made in the middle of a real log; ``verify`` names it, ``repair``
(the library, then the installed ``agentstore`` command) moves the damaged lines into the
quarantine file byte for byte, and the session reads, verifies and appends again. A
repair interrupted at any step (a power loss, a failed call) leaves the old log or the
new one, never none; writers waiting on the log's lock follow it to the new file.
"""

from __future__ import annotations

import base64
import errno
import json
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import CorruptLogError, ReadOnlyStoreError, StorageError, Store, new_event
from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.jsonl.files import Files
from agentstore.backends.jsonl.repair import MAX_FILLED, plan_repair
from agentstore.repairing import LOST_EVENT_TYPE, repair
from agentstore.testing.conformance.repairs import DAMAGES, Damage, quarantined_bytes
from agentstore.timestamps import now
from agentstore.verifying import verify

from .power_loss import PowerLoss, PowerLossFiles
from .test_cli import AGENTSTORE, run

SESSION = "damaged-run"


def _record(store: Store) -> list[dict[str, Any]]:
    store.create_session(id=SESSION, name="damaged")
    for number in range(6):
        store.append(SESSION, new_event("step", {"n": number, "text": "ünïcode ✓"}))
    store.get_state(SESSION)  # a snapshot at seq 6 (interval 2)
    return [event.to_dict() for event in store.get_events(SESSION)]


def _log(root: Path) -> Path:
    return root / "events" / f"{SESSION}.jsonl"


def _damage(root: Path, damage: Damage) -> list[bytes]:
    """Damage the session's log; return its lines as they were before."""
    lines = _log(root).read_bytes().splitlines()
    changed = list(lines)
    damage.change(changed)
    _log(root).write_bytes(b"".join(line + b"\n" for line in changed))
    return changed


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "agent-data"


# The command, as a user runs it


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_the_command_repairs_each_kind_of_damage(root: Path, damage: Damage) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        before = _record(store)
    damaged = _damage(root, damage)
    found = run("--store", str(root), "verify", SESSION, check=1).stdout
    first = (damage.quarantined or damage.filled)[0]
    assert f"error: {_log(root)}:{first}: " in found

    untouched = _files(root)
    dry = run("--store", str(root), "repair", SESSION, "--dry-run").stdout
    assert "nothing was changed" in dry
    assert _files(root) == untouched

    done = run("--store", str(root), "repair", SESSION).stdout
    for number in damage.quarantined:
        assert f"line {number}: " in done
    assert "\x1b" not in done
    assert "\x07" not in done
    assert f"Repaired session {SESSION}" in done
    quarantine = root / "events" / f"{SESSION}.jsonl.quarantine"
    if damage.quarantined:
        assert str(quarantine) in done
        assert quarantined_bytes(quarantine) == [damaged[n - 1] for n in damage.quarantined]
    else:
        assert not quarantine.exists()

    assert run("--store", str(root), "verify").stdout.endswith("no problems.\n")
    replayed = run("--store", str(root), "replay", SESSION, "--format", "json").stdout
    events = json.loads(replayed)
    assert [event["sequence_number"] for event in events] == [1, 2, 3, 4, 5, 6]
    assert [events[seq - 1]["type"] for seq in damage.filled] == [LOST_EVENT_TYPE] * len(
        damage.filled
    )
    good = [event for event in before if event["sequence_number"] not in damage.filled]
    assert [event for event in events if event["sequence_number"] not in damage.filled] == good
    with agentstore.open(root) as store:
        assert store.append(SESSION, new_event("after.repair")).seq == 7
    again = json.loads(run("--store", str(root), "repair", SESSION, "--format", "json").stdout)
    assert (again["needed"], again["quarantined"], again["events"]) == (False, [], 7)


def test_the_command_reports_in_json_with_the_exact_bytes(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
    damaged = _damage(root, DAMAGES["garbage"])
    report = json.loads(run("--store", str(root), "repair", SESSION, "--format", "json").stdout)
    assert report["needed"]
    assert not report["dry_run"]
    assert report["log"] == str(_log(root))
    assert report["quarantine"] == str(_log(root)) + ".quarantine"
    [line] = report["quarantined"]
    assert (line["line"], line["reason"]) == (3, "not valid JSON")
    assert base64.b64decode(line["base64"]) == damaged[2]
    assert (report["filled"], report["snapshot_removed"], report["events"]) == ([3], True, 6)


def test_a_healthy_log_is_left_as_it_is(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
    before = _files(root)
    done = run("--store", str(root), "repair", SESSION)
    assert done.stdout == f"Nothing to repair in session {SESSION} (6 events).\n"
    with agentstore.open(root) as store:
        assert not repair(store, SESSION).needed
    assert _files(root) == before


def test_a_database_has_nothing_to_repair(tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'agent.db'}"
    with agentstore.open(target) as store:
        session = store.create_session()
        store.append(session.id, new_event("step"))
    done = run("--store", target, "repair", session.id[:8])
    assert done.stdout == f"Nothing to repair in session {session.id} (1 event).\n"
    assert "no session" in run("--store", target, "repair", "nope", check=1).stderr


def test_the_command_refuses_what_is_not_a_store_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a store")
    done = run("--store", str(folder), "repair", "x", check=1)
    assert done.stderr.startswith("Error: no store at ")
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]


# The library


def test_a_dry_run_changes_nothing(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
    _damage(root, DAMAGES["half a line"])
    before = _files(root)
    with agentstore.open(root) as store:
        report = repair(store, SESSION, dry_run=True)
        assert report.needed
        assert report.dry_run
        assert ([line.line for line in report.quarantined], report.filled) == ([3], [3])
        with pytest.raises(CorruptLogError):
            store.get_events(SESSION)
    assert _files(root) == before


def test_a_read_only_store_finds_the_damage_and_refuses_to_repair_it(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
    _damage(root, DAMAGES["half a line"])
    before = _files(root)
    with agentstore.open(root, read_only=True) as store:
        report = repair(store, SESSION, dry_run=True)
        assert ([line.line for line in report.quarantined], report.filled) == ([3], [3])
        with pytest.raises(ReadOnlyStoreError, match="repair"):
            repair(store, SESSION)
    assert _files(root) == before


def test_the_repairing_store_folds_state_again(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
        assert store.get_state(SESSION).data["step"]["n"] == 5  # cached in this store
        lines = _log(root).read_bytes().splitlines()
        lines[4] = b"garbage"
        _log(root).write_bytes(b"".join(line + b"\n" for line in lines))
        assert repair(store, SESSION).filled == [5]
        state = store.get_state(SESSION)
        assert (state.version, state.data["step"]["n"]) == (6, 5)
        assert LOST_EVENT_TYPE in state.data  # folded again, from the repaired log


def test_a_damaged_last_line_is_moved_aside_and_its_seq_appended_again(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
        lines = _log(root).read_bytes().splitlines()
        lines[5] = b'{"session_id": "someone-else"}'
        _log(root).write_bytes(b"".join(line + b"\n" for line in lines))
        report = repair(store, SESSION)
        assert ([line.line for line in report.quarantined], report.filled) == ([6], [])
        assert store.get_state(SESSION).event_count == 5
        assert store.append(SESSION, new_event("after")).seq == 6


def test_quarantine_entries_are_appended_never_replaced(root: Path) -> None:
    with agentstore.open(root) as store:
        _record(store)
    first = _damage(root, DAMAGES["garbage"])[2]
    with agentstore.open(root) as store:
        repair(store, SESSION)
    second = _damage(root, DAMAGES["not an event"])[2]
    with agentstore.open(root) as store:
        repair(store, SESSION)
    quarantine = root / "events" / f"{SESSION}.jsonl.quarantine"
    assert quarantined_bytes(quarantine) == [first, second]
    assert oct(quarantine.stat().st_mode & 0o777) == oct(0o600)


def test_a_plan_cuts_a_torn_tail_and_an_unfinished_batch_into_the_quarantine() -> None:
    with agentstore.open(":memory:") as store:
        store.create_session(id=SESSION)
        events = store.append_batch(SESSION, [new_event("step", {"n": n}) for n in range(4)])
    from agentstore.backends.codec import encode_event

    lines = [encode_event(event) for event in events]
    batch_line = lines[3][:-2] + b',"more":1}\n'  # seq 4 says more of its batch follows
    data = b"".join(lines[:3]) + batch_line + b'{"session_id":"dam'
    plan = plan_repair(data, session_id=SESSION, quarantine="q", moment=now())
    assert [(line.line, line.reason) for line in plan.quarantined] == [
        (4, "a batch whose last line never reached the disk"),
        (5, "torn last line (an interrupted write)"),
    ]
    assert plan.lines == lines[:3]
    assert (plan.filled, plan.intact) == ([], 3)


def test_a_plan_quarantines_a_seq_too_far_ahead_instead_of_filling_it() -> None:
    with agentstore.open(":memory:") as store:
        store.create_session(id=SESSION)
        events = store.append_batch(SESSION, [new_event("step") for _ in range(3)])
    from agentstore.backends.codec import encode_event

    lines = [encode_event(event) for event in events]
    far = MAX_FILLED + 10
    lines[2] = lines[2].replace(b'"sequence_number":3', b'"sequence_number":%d' % far)
    plan = plan_repair(b"".join(lines), session_id=SESSION, quarantine="q", moment=now())
    assert [line.line for line in plan.quarantined] == [3]
    assert "too far ahead" in plan.quarantined[0].reason
    assert len(plan.lines) == 2


def test_a_plan_keeps_every_event_around_a_wrong_seq_and_a_repeated_line() -> None:
    with agentstore.open(":memory:") as store:
        store.create_session(id=SESSION)
        events = store.append_batch(SESSION, [new_event("step") for _ in range(6)])
    from agentstore.backends.codec import encode_event

    lines = [encode_event(event) for event in events]
    wrong = lines[2].replace(b'"sequence_number":3', b'"sequence_number":7')
    damaged = [*lines[:2], wrong, lines[1], *lines[2:]]  # 1, 2, "7", 2 again, 3..6
    plan = plan_repair(b"".join(damaged), session_id=SESSION, quarantine="q", moment=now())
    assert [(line.line, line.reason) for line in plan.quarantined] == [
        (3, "seq 7 out of order: a later line holds seq 3"),
        (4, "duplicate seq: expected 3, found 2"),
    ]
    assert plan.lines == lines
    assert (plan.filled, plan.intact) == ([], 2)


# Crashes and failures


def _powered(root: Path, *, crash_at: int | None) -> tuple[PowerLossFiles, JsonlBackend]:
    files = PowerLossFiles(str(root), crash_at=crash_at)
    return files, JsonlBackend(root, files=files)


def _damaged_powered_store(root: Path) -> tuple[PowerLossFiles, JsonlBackend, list[bytes]]:
    """A store through the power-loss file layer, its log damaged and the damage durable."""
    files, backend = _powered(root, crash_at=None)
    _record(Store(backend, snapshot_interval=2))
    damaged = _damage(root, DAMAGES["half a line"])
    fd = files.open_log(str(_log(root)))
    try:
        files.sync(fd)  # the damage is on the disk, as a disk's damage is
    finally:
        files.close(fd)
    return files, backend, damaged


def test_a_power_loss_at_any_step_of_a_repair_leaves_the_old_log_or_the_new(
    tmp_path: Path,
) -> None:
    files, backend, _ = _damaged_powered_store(tmp_path / "count")
    start = files.operations
    repair(Store(backend), SESSION)
    steps = files.operations - start
    backend.close()
    assert steps >= 6
    rng = random.Random(13)
    for step in range(1, steps + 1):
        root = tmp_path / f"run-{step}"
        files, backend, damaged = _damaged_powered_store(root)
        files.crash_at = files.operations + step
        with pytest.raises(PowerLoss):
            repair(Store(backend), SESSION)
        backend.close()
        rebooted = tmp_path / f"after-{step}"
        files.crash_copy(str(rebooted), rng)
        try:
            _check_after_crash(rebooted, damaged)
        except AssertionError as failure:
            pytest.fail(f"power lost at step {step} of {steps}: {failure}")


def _check_after_crash(root: Path, damaged: list[bytes]) -> None:
    log = _log(root).read_bytes()
    with agentstore.open(root) as store:
        if log == b"".join(line + b"\n" for line in damaged):  # the old log, whole
            assert verify(store, [SESSION]).errors
        else:  # the new one, whole, and the damaged line kept before it was put in place
            assert not verify(store, [SESSION]).problems
            quarantine = root / "events" / f"{SESSION}.jsonl.quarantine"
            assert damaged[2] in quarantined_bytes(quarantine)
        repair(store, SESSION)
        assert not verify(store, [SESSION]).problems
        events = store.get_events(SESSION)
        assert [event.seq for event in events] == [1, 2, 3, 4, 5, 6]
        assert [event.type for event in events].count("step") == 5
        assert store.append(SESSION, new_event("after.reboot")).seq == 7


class _FailingFiles(Files):
    """Files whose ``failing``-th call that changes the disk fails once, with EIO."""

    def __init__(self, temporary_dir: str) -> None:
        super().__init__(temporary_dir)
        self.calls = 0
        self.failing: int | None = None

    def _call(self) -> None:
        self.calls += 1
        if self.calls == self.failing:
            raise OSError(errno.EIO, "injected failure")

    def open_log(self, path: str) -> int:
        self._call()
        return super().open_log(path)

    def append(self, fd: int, data: bytes) -> None:
        self._call()
        super().append(fd, data)

    def sync(self, fd: int) -> None:
        self._call()
        super().sync(fd)

    def create_temporary(self, path: str) -> int:
        self._call()
        return super().create_temporary(path)

    def rename(self, source: str, target: str) -> None:
        self._call()
        super().rename(source, target)

    def remove(self, path: str) -> None:
        self._call()
        super().remove(path)

    def sync_dir(self, path: str) -> None:
        self._call()
        super().sync_dir(path)


def test_a_failure_at_any_step_raises_and_a_second_repair_finishes(root: Path) -> None:
    with agentstore.open(root, snapshot_interval=2) as store:
        _record(store)
    damaged = _damage(root, DAMAGES["garbage"])
    pristine = root.parent / "pristine"
    shutil.copytree(root, pristine)
    files = _FailingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        start = files.calls
        repair(store, SESSION)
        steps = files.calls - start
    for step in range(1, steps + 1):
        shutil.rmtree(root)
        shutil.copytree(pristine, root)
        files = _FailingFiles(str(root / "tmp"))
        with Store(JsonlBackend(root, files=files)) as store:
            files.failing = files.calls + step
            with pytest.raises(StorageError, match="injected failure"):
                repair(store, SESSION)
            old = _log(root).read_bytes() == b"".join(line + b"\n" for line in damaged)
            assert old or not verify(store, [SESSION]).problems, f"step {step}"
            repair(store, SESSION)
            assert not verify(store, [SESSION]).problems
            assert store.append(SESSION, new_event("after")).seq == 7, f"step {step}"


# Other writers


def test_a_writer_waiting_for_the_lock_appends_to_the_repaired_log(root: Path) -> None:
    with agentstore.open(root) as store:
        _record(store)
    _damage(root, DAMAGES["garbage"])
    paused, resume = threading.Event(), threading.Event()

    class PausingFiles(Files):
        def write_file(self, path: str, data: bytes, *, exclusive: bool = False) -> bool:
            if path.endswith(".jsonl"):
                paused.set()
                resume.wait(10)
            return super().write_file(path, data, exclusive=exclusive)

    repairer = Store(JsonlBackend(root, files=PausingFiles(str(root / "tmp"))))
    writer = agentstore.open(root)  # its own file and lock, as another process has
    appended: list[int] = []
    repairing = threading.Thread(target=repair, args=(repairer, SESSION))
    repairing.start()
    assert paused.wait(10)  # the repair holds the log's lock and is about to replace it
    appending = threading.Thread(
        target=lambda: appended.append(writer.append(SESSION, new_event("waited")).seq)
    )
    appending.start()
    time.sleep(0.3)
    assert not appended  # the writer waits for the lock
    resume.set()
    repairing.join(10)
    appending.join(10)
    assert appended == [7]
    with agentstore.open(root) as store:
        assert [event.type for event in store.get_events(SESSION)][-1] == "waited"
        assert not verify(store, [SESSION]).problems
    writer.close()
    repairer.close()


_APPENDER = """
import sys
import agentstore
from agentstore import CorruptLogError, new_event

root, session_id, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
with agentstore.open(root) as store:
    done, told = 0, False
    while done < wanted:
        try:
            event = store.append(session_id, new_event("from.another.process", {"n": done}))
        except CorruptLogError:
            if not told:
                print("refused", flush=True)  # the log is damaged: the repair may start
                told = True
            continue
        print(event.id, flush=True)
        done += 1
"""


def test_appends_of_another_process_during_a_repair_are_all_kept(root: Path) -> None:
    with agentstore.open(root) as store:
        _record(store)
    _damage(root, DAMAGES["a repeated seq"])
    appender = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(root), SESSION, "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert appender.stdout is not None
    assert appender.stdout.readline() == "refused\n"  # it keeps trying meanwhile
    with agentstore.open(root) as store:
        assert repair(store, SESSION).filled == [4]
    out, _ = appender.communicate(timeout=60)
    assert appender.returncode == 0
    acknowledged = out.split()
    assert len(acknowledged) == 50
    with agentstore.open(root) as store:
        events = store.get_events(SESSION)
        assert [event.seq for event in events] == list(range(1, 57))
        assert [event.id for event in events[6:]] == acknowledged
        assert not verify(store, [SESSION]).problems


def test_the_command_is_installed_with_help() -> None:
    done = subprocess.run([AGENTSTORE, "repair", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--dry-run" in done.stdout
    assert "quarantine" in done.stdout
