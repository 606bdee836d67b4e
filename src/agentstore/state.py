"""Materialized state: reducers, the default reducer, folds and snapshots (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from agentstore import timestamps
from agentstore.events import Event

__all__ = [
    "DEFAULT_REDUCER_NAME",
    "SEED_REDUCER_NAME",
    "UNKNOWN_USAGE",
    "Reducer",
    "Snapshot",
    "State",
    "TokenUsage",
    "default_reducer",
    "fold",
    "is_unknown_usage",
    "is_unpriced",
    "reducer_name",
    "snapshot_due",
]

DEFAULT_REDUCER_NAME = "default/3"
"""The snapshot tag of :func:`default_reducer`: the seed's sums, plus cache tokens,
unpriced answers and answers of unknown usage. Its logic changed, so its name did: a
snapshot of ``"default/2"`` (without the unknown ones) is not read, and the state is folded
from the events instead."""
SEED_REDUCER_NAME = "default"
"""The tag of snapshots that carry no other: the seed library's and the first default
reducer's, without cache tokens or unpriced answers. No reducer of agentstore reads them
now; a state is folded from the events instead."""
UNKNOWN_USAGE = "unknown"
"""The ``cost_source`` of an ``llm_response`` whose usage could not be read from the
response (a shape the recorder does not know, or one that did not say): its tokens and
cost are unknown, not 0."""
_TOKEN_TYPES = frozenset({"llm_request", "llm_response"})


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens and cost summed over a session's LLM events.

    ``input`` counts every prompt token, cached ones included; ``cache_read`` and
    ``cache_write`` are the parts of it read from and written to a prompt cache.
    ``unpriced`` counts the ``llm_response`` events with tokens but no cost and nothing
    that priced them; ``unknown`` those whose usage could not be read (``cost_source`` is
    :data:`UNKNOWN_USAGE`): the totals leave both out, so they are lower bounds when either
    is not 0. JSON: ``in``, ``out``, ``cost_usd`` (the seed's), then ``cache_read``,
    ``cache_write``, ``unpriced`` and ``unknown`` when they are not 0.
    """

    input: int = 0
    output: int = 0
    cost_usd: float = 0.0
    cache_read: int = 0
    cache_write: int = 0
    unpriced: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        """Input and output tokens together."""
        return self.input + self.output

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's JSON form, plus the other counts that are not 0."""
        out: dict[str, Any] = {"in": self.input, "out": self.output, "cost_usd": self.cost_usd}
        if self.cache_read:
            out["cache_read"] = self.cache_read
        if self.cache_write:
            out["cache_write"] = self.cache_write
        if self.unpriced:
            out["unpriced"] = self.unpriced
        if self.unknown:
            out["unknown"] = self.unknown
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenUsage:
        """Build token usage from its JSON form."""
        return cls(
            int(data.get("in", 0)),
            int(data.get("out", 0)),
            float(data.get("cost_usd", 0)),
            int(data.get("cache_read", 0)),
            int(data.get("cache_write", 0)),
            int(data.get("unpriced", 0)),
            int(data.get("unknown", 0)),
        )


def is_unpriced(event: Event) -> bool:
    """Whether ``event`` is an ``llm_response`` whose tokens nothing priced."""
    metadata = event.metadata
    return (
        event.type == "llm_response"
        and (metadata.tokens_in > 0 or metadata.tokens_out > 0)
        and not metadata.cost_usd
        and not metadata.cost_source
    )


def is_unknown_usage(event: Event) -> bool:
    """Whether ``event`` is an ``llm_response`` whose usage could not be read."""
    return event.type == "llm_response" and event.metadata.cost_source == UNKNOWN_USAGE


NO_TOKENS = TokenUsage()


@dataclass(frozen=True, slots=True)
class State:
    """A session's state, derived from its events by a reducer.

    ``version`` is the seq of the last event applied, ``event_count`` how many were applied
    and ``last_event_at`` the time of the last one (None before any). With the default
    reducer, ``data`` maps each event type to its latest payload, ``tokens`` sums tokens and
    cost of ``llm_request`` and ``llm_response`` events, ``tool_calls`` counts
    ``tool_called`` events and ``errors`` counts ``error`` events. ``data`` is shared with
    the store's cache: treat it as read-only.
    """

    session_id: str
    version: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    last_event_at: datetime | None = None
    event_count: int = 0
    tokens: TokenUsage = NO_TOKENS
    tool_calls: int = 0
    errors: int = 0

    def __hash__(self) -> int:
        return hash((self.session_id, self.version))

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's JSON form."""
        last = self.last_event_at
        return {
            "session_id": self.session_id,
            "version": self.version,
            "data": self.data,
            "last_event_at": None if last is None else timestamps.to_text(last),
            "event_count": self.event_count,
            "tokens": self.tokens.to_dict(),
            "tool_calls": self.tool_calls,
            "errors": self.errors,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        """Build a state from its JSON form, as written by agentstore or the seed library.

        Raises:
            KeyError, TypeError, ValueError: the record is malformed.
        """
        last = data.get("last_event_at")
        parsed = timestamps.from_text(last) if last else None
        return cls(
            session_id=data["session_id"],
            version=int(data["version"]),
            data=dict(data.get("data") or {}),
            last_event_at=None if parsed == timestamps.UNSET else parsed,
            event_count=int(data.get("event_count", 0)),
            tokens=TokenUsage.from_dict(data.get("tokens") or {}),
            tool_calls=int(data.get("tool_calls", 0)),
            errors=int(data.get("errors", 0)),
        )


class Reducer(Protocol):
    """A function ``(state, event) -> state`` that derives a session's state from its events.

    A reducer returns a new State and never changes the one it is given. The store keeps
    ``session_id``, ``version``, ``event_count`` and ``last_event_at`` right after each
    fold, so a reducer need only compute the rest. A snapshot records the reducer's name
    (its ``name`` attribute, else its module and qualified name) and is used only by a
    reducer of that name; a lambda, nested function or partial without a ``name`` shares
    its qualified name with others, so it takes no snapshots.
    """

    def __call__(self, state: State, event: Event, /) -> State: ...


def default_reducer(state: State, event: Event) -> State:
    """The seed's reducer: latest payload per type, tokens and cost, tool calls and errors."""
    return _fold_default(state, (event,))


def reducer_name(reducer: Reducer) -> str | None:
    """Return the name a snapshot records for ``reducer``, or None if it has no unique one.

    A reducer's ``name`` attribute wins; else a module-level function or class instance
    is named by its module and qualified name. Lambdas, nested functions and partials
    share such names with others, so they get None (and no snapshots).
    """
    if reducer is default_reducer:
        return DEFAULT_REDUCER_NAME
    name = getattr(reducer, "name", None)
    if isinstance(name, str) and name:
        return name
    kind = reducer if hasattr(reducer, "__qualname__") else type(reducer)
    qualified = f"{kind.__module__}.{kind.__qualname__}"
    if "<" in qualified or isinstance(reducer, functools.partial):
        return None
    return qualified


def fold(reducer: Reducer, state: State, events: Sequence[Event]) -> State:
    """Apply ``events`` (consecutive, after ``state.version``) to ``state``."""
    if not events:
        return state
    if reducer is default_reducer:
        return _fold_default(state, events)
    for event in events:
        state = reducer(state, event)
    last = events[-1]
    return dataclasses.replace(
        state,
        session_id=last.session_id,
        version=last.seq,
        event_count=last.seq,
        last_event_at=last.timestamp,
    )


def _fold_default(state: State, events: Sequence[Event]) -> State:
    # One pass with local accumulators and a single State at the end: building a State
    # per event (the reducer's functional form) costs about 1 µs an event.
    data = dict(state.data)
    tokens = state.tokens
    tokens_in, tokens_out, cost = tokens.input, tokens.output, tokens.cost_usd
    cache_read, cache_write = tokens.cache_read, tokens.cache_write
    unpriced, unknown = tokens.unpriced, tokens.unknown
    tool_calls, errors = state.tool_calls, state.errors
    token_types = _TOKEN_TYPES
    for event in events:
        kind = event._type
        data[kind] = event._payload
        if kind in token_types:
            metadata = event._metadata
            tokens_in += metadata.tokens_in
            tokens_out += metadata.tokens_out
            cost += metadata.cost_usd
            cache_read += metadata.cache_read_tokens
            cache_write += metadata.cache_write_tokens
            # is_unpriced() and is_unknown_usage() inlined: a call per LLM event made
            # cold folds 70% slower.
            if kind == "llm_response":
                source = metadata.cost_source
                if not source:
                    if not metadata.cost_usd and (metadata.tokens_in or metadata.tokens_out):
                        unpriced += 1
                elif source == UNKNOWN_USAGE:
                    unknown += 1
        elif kind == "tool_called":
            tool_calls += 1
        elif kind == "error":
            errors += 1
    last = events[-1]
    return State(
        last._session_id,
        last._seq,
        data,
        last._timestamp,
        last._seq,
        TokenUsage(tokens_in, tokens_out, cost, cache_read, cache_write, unpriced, unknown),
        tool_calls,
        errors,
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A session's state saved at ``version``, tagged with the reducer that made it."""

    session_id: str
    version: int
    state: State
    created_at: datetime = field(default_factory=timestamps.now)
    reducer: str = DEFAULT_REDUCER_NAME

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's JSON form plus the ``reducer`` tag."""
        return {
            "session_id": self.session_id,
            "version": self.version,
            "state": self.state.to_dict(),
            "created_at": timestamps.to_text(self.created_at),
            "event_count": self.state.event_count,
            "reducer": self.reducer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        """Build a snapshot from its JSON form; an untagged (seed) one is ``SEED_REDUCER_NAME``'s.

        Raises:
            KeyError, TypeError, ValueError: the record is malformed.
        """
        return cls(
            session_id=data["session_id"],
            version=int(data["version"]),
            state=State.from_dict(data["state"]),
            created_at=timestamps.from_text(data["created_at"]),
            reducer=data.get("reducer") or SEED_REDUCER_NAME,
        )


def snapshot_due(interval: int, *, snapshot_version: int, base: int, target: int) -> int | None:
    """Return the version to snapshot while folding from ``base`` to ``target``, if any.

    Snapshots fall on multiples of ``interval`` (as the seed's do), at the highest one the
    fold passes that is newer than the latest snapshot.
    """
    if interval <= 0:
        return None
    boundary = target - target % interval
    if base < boundary and boundary > snapshot_version:
        return boundary
    return None
