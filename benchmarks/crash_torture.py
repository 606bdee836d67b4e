"""Kill a JSONL writer hundreds of times and check that no acknowledged event was lost.

Usage: ``python benchmarks/crash_torture.py [--kills 200] [--dir DIR]``.

A writer subprocess appends events to one session and prints each event's id once its
append has returned (that is, once it is durable). This script SIGKILLs it at random
moments; after every third kill it also appends what a crash mid-write or a power loss
leaves (a partial line, or zero bytes) to the log. At the end it checks that every
acknowledged id is in the log exactly once, that seqs run 1..N without a gap, and that
the store still appends. The test suite runs the same check with 30 kills.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import agentstore
from agentstore import new_event

WRITER = """
import sys, agentstore
from agentstore import new_event
with agentstore.open(sys.argv[1]) as store:
    n = 0
    while True:
        event = store.append(sys.argv[2], new_event("tick", {"n": n, "pad": "x" * (n % 300)}))
        sys.stdout.write(event.id + "\\n")
        sys.stdout.flush()
        n += 1
"""
DEBRIS = [b'{"session_id":"', b"\x00" * 64, b'{"sequence_number": 7, "type": "ti']


def torture(directory: str, kills: int, seed: int) -> tuple[int, int]:
    """Run the kills; return (acknowledged, stored) event counts."""
    rng = random.Random(seed)
    with agentstore.open(directory) as store:
        session_id = store.create_session(name="torture").id
    log = Path(directory) / "events" / f"{session_id}.jsonl"
    acknowledged: list[str] = []
    for kill in range(kills):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, directory, session_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.05, 0.3))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        acknowledged += out.split()
        if kill % 3 == 0:
            with log.open("ab") as file:
                file.write(rng.choice(DEBRIS))
        if (kill + 1) % 20 == 0:
            print(f"{kill + 1} kills, {len(acknowledged)} events acknowledged", flush=True)
    with agentstore.open(directory) as store:
        events = store.get_events(session_id)
        ids = [event.id for event in events]
        assert [event.seq for event in events] == list(range(1, len(events) + 1)), "a seq gap"
        assert len(set(ids)) == len(ids), "an event stored twice"
        missing = set(acknowledged) - set(ids)
        assert not missing, f"{len(missing)} acknowledged events lost"
        store.append(session_id, new_event("after"))
    return len(acknowledged), len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", help="where to create the store (default: a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        started = time.monotonic()
        acknowledged, stored = torture(directory, args.kills, args.seed)
    print(
        f"{args.kills} kills in {time.monotonic() - started:.0f} s: {acknowledged} events "
        f"acknowledged, {stored} stored (the rest were written but never acknowledged), "
        "none lost, seqs gapless"
    )


if __name__ == "__main__":
    main()
