"""Streaming reads: ``iter_events`` yields what ``replay`` returns, a page at a time.

Whatever the page size, the filters and where the pages fall, the iteration yields the
events the list-returning reads give, in order; an unknown session and a closed store are
the same errors; arguments are checked at the call; events appended while it runs are
yielded until it finds the end of the log.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from agentstore import (
    InvalidArgumentError,
    InvalidSessionIdError,
    Session,
    SessionNotFoundError,
    Store,
    StoreClosedError,
    new_event,
)
from agentstore.testing.conformance.base import StoreFactory, record

# Type filters and seq ranges whose every combination is streamed in pages of 3: ranges
# starting and ending on and off page boundaries, empty, reversed and past the end.
TYPE_FILTERS: list[Any] = [None, ["tool_called", "error"], "review.approved", ["never.used"], []]
SEQ_RANGES: list[tuple[int | None, int | None]] = [
    (None, None),
    (0, None),
    (1, 3),
    (4, None),
    (None, 9),
    (3, 10),
    (7, 7),
    (9, 3),
    (None, 100),
    (25, None),
    (26, None),
    (2**64, None),
    (None, 2**64),
]


class StreamingScenarios:
    def test_iter_events_yields_the_whole_log_at_any_page_size(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 10)
        assert list(store.iter_events(session.id)) == stored
        for page_size in (1, 2, 3, 5, 9, 10, 11, 1000):
            assert list(store.iter_events(session.id, page_size=page_size)) == stored
        assert store.get_events(session.id) == stored

    def test_iter_events_filters_as_replay_does_across_pages(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 25)
        for types, (from_seq, to_seq) in itertools.product(TYPE_FILTERS, SEQ_RANGES):
            filters: dict[str, Any] = {"types": types, "from_seq": from_seq, "to_seq": to_seq}
            streamed = list(store.iter_events(session.id, page_size=3, **filters))
            assert streamed == store.replay(session.id, **filters), filters

    def test_iter_events_filters_by_time_as_replay_does(
        self, store: Store, session: Session
    ) -> None:
        early = record(store, session.id, 4)
        time.sleep(0.005)
        middle = record(store, session.id, 4)
        time.sleep(0.005)
        late = record(store, session.id, 4)
        windows: list[tuple[datetime | None, datetime | None]] = [
            (middle[0].timestamp, middle[-1].timestamp),
            (late[0].timestamp, None),
            (None, early[-1].timestamp),
            (late[-1].timestamp + timedelta(seconds=1), None),
        ]
        for since, until in windows:
            streamed = list(store.iter_events(session.id, since=since, until=until, page_size=3))
            assert streamed == store.replay(session.id, since=since, until=until)
        assert list(store.iter_events(session.id, since=middle[0].timestamp, page_size=3)) == [
            *middle,
            *late,
        ]

    def test_iter_events_of_an_empty_session_yields_nothing(
        self, store: Store, session: Session
    ) -> None:
        assert list(store.iter_events(session.id)) == []
        assert list(store.iter_events(session.id, page_size=1, from_seq=1, to_seq=5)) == []

    def test_iter_events_of_an_unknown_session_fails_at_the_first_step(self, store: Store) -> None:
        for filters in ({}, {"from_seq": 5, "to_seq": 1}, {"types": ["error"]}):
            events = store.iter_events("missing", **filters)
            with pytest.raises(SessionNotFoundError):
                next(events)

    def test_iter_events_checks_its_arguments_at_the_call(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 3)
        bad: list[dict[str, Any]] = [
            {"page_size": 0},
            {"page_size": -1},
            {"page_size": 2.5},
            {"page_size": True},
            {"from_seq": -1},
            {"to_seq": "3"},
            {"types": ["Not A Type!"]},
            {"since": datetime(2026, 1, 1)},  # naive
        ]
        for arguments in bad:
            with pytest.raises(InvalidArgumentError):
                store.iter_events(session.id, **arguments)
        with pytest.raises(InvalidSessionIdError):
            store.iter_events("../escape")
        assert len(store.get_events(session.id)) == 3

    def test_events_appended_while_iterating_are_yielded_until_the_end(
        self, open_store: StoreFactory
    ) -> None:
        with open_store() as writer, open_store() as reader:
            session = writer.create_session()
            stored = record(writer, session.id, 10)
            events = reader.iter_events(session.id, page_size=4)
            seen = [next(events) for _ in range(6)]
            stored += record(writer, session.id, 5)  # by another store, as another process
            seen += events
            assert seen == stored
            assert [event.seq for event in seen] == list(range(1, 16))

    def test_an_iteration_ends_at_the_end_it_found_or_at_to_seq(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 5)
        ended = store.iter_events(session.id, page_size=10)
        bounded = store.iter_events(session.id, to_seq=6, page_size=2)
        assert next(ended) == stored[0]  # its one page read found the end of the log
        assert next(bounded) == stored[0]
        stored += record(store, session.id, 3)
        assert list(ended) == stored[1:5]
        assert list(bounded) == stored[1:6]
        assert list(store.iter_events(session.id, page_size=10)) == stored

    def test_a_store_opened_afresh_streams_its_logs_from_any_seq(
        self, open_store: StoreFactory
    ) -> None:
        with open_store() as store:
            session = store.create_session()
            stored = store.append_batch(
                session.id, [new_event("step", {"n": n, "text": "x" * n}) for n in range(60)]
            )
        for from_seq in (None, 1, 2, 30, 59, 60, 61):
            with open_store() as fresh:  # nothing of the log read or cached yet
                streamed = list(fresh.iter_events(session.id, from_seq=from_seq, page_size=7))
            assert streamed == stored[max(from_seq or 1, 1) - 1 :], from_seq
        with open_store() as fresh:
            pages = [
                list(fresh.iter_events(session.id, from_seq=first, to_seq=first + 9, page_size=4))
                for first in range(1, 61, 10)
            ]
        assert list(itertools.chain.from_iterable(pages)) == stored

    def test_closing_the_store_ends_an_iteration_with_store_closed_error(
        self, open_store: StoreFactory
    ) -> None:
        store = open_store()
        session = store.create_session()
        stored = record(store, session.id, 6)
        events = store.iter_events(session.id, page_size=2)
        assert [next(events), next(events)] == stored[:2]
        store.close()
        with pytest.raises(StoreClosedError):
            next(events)
        with pytest.raises(StoreClosedError):
            store.iter_events(session.id)
