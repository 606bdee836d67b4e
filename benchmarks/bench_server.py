"""The store's HTTP server and its remote client: appends, live watchers and replays.

Usage: ``python benchmarks/bench_server.py [--quick] [--dir DIR] [--rounds R] [--watchers N]
[--rate R] [--parts appends,replays,watchers]``.

Method: each store lives in a fresh directory under ``--dir``; ``agentstore serve`` runs it
in a subprocess (one worker, uvicorn's defaults), and the same backend is also opened in
this process, so every HTTP figure has its in-process twin measured in the same run. The
clients and the server share the machine's cores; the CPU time each side spends (this
process's, and the server's from ``/proc/PID/stat``) is reported per event, and the load
average at the start and the end of the run.

- Appends, on a JSONL directory and a SQLite file: 1 writer appending 200 events to its
  session, and 32 writers appending 40 each to 32 sessions, every append timed on its
  own. In process, the writers are threads of one ``Store`` (and, for reference, tasks of
  one ``AsyncStore``); over HTTP, threads sharing one ``Store`` opened on the server's
  URL, threads each with a ``Store`` of their own, the same spread over 4 processes, and
  tasks of one remote ``AsyncStore``. The rounds of every kind are taken in turn, so the
  machine's load weighs on all alike; each figure is the median of ``--rounds`` rounds:
  p50 and p99 of the appends' latencies, and the rate (all events over the time from the
  start to the last one's end). Target: 32 HTTP clients append at least 70% of the rate
  of 32 in-process threads.
- Watchers, on a server of a JSONL directory and on one of a store in memory:
  ``--watchers`` Server-Sent Event streams of one session
  (``/v1/sessions/ID/watch?live=1``), held open by this process over raw asyncio
  sockets. The server's resident set (``VmRSS``) is read before and after opening them,
  and its CPU time while they sit idle for 2 s. Then one remote ``AsyncStore`` appends
  50 events at ``--rate`` a second and every watcher notes when each arrives: the delay
  runs from the start of the append call to the message's arrival. Targets: p99 delay
  under 100 ms, under 50 KB of server memory per idle watcher.
- Replays of one session of 10,000 events (LLM responses and tool calls of about 300
  bytes), on each backend: ``get_events`` and ``iter_events`` of a store in this process
  and of a remote store, and a raw ``GET /v1/sessions/ID/replay`` read to its end (bytes,
  not parsed), each the median of ``--rounds`` runs after one that is not counted, taken
  in turn. Target: within 2x the in-process time.

See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx2

import agentstore
import agentstore.aio
from agentstore import EventType, Metadata, Store, new_event
from agentstore.aio import AsyncStore

#: The processes the clients of a round of many clients in processes are spread over.
CLIENT_PROCESSES = 4
_PAYLOAD = {"tool": "search_flights", "query": "BER → MUC"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """An ``agentstore serve`` process of ``target``, on a free port of 127.0.0.1."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open as long as the server

    def __enter__(self) -> Server:
        command = [sys.executable, "-m", "agentstore", "--store", self.target, "serve"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                error = self.log.read().decode(errors="replace")
                raise RuntimeError(f"the server exited ({self.process.returncode}): {error}")
            try:
                if httpx2.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("the server did not start in 30 s")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss(self) -> int:
        """The server's resident set now, in bytes (``VmRSS``)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """The CPU time the server has used so far (user and system, all its threads)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


# Appends


@dataclass
class Round:
    latencies: list[float]  # seconds, one per append
    rate: float  # events per second
    client_cpu: float = 0.0  # seconds of this process's CPU per event
    server_cpu: float = 0.0  # seconds of the server's CPU per event


@dataclass
class Mode:
    """One way of appending, and its rounds."""

    name: str
    run: Callable[[], Round]
    rounds: list[Round] = field(default_factory=list)

    def figures(self) -> tuple[float, float, float, float, float]:
        """The medians over the rounds of p50 and p99 (ms), of the rate (events/s) and of
        the CPU per event of this process and of the server (µs)."""
        rounds = self.rounds
        p50 = statistics.median(_percentile(r.latencies, 50) for r in rounds)
        p99 = statistics.median(_percentile(r.latencies, 99) for r in rounds)
        rate = statistics.median(r.rate for r in rounds)
        client = statistics.median(r.client_cpu for r in rounds)
        server = statistics.median(r.server_cpu for r in rounds)
        return p50 * 1e3, p99 * 1e3, rate, client * 1e6, server * 1e6


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Meter:
    """The CPU time this process and the server use from :meth:`start` to :meth:`stop`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = self.served = 0.0

    def start(self) -> None:
        self.client, self.served = _client_cpu(), self.server.cpu_seconds()

    def stop(self, events: int) -> tuple[float, float]:
        """The CPU seconds per event of this process (and of its children that ended
        meanwhile) and of the server."""
        client = _client_cpu() - self.client
        return client / events, (self.server.cpu_seconds() - self.served) / events


def _client_cpu() -> float:
    """The CPU time of this process, and of the children it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _write(stores: Sequence[Store], appends: int, begin: Callable[[], object]) -> list[float]:
    """Each store's thread appends ``appends`` events to a session of its own (stores may
    repeat: threads sharing one store), from when ``begin`` returns: every append's
    latency."""
    sessions = [store.create_session().id for store in stores]
    latencies: list[list[float]] = [[] for _ in stores]
    ready = threading.Barrier(len(stores) + 1)

    def write(k: int) -> None:
        store, session_id, times = stores[k], sessions[k], latencies[k]
        ready.wait()
        for n in range(appends):
            event = new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n})
            started = time.perf_counter()
            store.append(session_id, event)
            times.append(time.perf_counter() - started)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(len(stores))]
    for thread in threads:
        thread.start()
    begin()
    ready.wait()
    for thread in threads:
        thread.join()
    return [t for times in latencies for t in times]


def threads_round(stores: Sequence[Store], appends: int, meter: Meter) -> Round:
    """Each store's thread appends ``appends`` events to a session of its own."""
    started = 0.0

    def begin() -> None:
        nonlocal started
        meter.start()
        started = time.perf_counter()

    latencies = _write(stores, appends, begin)
    seconds = time.perf_counter() - started
    events = len(stores) * appends
    return Round(latencies, events / seconds, *meter.stop(events))


def processes_round(url: str, processes: int, writers: int, appends: int, meter: Meter) -> Round:
    """``writers`` clients, each a remote store of its own in a thread, spread over
    ``processes`` processes (forked before the round, each ready before it starts)."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    answers: multiprocessing.SimpleQueue[list[float]] = context.SimpleQueue()
    each = writers // processes
    children = [
        context.Process(target=_client_process, args=(url, each, appends, start, answers))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    meter.start()
    start.wait()
    started = time.perf_counter()
    latencies = [t for _ in children for t in answers.get()]
    seconds = time.perf_counter() - started
    for child in children:
        child.join()
    events = each * processes * appends
    return Round(latencies, events / seconds, *meter.stop(events))


def _client_process(
    url: str,
    writers: int,
    appends: int,
    start: threading.Barrier,
    answers: multiprocessing.SimpleQueue[list[float]],
) -> None:
    stores = [agentstore.open(url) for _ in range(writers)]
    try:
        answers.put(_write(stores, appends, start.wait))
    finally:
        for store in stores:
            store.close()


async def tasks_round(store: AsyncStore, writers: int, appends: int, meter: Meter) -> Round:
    """``writers`` tasks of one store append ``appends`` events each to a session of their own."""
    sessions = [(await store.create_session()).id for _ in range(writers)]
    latencies: list[float] = []

    async def write(session_id: str) -> None:
        for n in range(appends):
            event = new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n})
            started = time.perf_counter()
            await store.append(session_id, event)
            latencies.append(time.perf_counter() - started)

    meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(write(session_id) for session_id in sessions))
    seconds = time.perf_counter() - started
    events = writers * appends
    return Round(latencies, events / seconds, *meter.stop(events))


def appends(
    target: str, server: Server, *, writers: int, single: int, each: int, rounds: int
) -> list[Mode]:
    """Every way of appending, its rounds taken in turn; returns the modes with their rounds."""
    loop = asyncio.new_event_loop()
    local = agentstore.open(target)
    local_async = loop.run_until_complete(agentstore.aio.open(target))
    remote = agentstore.open(server.url)
    clients = [agentstore.open(server.url) for _ in range(writers)]
    remote_async = loop.run_until_complete(agentstore.aio.open(server.url))
    meter = Meter(server)
    modes = [
        Mode("in-process, 1 thread", lambda: threads_round([local], single, meter)),
        Mode("HTTP, 1 client", lambda: threads_round([remote], single, meter)),
        Mode(
            f"in-process, {writers} threads",
            lambda: threads_round([local] * writers, each, meter),
        ),
        Mode(
            f"in-process, {writers} async tasks",
            lambda: loop.run_until_complete(tasks_round(local_async, writers, each, meter)),
        ),
        Mode(
            f"HTTP, {writers} threads, one client",
            lambda: threads_round([remote] * writers, each, meter),
        ),
        Mode(
            f"HTTP, {writers} threads, a client each",
            lambda: threads_round(clients, each, meter),
        ),
        Mode(
            f"HTTP, {writers} clients in {CLIENT_PROCESSES} processes",
            lambda: processes_round(server.url, CLIENT_PROCESSES, writers, each, meter),
        ),
        Mode(
            f"HTTP, {writers} async tasks, one client",
            lambda: loop.run_until_complete(tasks_round(remote_async, writers, each, meter)),
        ),
    ]
    try:
        threads_round(clients, 2, meter)  # the server's first requests, not counted
        for _ in range(rounds):
            for mode in modes:
                mode.rounds.append(mode.run())
    finally:
        for store in [local, remote, *clients]:
            store.close()
        loop.run_until_complete(local_async.aclose())
        loop.run_until_complete(remote_async.aclose())
        loop.close()
    return modes


# Watchers


class Watcher(asyncio.Protocol):
    """One Server-Sent Events stream of a session, read over a raw socket: each message's
    arrival is noted as the bytes are read, by the protocol's callback (no task or stream
    reader of its own, so a thousand watchers in one process weigh little on what they
    measure)."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}  # seq -> perf_counter() at its arrival
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._head = True  # the response's status and headers are still to come
        self._pending = b""

    async def open(self, port: int, session_id: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, "127.0.0.1", port)
        assert self.transport is not None
        self.transport.write(
            f"GET /v1/sessions/{session_id}/watch?live=1 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await self.ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._pending += data
        if self._head:
            head, found, self._pending = self._pending.partition(b"\r\n\r\n")
            if not found:
                self._pending = head
                return
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                self.ready.set_exception(RuntimeError(f"the watch was refused: {head[:80]!r}"))
                return
            self._head = False
        # The chunked body's framing (size lines) is left in: messages are found by their
        # blank-line ends, and a chunk's size line never starts with "id: ".
        *messages, self._pending = self._pending.split(b"\n\n")
        for message in messages:
            if b"event: ready" in message:
                if not self.ready.done():
                    self.ready.set_result(None)
                continue
            start = message.find(b"id: ")
            if start < 0:
                continue  # a keep-alive
            self.arrived[int(message[start + 4 : message.index(b"\n", start)])] = now

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError("the watch's connection was lost"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class WatchFigures:
    watchers: int
    rss_before: int
    rss_after: int
    idle_cpu: float  # of a core, while the watchers sit idle
    delays: list[float]  # seconds, every watcher's every event
    expected: int
    append_latencies: list[float]
    busy_cpu: float  # of a core, while events are appended and delivered
    busy_seconds: float  # from the first append to the last delivery (or the deadline)
    watching_cpu: float  # of a core, this process's while the events are delivered

    @property
    def per_watcher(self) -> float:
        return (self.rss_after - self.rss_before) / self.watchers

    @property
    def per_message(self) -> float:
        """The server's CPU seconds per message delivered, while events are delivered."""
        return self.busy_cpu * self.busy_seconds / max(1, len(self.delays))


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def watching(server: Server, watchers: int, events: int, rate: float) -> WatchFigures:
    """Open ``watchers`` streams of one session, then append ``events`` at ``rate`` a second
    and note when each reaches each watcher."""
    store = await agentstore.aio.open(server.url)
    session_id = (await store.create_session(name="watched")).id
    await store.append(session_id, new_event(EventType.USER_MESSAGE, {"text": "hello"}))
    first = Watcher()  # the server's first watch, not counted (imports, first thread)
    await first.open(server.port, session_id)
    first.close()
    await asyncio.sleep(1.0)
    rss_before = server.rss()
    opened: list[Watcher] = []
    gate = asyncio.Semaphore(50)  # connections being opened at once

    async def open_one() -> None:
        async with gate:
            watcher = Watcher()
            opened.append(watcher)
            await watcher.open(server.port, session_id)

    try:
        await asyncio.gather(*(open_one() for _ in range(watchers)))
        await asyncio.sleep(1.0)
        rss_after = server.rss()
        cpu, wall = server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(2.0)
        idle_cpu = (server.cpu_seconds() - cpu) / (time.perf_counter() - wall)
        sent: dict[int, float] = {}
        latencies: list[float] = []
        cpu, wall, own = server.cpu_seconds(), time.perf_counter(), time.process_time()
        for n in range(events):
            tick = wall + n / rate
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            started = time.perf_counter()
            event = await store.append(session_id, new_event(EventType.TOOL_CALLED, {"n": n}))
            latencies.append(time.perf_counter() - started)
            sent[event.seq] = started
        last = max(sent)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(last not in w.arrived for w in opened):
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - wall
        busy_cpu = (server.cpu_seconds() - cpu) / seconds
        watching_cpu = (time.process_time() - own) / seconds
    finally:
        for watcher in opened:
            watcher.close()
        await store.aclose()
    delays = [w.arrived[seq] - sent[seq] for w in opened for seq in sent if seq in w.arrived]
    return WatchFigures(
        watchers,
        rss_before,
        rss_after,
        idle_cpu,
        delays,
        watchers * len(sent),
        latencies,
        busy_cpu,
        seconds,
        watching_cpu,
    )


# Replays


def _event(k: int) -> agentstore.Event:
    if k % 2:
        return new_event(
            EventType.LLM_RESPONSE,
            {"content": f"Step {k}: the two cheapest flights are LH1234 and EW5678."},
            metadata=Metadata(model="gpt-4o", tokens_in=850, tokens_out=120, cost_usd=0.0042),
        )
    return new_event(
        EventType.TOOL_CALLED,
        {"tool": "search_flights", "query": "BER → MUC", "date": "2026-12-04", "k": k},
        metadata=Metadata(tool_name="search_flights", duration_ms=230),
    )


@dataclass
class Read:
    """The medians of one way of reading a session whole, in seconds."""

    seconds: float
    client_cpu: float
    server_cpu: float


def replays(target: str, server: Server, *, events: int, rounds: int) -> dict[str, Read]:
    """Each way of reading one session of ``events`` events whole, its runs taken in turn."""
    local = agentstore.open(target)
    remote = agentstore.open(server.url)
    raw = httpx2.Client(base_url=server.url, timeout=60)
    try:
        session_id = local.create_session(name="replayed").id
        for start in range(0, events, 1000):
            batch = [_event(k) for k in range(start, min(start + 1000, events))]
            local.append_batch(session_id, batch)

        def raw_replay() -> int:
            response = raw.get(f"/v1/sessions/{session_id}/replay")
            response.raise_for_status()
            return response.content.count(b"\n")

        reads: dict[str, Callable[[], int]] = {
            "in-process get_events": lambda: len(local.get_events(session_id)),
            "in-process iter_events": lambda: sum(1 for _ in local.iter_events(session_id)),
            "HTTP get_events": lambda: len(remote.get_events(session_id)),
            "HTTP iter_events": lambda: sum(1 for _ in remote.iter_events(session_id)),
            "HTTP raw GET /replay": raw_replay,
        }
        meter = Meter(server)
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in reads}
        for count in range(rounds + 1):
            for name, read in reads.items():
                meter.start()
                started = time.perf_counter()
                read_events = read()
                seconds = time.perf_counter() - started
                if count:  # the first of each is not counted
                    runs[name].append((seconds, *meter.stop(1)))
                if read_events != events:
                    raise RuntimeError(f"{name} read {read_events} events, not {events}")
    finally:
        local.close()
        remote.close()
        raw.close()
    return {
        name: Read(*(statistics.median(figures) for figures in zip(*done, strict=True)))
        for name, done in runs.items()
    }


# The tables


def _print(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print(title)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    parser.add_argument("--dir", help="where to create the JSONL and SQLite stores")
    parser.add_argument("--rounds", type=int, help="rounds of each kind (5; 1 with --quick)")
    parser.add_argument("--watchers", type=int, help="SSE watchers (1,000; 20 with --quick)")
    parser.add_argument("--rate", type=float, help="events/s sent to the watchers (5)")
    parser.add_argument(
        "--parts",
        default="appends,replays,watchers",
        help="what to measure, of appends, replays and watchers (all)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    writers = 32
    # Quick: every path once, with a handful of events.
    if args.quick:
        rounds, single, each, watchers, watched, rate, replayed = 1, 5, 2, 20, 5, 50.0, 200
    else:
        rounds, single, each, watchers, watched, rate, replayed = 5, 200, 40, 1000, 50, 5.0, 10_000
    rounds = args.rounds or rounds
    watchers = args.watchers or watchers
    rate = args.rate or rate
    _raise_open_files(watchers + 256)
    load = os.getloadavg()[0]
    print(
        f"agentstore {agentstore.__version__}, {os.cpu_count()} cores, medians of {rounds} "
        f"rounds, load average {load:.1f} at the start\n"
    )
    append_rows: list[list[str]] = []
    replay_rows: list[list[str]] = []
    watch_figures: dict[str, WatchFigures] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        targets = [
            ("JSONL", os.path.join(base, "data")),
            ("SQLite", f"sqlite:///{os.path.join(base, 'agent.db')}"),
        ]
        for name, target in targets:
            agentstore.open(target).close()  # created here, before the server opens it
            with Server(target) as server:
                modes = (
                    appends(
                        target, server, writers=writers, single=single, each=each, rounds=rounds
                    )
                    if "appends" in parts
                    else []
                )
                reads = (
                    replays(target, server, events=replayed, rounds=rounds)
                    if "replays" in parts
                    else {}
                )
            threads_rate = modes[2].figures()[2] if modes else 0.0
            for mode in modes:
                p50, p99, events_per_second, client, served = mode.figures()
                remote = mode.name.startswith("HTTP")
                append_rows.append(
                    [
                        f"{name}: {mode.name}",
                        f"{p50:.2f}",
                        f"{p99:.2f}",
                        f"{events_per_second:,.0f}",
                        f"{events_per_second / threads_rate:.2f}x",
                        f"{client:,.0f}",
                        f"{served:,.0f}" if remote else "",
                    ]
                )
            twins = {
                "HTTP get_events": "in-process get_events",
                "HTTP iter_events": "in-process iter_events",
                "HTTP raw GET /replay": "in-process get_events",
            }
            for how, read in reads.items():
                twin = twins.get(how)
                replay_rows.append(
                    [
                        f"{name}: {how}",
                        f"{read.seconds * 1e3:,.1f}",
                        f"{read.seconds / reads[twin].seconds:.2f}x" if twin else "",
                        f"{read.client_cpu * 1e3:,.0f}",
                        f"{read.server_cpu * 1e3:,.0f}" if twin else "",
                    ]
                )
        watched_targets = [("JSONL", os.path.join(base, "watched")), ("memory", ":memory:")]
        for name, target in watched_targets if "watchers" in parts else []:
            if target != ":memory:":
                agentstore.open(target).close()
            with Server(target) as server:
                watch_figures[name] = asyncio.run(watching(server, watchers, watched, rate))
    _print(
        "Appends: latency of each append, rate of all writers, CPU per event",
        [
            "benchmark",
            "p50 ms",
            "p99 ms",
            "events/s",
            f"/ {writers} in-process threads",
            "this process µs/ev",
            "server µs/ev",
        ],
        append_rows,
    )
    _print(
        f"Replay of one session of {replayed:,} events, whole",
        ["benchmark", "ms", "/ in-process", "this process CPU ms", "server CPU ms"],
        replay_rows,
    )
    _print(
        f"{watchers:,} SSE watchers of one session, then {watched} events at {rate:g}/s",
        ["benchmark", *watch_figures],
        [
            [label, *(show(figures) for figures in watch_figures.values())]
            for label, show in WATCH_ROWS.items()
        ],
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _ms(values: Sequence[float], q: float) -> str:
    return f"{_percentile(values, q) * 1e3:,.1f}" if values else "-"


WATCH_ROWS: dict[str, Callable[[WatchFigures], str]] = {
    "server RSS before the watchers, MB": lambda f: f"{f.rss_before / 2**20:.1f}",
    "server RSS with the watchers, MB": lambda f: f"{f.rss_after / 2**20:.1f}",
    "server memory per idle watcher, KB": lambda f: f"{f.per_watcher / 1024:.1f}",
    "server CPU, watchers idle, cores": lambda f: f"{f.idle_cpu:.2f}",
    "server CPU, events delivered, cores": lambda f: f"{f.busy_cpu:.2f}",
    "server CPU per message delivered, µs": lambda f: f"{f.per_message * 1e6:,.0f}",
    "watching process CPU, cores": lambda f: f"{f.watching_cpu:.2f}",
    "append (remote) p50, ms": lambda f: _ms(f.append_latencies, 50),
    "delivery delay p50, ms": lambda f: _ms(f.delays, 50),
    "delivery delay p99, ms": lambda f: _ms(f.delays, 99),
    "delivery delay max, ms": lambda f: _ms(f.delays, 100),
    "delivered / expected": lambda f: f"{len(f.delays):,} / {f.expected:,}",
}


if __name__ == "__main__":
    main()
