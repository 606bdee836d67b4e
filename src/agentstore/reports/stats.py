"""A session's figures: the seed's summary plus tokens and cost per model and calls per tool.

Computed from the events in one pass, the same way whichever backend they come from. The
totals count what the default reducer counts (tokens and cost of ``llm_request`` and
``llm_response`` events, ``tool_called`` and ``error`` events), so they agree with
``Store.get_state`` when the store uses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentstore import timestamps
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import (
    State,
    TokenUsage,
    default_reducer,
    fold,
    is_unknown_usage,
    is_unpriced,
)

__all__ = ["ModelStats", "SessionStats", "ToolStats", "session_stats"]

_LLM_TYPES = frozenset({"llm_request", "llm_response"})
_FOLDED_AT_ONCE = 1000  # LLM events kept before their tokens are summed


@dataclass
class ModelStats:
    """One model's LLM calls in a session, with their tokens and cost.

    ``unpriced`` and ``unknown`` count its answers nothing priced and those whose usage
    could not be read, as :class:`agentstore.state.TokenUsage` does.
    """

    requests: int = 0
    responses: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    unknown: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``unknown`` only when it is not 0)."""
        out: dict[str, Any] = {
            "requests": self.requests,
            "responses": self.responses,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "unpriced": self.unpriced,
        }
        if self.unknown:
            out["unknown"] = self.unknown
        return out


@dataclass
class ToolStats:
    """One tool's calls in a session: how many, how many failed, how long results took."""

    calls: int = 0
    results: int = 0
    errors: int = 0
    total_duration_ms: int = 0

    @property
    def mean_duration_ms(self) -> float | None:
        """The mean ``duration_ms`` of the tool's results (None: no result)."""
        return self.total_duration_ms / self.results if self.results else None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "calls": self.calls,
            "results": self.results,
            "errors": self.errors,
            "mean_duration_ms": self.mean_duration_ms,
        }


@dataclass
class SessionStats:
    """What a session did, in figures (see :func:`session_stats`)."""

    session: Session
    events: int = 0
    tool_calls: int = 0
    errors: int = 0
    tokens: TokenUsage = field(default_factory=TokenUsage)
    duration_ms: float = 0.0
    types: Counter[str] = field(default_factory=Counter)
    models: dict[str, ModelStats] = field(default_factory=dict)
    tools: dict[str, ToolStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (tokens as in, out and total; counts sorted by type)."""
        return {
            "session_id": self.session.id,
            "name": self.session.name,
            "labels": dict(self.session.labels),
            "created_at": timestamps.to_text(self.session.created_at),
            "parent_id": self.session.parent_id,
            "forked_at_seq": self.session.forked_at_seq,
            "duration_ms": self.duration_ms,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "errors": self.errors,
            "tokens": {**self.tokens.to_dict(), "total": self.tokens.total},
            "types": dict(sorted(self.types.items())),
            "models": {name: stats.to_dict() for name, stats in sorted(self.models.items())},
            "tools": {name: stats.to_dict() for name, stats in sorted(self.tools.items())},
        }


def session_stats(session: Session, events: Iterable[Event]) -> SessionStats:
    """Compute a session's figures from its events (in seq order).

    Events of a model name no event gives are counted under ``""``; so are the tool calls
    and results that name no tool.
    """
    stats = SessionStats(session)
    llm_events: list[Event] = []  # folded a batch at a time: events may be streamed
    folded = State(session.id)
    first = last = None
    for event in events:
        kind = event.type
        stats.types[kind] += 1
        first = first or event.timestamp
        last = event.timestamp
        if kind in _LLM_TYPES:
            llm_events.append(event)
            _count_model(stats.models.setdefault(event.metadata.model, ModelStats()), event)
            if len(llm_events) >= _FOLDED_AT_ONCE:
                folded = fold(default_reducer, folded, llm_events)
                llm_events.clear()
        elif kind in ("tool_called", "tool_result", "error"):
            _count_tool(stats, event)
    stats.events = sum(stats.types.values())
    stats.tool_calls = stats.types["tool_called"]
    stats.errors = stats.types["error"]
    stats.tokens = fold(default_reducer, folded, llm_events).tokens
    if first is not None and last is not None:
        stats.duration_ms = (last - first).total_seconds() * 1000
    return stats


def _count_model(model: ModelStats, event: Event) -> None:
    metadata = event.metadata
    if event.type == "llm_request":
        model.requests += 1
    else:
        model.responses += 1
    model.tokens_in += metadata.tokens_in
    model.tokens_out += metadata.tokens_out
    model.cost_usd += metadata.cost_usd
    model.unpriced += is_unpriced(event)
    model.unknown += is_unknown_usage(event)


def _count_tool(stats: SessionStats, event: Event) -> None:
    name = event.metadata.tool_name or _payload_tool(event.payload)
    if event.type == "error" and not name:
        return  # an error no tool is named in belongs to the session, not to a tool
    tool = stats.tools.setdefault(name, ToolStats())
    if event.type == "tool_called":
        tool.calls += 1
    elif event.type == "tool_result":
        tool.results += 1
        tool.total_duration_ms += event.metadata.duration_ms
    else:
        tool.errors += 1


def _payload_tool(payload: dict[str, Any]) -> str:
    name = payload.get("tool")
    return name if isinstance(name, str) else ""
