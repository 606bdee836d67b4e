"""AgentStoreSaver: LangGraph's checkpointer over an agentstore Store or AsyncStore."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from agentstore.errors import missing_extra

try:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import (
        BaseCheckpointSaver,
        ChannelVersions,
        Checkpoint,
        CheckpointMetadata,
        CheckpointTuple,
        get_checkpoint_id,
        get_checkpoint_metadata,
    )
    from langgraph.checkpoint.serde.base import SerializerProtocol
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "langgraph", "agentstore.integrations.langgraph") from None

from agentstore.aio import AsyncStore
from agentstore.aio.loops import on_loop, running_loop
from agentstore.backends import MemoryBackend
from agentstore.errors import InvalidArgumentError, SessionNotFoundError
from agentstore.events import Event, new_event
from agentstore.integrations.langgraph import records
from agentstore.integrations.langgraph.port import (
    SOURCE_LABELS,
    THREAD_LABEL,
    Port,
    run,
    session_id_of,
)
from agentstore.integrations.langgraph.records import Materialized, ThreadIndex
from agentstore.opening import open as open_store
from agentstore.sessions import MAX_LABEL_LENGTH
from agentstore.store import Store

__all__ = ["AgentStoreSaver"]

_CACHED_THREADS = 256
_Found = list[tuple[str, str, str]]  # (thread id, namespace, checkpoint id)
_Names = list[str]
_T = TypeVar("_T")


class _Thread:
    """What the saver keeps of a thread: its index and each namespace's latest checkpoint."""

    def __init__(self) -> None:
        self.index = ThreadIndex()
        self.latest: dict[str, Materialized] = {}


def _thread_id(config: RunnableConfig) -> str:
    thread_id = str(config["configurable"]["thread_id"])
    if len(thread_id) > MAX_LABEL_LENGTH:
        raise InvalidArgumentError(f"a thread id is at most {MAX_LABEL_LENGTH} characters")
    return thread_id


def _path_start(entries: Mapping[str, records.Entry], checkpoint_id: str) -> int:
    """The seq of the oldest full version the checkpoint and its kept ancestors stand on."""
    starts = []
    current: str | None = checkpoint_id
    while current is not None and current in entries:
        starts.append(entries[current].full_seq)
        current = entries[current].parent
    return min(starts)


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


class AgentStoreSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer keeping each thread in an agentstore session.

    Every method has a sync and an async form that both work, over a :class:`Store` or an
    :class:`AsyncStore`. Over a Store, async calls run in a worker thread (in memory:
    directly). Over an AsyncStore bound to an event loop, async calls are awaited on it
    (handed over from another loop) and sync calls must come from another thread, which
    waits for the loop to run them (from the loop's own thread they raise RuntimeError:
    they would block the loop they wait for).

    Args:
        store: the store to keep threads in; see :meth:`from_url` to open one.
        serde: LangGraph's serializer of values that are not plain JSON (its
            ``JsonPlusSerializer`` if None).
    """

    def __init__(self, store: Store | AsyncStore, *, serde: SerializerProtocol | None = None):
        super().__init__(serde=serde)
        if not isinstance(store, Store | AsyncStore):
            raise InvalidArgumentError(
                f"store must be a Store or an AsyncStore, not {type(store).__name__}"
            )
        self._store = store
        self._port = Port(store)
        self._owned = False
        self._inline = isinstance(store, Store) and isinstance(store.backend, MemoryBackend)
        self._loop = store.loop if isinstance(store, AsyncStore) else None
        self._threads: OrderedDict[str, _Thread] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, target: str | os.PathLike[str], **options: Any) -> AgentStoreSaver:
        """A saver over the store at ``target`` (as :func:`agentstore.open` takes it),
        which :meth:`close` closes.

        Args:
            target: a directory, a SQLite file, a PostgreSQL URL or ``":memory:"``.
            **options: :func:`agentstore.open`'s other arguments.
        """
        saver = cls(open_store(target, **options))
        saver._owned = True
        return saver

    @property
    def store(self) -> Store | AsyncStore:
        """The store the threads are kept in."""
        return self._store

    def close(self) -> None:
        """Close the store if :meth:`from_url` opened it."""
        if self._owned and isinstance(self._store, Store):
            self._store.close()

    def __enter__(self) -> AgentStoreSaver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_next_version(self, current: str | int | float | None, channel: None) -> str:
        """The next version of a channel: a counter and a random part.

        The random part keeps versions of one thread's branches (after time travel) apart,
        as channel values are found by version.
        """
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:016d}.{os.urandom(6).hex()}"

    # Drivers: every operation is one flow (a coroutine over the port), run four ways.

    def _run(self, flow: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None:
            return run(flow)
        if running_loop() is loop:
            flow.close()
            raise RuntimeError(
                "a sync method of AgentStoreSaver was called on its AsyncStore's event loop: "
                "use the async method (ainvoke, aget_tuple...) there"
            )
        return asyncio.run_coroutine_threadsafe(flow, loop).result()

    async def _arun(self, flow: Coroutine[Any, Any, _T]) -> _T:
        if isinstance(self._store, Store):
            if self._inline:  # microseconds in memory: a thread hop would cost more
                return run(flow)
            return await asyncio.to_thread(run, flow)
        loop = self._loop
        if loop is None or loop is running_loop():
            return await flow
        return await on_loop(loop, flow, fix="call the saver from the store's event loop")

    # The methods of BaseCheckpointSaver

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its ``checkpoint_id``, else the latest)."""
        return self._run(self._get_tuple(config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its ``checkpoint_id``, else the latest)."""
        return await self._arun(self._get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """The checkpoints of a thread (or of all threads), newest first, filtered.

        Args:
            config: the thread (and namespace, checkpoint id) to list; None: every thread.
            filter: keep checkpoints whose metadata has these values.
            before: keep checkpoints older than this one.
            limit: at most this many.
        """
        for found in self._run(self._find(config, filter, before, limit)):
            tuple_ = self._run(self._tuple(*found))
            if tuple_ is not None:
                yield tuple_

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """The checkpoints of a thread (or of all threads), newest first, filtered."""
        for found in await self._arun(self._find(config, filter, before, limit)):
            tuple_ = await self._arun(self._tuple(*found))
            if tuple_ is not None:
                yield tuple_

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (a delta against its parent) and return its config."""
        return self._run(self._put(config, checkpoint, metadata, new_versions))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (a delta against its parent) and return its config."""
        return await self._arun(self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for the checkpoint ``config`` names, as one event."""
        self._run(self._put_writes(config, writes, task_id, task_path))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for the checkpoint ``config`` names, as one event."""
        await self._arun(self._put_writes(config, writes, task_id, task_path))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        """Each channel's writes along the checkpoint's ancestors, and the value it starts from.

        For each of ``channels``: ``writes``, the writes put for the ancestors of the
        checkpoint ``config`` names (oldest first, back to the nearest ancestor holding a
        value of the channel), and ``seed``, that value (absent if no ancestor holds one),
        as LangGraph's ``DeltaChannelHistory``. The ancestors are materialized from one
        range read of the session's events, the parent's chain, not one read each: a
        second read, of the rest of the path, only when a channel's value lies before that
        chain's full version.
        """
        return self._run(self._delta_history(config, channels))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        """Each channel's writes along the checkpoint's ancestors, and the value it starts
        from, as :meth:`get_delta_channel_history` gives them."""
        return await self._arun(self._delta_history(config, channels))

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread: its agentstore session (a missing one is no error)."""
        self._run(self._delete_thread(str(thread_id)))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread: its agentstore session (a missing one is no error)."""
        await self._arun(self._delete_thread(str(thread_id)))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints (and their writes) whose metadata ``run_id`` is listed.

        The removal is an event: the checkpoints kept still read, whatever they were
        stored against.
        """
        self._run(self._remove(None, set(run_ids), keep_latest=False))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints (and their writes) whose metadata ``run_id`` is listed."""
        await self._arun(self._remove(None, set(run_ids), keep_latest=False))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread, all its checkpoints and writes, as a fork of its session.

        A missing source is no error (nothing is copied).

        Raises:
            SessionExistsError: the target thread exists.
        """
        self._run(self._copy(str(source_thread_id), str(target_thread_id)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread, all its checkpoints and writes, as a fork of its session."""
        await self._arun(self._copy(str(source_thread_id), str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Remove old checkpoints: ``"keep_latest"`` keeps each namespace's latest one,
        ``"delete"`` deletes the threads.

        A kept checkpoint still reads: removing is an event, and the events it is stored
        against stay.

        Raises:
            InvalidArgumentError: an unknown strategy.
        """
        self._run(self._prune([str(thread) for thread in thread_ids], strategy))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Remove old checkpoints, as :meth:`prune` does."""
        await self._arun(self._prune([str(thread) for thread in thread_ids], strategy))

    # Flows

    async def _refresh(self, session_id: str) -> _Thread | None:
        with self._lock:
            thread = self._threads.get(session_id)
        start = thread.index.seq + 1 if thread is not None else 0
        try:
            events = await self._port.read(session_id, start)
        except SessionNotFoundError:
            with self._lock:
                self._threads.pop(session_id, None)
            return None
        with self._lock:
            thread = self._threads.get(session_id)
            if thread is None:
                thread = self._threads[session_id] = _Thread()
                while len(self._threads) > _CACHED_THREADS:
                    self._threads.popitem(last=False)
            self._threads.move_to_end(session_id)
            thread.index.fold(events)
        return thread

    async def _materialize(
        self, session_id: str, thread: _Thread, ns: str, checkpoint_id: str
    ) -> Materialized | None:
        entry = thread.index.checkpoints.get(ns, {}).get(checkpoint_id)
        if entry is None:
            return None
        cached = thread.latest.get(ns)
        if cached is not None and cached.id == checkpoint_id and cached.seq == entry.seq:
            return cached
        # One range read: the chain's full version, then the deltas up to the checkpoint.
        events = await self._port.read(session_id, entry.full_seq, entry.seq)
        chain = records.find_chain(events, ns, checkpoint_id)
        if not chain:
            return None
        materialized = records.fold_chain(self.serde, chain)
        if thread.index.latest(ns) == checkpoint_id:
            thread.latest[ns] = materialized
        return materialized

    async def _tuple(self, thread_id: str, ns: str, checkpoint_id: str) -> CheckpointTuple | None:
        session_id = session_id_of(thread_id)
        thread = await self._refresh(session_id)
        if thread is None:
            return None
        materialized = await self._materialize(session_id, thread, ns, checkpoint_id)
        if materialized is None:
            return None
        entry = thread.index.checkpoints[ns][checkpoint_id]
        parent = materialized.parent
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint_id),
            checkpoint=materialized.checkpoint(self.serde),
            metadata=records.decode(self.serde, entry.metadata),
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=thread.index.pending_writes(self.serde, ns, checkpoint_id),
        )

    async def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = _thread_id(config)
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            thread = await self._refresh(session_id_of(thread_id))
            checkpoint_id = thread.index.latest(ns) if thread is not None else None
            if checkpoint_id is None:
                return None
        return await self._tuple(thread_id, ns, checkpoint_id)

    async def _delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        thread_id = _thread_id(config)
        ns = config["configurable"].get("checkpoint_ns", "")
        session_id = session_id_of(thread_id)
        thread = await self._refresh(session_id) if channels else None
        entries = thread.index.checkpoints.get(ns, {}) if thread is not None else {}
        target_id = get_checkpoint_id(config) or (thread.index.latest(ns) if thread else None)
        target = entries.get(target_id) if target_id else None
        collected: dict[str, list[Any]] = {channel: [] for channel in channels}  # newest first
        seeds: dict[str, Any] = {}
        remaining = set(channels)
        steps: dict[str, Materialized] = {}
        ancestor = target.parent if target is not None else None
        while thread is not None and ancestor is not None and remaining:
            entry = entries.get(ancestor)
            if entry is None:  # removed: the walk ends there, as get_tuple finds nothing
                break
            step = steps.get(ancestor)
            if step is None or step.seq != entry.seq:
                # The parent's chain first (often all it takes), then the rest in one read.
                start = _path_start(entries, ancestor) if steps else entry.full_seq
                events = await self._port.read(session_id, start, entry.seq)
                path = records.find_path(events, ns, ancestor)
                if not path:
                    break
                steps = {folded.id: folded for folded in records.fold_steps(self.serde, path)}
                step = steps[ancestor]
            for write in reversed(thread.index.pending_writes(self.serde, ns, ancestor)):
                if write[1] in remaining:
                    collected[write[1]].append(write)
            for channel in [c for c in remaining if c in step.values]:
                seeds[channel] = step.values[channel]
                remaining.discard(channel)
            ancestor = step.parent
        history: dict[str, Any] = {}
        for channel in channels:
            history[channel] = {"writes": collected[channel][::-1]}
            if channel in seeds:
                history[channel]["seed"] = seeds[channel]
        return history

    async def _thread_ids(self, config: RunnableConfig | None) -> _Names:
        if config is not None:
            return [_thread_id(config)]
        sessions = await self._port.sessions()
        return [s.labels[THREAD_LABEL] for s in sessions if THREAD_LABEL in s.labels]

    async def _find(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> _Found:
        wanted_ns = config["configurable"].get("checkpoint_ns") if config else None
        wanted_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        found: _Found = []
        for thread_id in await self._thread_ids(config):
            thread = await self._refresh(session_id_of(thread_id))
            if thread is None:
                continue
            for ns, entries in thread.index.checkpoints.items():
                if wanted_ns is not None and ns != wanted_ns:
                    continue
                for checkpoint_id in sorted(entries, reverse=True):
                    if wanted_id and checkpoint_id != wanted_id:
                        continue
                    if before_id and checkpoint_id >= before_id:
                        continue
                    if filter and not self._matches(entries[checkpoint_id].metadata, filter):
                        continue
                    if limit is not None and len(found) >= limit:
                        return found
                    found.append((thread_id, ns, checkpoint_id))
        return found

    def _matches(self, metadata: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
        decoded = records.decode(self.serde, metadata)
        return all(decoded.get(key) == value for key, value in filter.items())

    async def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id = _thread_id(config)
        session_id = session_id_of(thread_id)
        ns = config["configurable"].get("checkpoint_ns", "")
        parent_id = config["configurable"].get("checkpoint_id")
        thread = await self._refresh(session_id)
        parent = None
        if thread is not None and parent_id:
            parent = await self._materialize(session_id, thread, ns, parent_id)
        payload, materialized = records.checkpoint_payload(
            self.serde,
            ns,
            checkpoint,
            get_checkpoint_metadata(config, metadata),
            new_versions,
            parent_id,
            parent,
        )
        [stored] = await self._port.append(
            session_id, [new_event(records.CHECKPOINT, payload)], thread_id
        )
        materialized.seq = stored.seq
        if payload["full"]:
            materialized.full_seq = stored.seq
        self._remember(session_id, ns, stored, materialized)
        return _config(thread_id, ns, checkpoint["id"])

    def _remember(self, session_id: str, ns: str, stored: Event, latest: Materialized) -> None:
        # The hot path: the checkpoint just put is the next get_tuple's answer; it is folded
        # in only when no other writer's event came between.
        with self._lock:
            thread = self._threads.get(session_id)
            if thread is None or thread.index.seq != stored.seq - 1:
                return
            thread.index.fold([stored])
            if thread.index.latest(ns) == latest.id:
                thread.latest[ns] = latest

    async def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        thread_id = _thread_id(config)
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = config["configurable"]["checkpoint_id"]
        payload = records.writes_payload(self.serde, ns, checkpoint_id, writes, task_id, task_path)
        event = new_event(records.WRITES, payload)
        await self._port.append(session_id_of(thread_id), [event], thread_id)

    async def _delete_thread(self, thread_id: str) -> None:
        session_id = session_id_of(thread_id)
        await self._port.delete(session_id)
        with self._lock:
            self._threads.pop(session_id, None)

    async def _copy(self, source: str, target: str) -> None:
        labels = {**SOURCE_LABELS, THREAD_LABEL: target}
        with contextlib.suppress(SessionNotFoundError):
            await self._port.fork(session_id_of(source), session_id_of(target), labels)

    async def _prune(self, thread_ids: _Names, strategy: str) -> None:
        if strategy == "delete":
            for thread_id in thread_ids:
                await self._delete_thread(thread_id)
        elif strategy == "keep_latest":
            await self._remove(thread_ids, set(), keep_latest=True)
        else:
            raise InvalidArgumentError(
                f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'"
            )

    async def _remove(
        self, thread_ids: _Names | None, run_ids: set[str], *, keep_latest: bool
    ) -> None:
        if thread_ids is None:
            thread_ids = await self._thread_ids(None)
        for thread_id in thread_ids:
            thread = await self._refresh(session_id_of(thread_id))
            if thread is None:
                continue
            removed = [
                [ns, checkpoint_id]
                for ns, entries in thread.index.checkpoints.items()
                for checkpoint_id, entry in entries.items()
                if (checkpoint_id != thread.index.latest(ns) if keep_latest else False)
                or self._run_id(entry.metadata) in run_ids
            ]
            if removed:
                event = new_event(records.REMOVED, {"checkpoints": removed})
                await self._port.append(session_id_of(thread_id), [event], thread_id)

    def _run_id(self, metadata: Mapping[str, Any]) -> Any:
        return records.decode(self.serde, metadata).get("run_id")
