"""Fixtures and helpers shared by the conformance scenarios."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from agentstore.errors import missing_extra

try:
    import pytest
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "testing", "agentstore.testing") from None

from agentstore import EventType, Metadata, Session, Store, new_event
from agentstore.events import Event
from agentstore.feeds import Watch


class StoreFactory(Protocol):
    """Opens a store on the backend under test; every call opens the same data."""

    def __call__(self, **options: Any) -> Store: ...


class StoreFixtures:
    """The fixtures the scenarios use; a backend's test class overrides ``open_store``."""

    @pytest.fixture
    def open_store(self) -> StoreFactory:
        raise NotImplementedError("override the open_store fixture in the backend's test class")

    @pytest.fixture
    def store(self, open_store: StoreFactory) -> Iterator[Store]:
        with open_store() as store:
            yield store

    @pytest.fixture
    def session(self, store: Store) -> Session:
        return store.create_session(name="flight-search", labels={"env": "test"})


def agent_run() -> list[Event]:
    """The events of a short agent run, with every built-in type and some cost."""
    return [
        new_event(EventType.USER_MESSAGE, {"content": "Find flights from Berlin to Munich"}),
        new_event(EventType.PLAN_CREATED, {"steps": ["search_flights", "present_options"]}),
        new_event(
            EventType.TOOL_CALLED,
            {"tool": "search_flights", "query": "BER → MUC"},
            metadata=Metadata(tool_name="search_flights"),
        ),
        new_event(
            EventType.TOOL_RESULT,
            {"flights": [{"id": "LH1234", "price": 89.5}]},
            metadata=Metadata(tool_name="search_flights", duration_ms=1200),
        ),
        new_event(
            EventType.LLM_REQUEST,
            {"prompt": "Summarise the options"},
            metadata=Metadata(tokens_in=850, model="gpt-4o"),
        ),
        new_event(
            EventType.LLM_RESPONSE,
            {"content": "One option: LH1234 at €89.50"},
            metadata=Metadata(
                tokens_in=10, tokens_out=320, model="gpt-4o", duration_ms=640, cost_usd=0.018
            ),
        ),
        new_event(EventType.ERROR, {"error": "timeout after 30s", "tool": "clock"}),
        new_event(EventType.STATE_UPDATED, {"status": "done", "attempt": 2}),
        new_event(EventType.CUSTOM, {"kind": "heartbeat"}),
        new_event("review.approved", {"by": "ops"}),
    ]


def record(store: Store, session_id: str, count: int) -> list[Event]:
    """Append ``count`` numbered events, cycling through an agent run's types."""
    run = agent_run()
    stored = []
    for number in range(count):
        template = run[number % len(run)]
        stored.append(
            store.append(
                session_id,
                new_event(
                    template.type, {**template.payload, "n": number}, metadata=template.metadata
                ),
            )
        )
    return stored


def history(store: Store, session_id: str) -> list[dict[str, Any]]:
    """A session's events as JSON-ready dicts, to compare before and after a failure."""
    return [event.to_dict() for event in store.get_events(session_id)]


def through(feed: Watch, last: Callable[[Event], bool]) -> list[Event]:
    """The events of ``feed`` up to the first ``last`` one, which ends it (or to its timeout).

    A scenario appends one event more after those it expects, and reads through it:
    whatever the feed should not yield would come before it, and the scenario need not
    wait for the feed's timeout to run out.
    """
    found = []
    for event in feed:
        found.append(event)
        if last(event):
            feed.stop()
            break
    return found
