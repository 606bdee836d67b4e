"""The routes of the HTTP API (``/v1/...``): each checks its request, calls the store, answers.

Every route works on the server's :class:`~agentstore.aio.AsyncStore`
(``request.app.state.store``): the operations a user makes (create, append, replay,
state, fork, watch) through its public face, and the few a remote client's backend
needs besides (a page of events with the backend's cursor, a session created with its
history or events imported, as a fork or a copy makes them; a snapshot; a session's
problems) on its backend, after the same checks a store makes. Errors are the store's own
typed errors; :mod:`agentstore.server.app` turns them into responses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from agentstore.aio.store import AsyncStore
from agentstore.backends.codec import encode_event
from agentstore.backends.remote import wire
from agentstore.core import checks
from agentstore.errors import (
    AgentStoreError,
    InvalidArgumentError,
    InvalidEventError,
    InvalidSessionIdError,
    ReadOnlyStoreError,
)
from agentstore.events import Event
from agentstore.payloads import copy_payload
from agentstore.reports.stats import session_stats
from agentstore.server import appends, sse
from agentstore.server.requests import (
    body_of,
    check_open,
    fields,
    integer,
    json_response,
    labels_of,
    lines_response,
    moment,
    query,
    session_id_of,
    store_of,
    timeout_of,
)
from agentstore.sessions import Session, check_name
from agentstore.state import State
from agentstore.timestamps import to_text

__all__ = ["ROUTES", "TABLE", "WRITES"]

_Endpoint = Callable[[Request], Any]
#: The largest page of events one request reads.
MOST_PER_PAGE = 10_000


# Sessions


async def list_sessions(request: Request) -> Response:
    """Sessions newest first; ``q`` keeps those whose id or name holds it, ``summary`` adds
    each one's figures (tokens, cost, errors, tool calls, last event) from its state."""
    params = query(request, "limit", "offset", "label", "q", "summary")
    store = store_of(request)
    limit, offset = integer(params, "limit", 100), integer(params, "offset", 0) or 0
    text = params.get("q", "").strip().casefold()
    if text:  # a search reads every listed session's record, then pages what it kept
        found = await store.list_sessions(limit=None, labels=labels_of(request))
        kept = [s for s in found if text in s.id.casefold() or text in s.name.casefold()]
        sessions = kept[offset : offset + limit if limit is not None else None]
    else:
        sessions = await store.list_sessions(limit=limit, offset=offset, labels=labels_of(request))
    records = [session.to_dict() for session in sessions]
    if params.get("summary") in ("1", "true"):
        for record, session in zip(records, sessions, strict=True):
            record["summary"] = _summary(await store.get_state(session.id))
    return json_response({"sessions": records})


def _summary(state: State) -> dict[str, Any]:
    """A session's figures for a list, from its latest state."""
    tokens = state.tokens
    return {
        "tokens_in": tokens.input,
        "tokens_out": tokens.output,
        "cost_usd": tokens.cost_usd,
        "errors": state.errors,
        "tool_calls": state.tool_calls,
        "last_event_at": None if state.last_event_at is None else to_text(state.last_event_at),
    }


_CREATED = ("id", "name", "labels", "exist_ok")
_AS_STORED = ("created_at", "updated_at", "event_count", "parent_id", "forked_at_seq", "history")


async def create_session(request: Request) -> Response:
    query(request)
    body = await body_of(request)
    fields(body, _CREATED + _AS_STORED, "a session to create")
    store = store_of(request)
    if any(name in body for name in _AS_STORED):
        return json_response((await _create_as_stored(store, body)).to_dict(), 201)
    exist_ok = body.get("exist_ok", False)
    if type(exist_ok) is not bool:
        raise InvalidArgumentError(f"exist_ok must be true or false, not {exist_ok!r}")
    session = await store.create_session(
        id=body.get("id"), name=body.get("name", ""), labels=body.get("labels"), exist_ok=exist_ok
    )
    return json_response(session.to_dict(), 200 if exist_ok else 201)


async def _create_as_stored(store: AsyncStore, body: dict[str, Any]) -> Session:
    """A session made elsewhere (a fork's, a copy's), with its times and first events."""
    if body.get("exist_ok"):
        raise InvalidArgumentError("exist_ok is for a new session, not one with its history")
    session = wire.decode_session({"id": body.get("id"), **body, "event_count": 0})
    session = dataclasses.replace(
        session,
        id=checks.KnownIds().check(session.id),
        name=check_name(session.name),
        event_count=0,
    )
    if session.parent_id is not None:
        checks.KnownIds().check(session.parent_id)
        checks.check_count(session.forked_at_seq, "forked_at_seq")
    history = _stored_events(body.get("history") or [], session.id, 0, store)
    return await store.backend.create_session(session, history)


def _stored_events(records: object, session_id: str, last: int, store: AsyncStore) -> list[Event]:
    """Events stamped elsewhere, each checked as an append checks it, in seq order."""
    if not isinstance(records, list):
        raise InvalidEventError("events must be a JSON array of event records")
    events, ids = [], set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidEventError("an event record is a JSON object", path=f"events[{index}]")
        event = Event.from_dict(record)
        if event.session_id != session_id or event.seq != last + index + 1:
            raise InvalidEventError(
                f"event {index} is not seq {last + index + 1} of {session_id!r}",
                path=f"events[{index}]",
            )
        try:
            copy_payload(event.payload, store.max_payload_bytes)
        except InvalidEventError as error:
            path = f"events[{index}].payload" + (f".{error.path}" if error.path else "")
            raise InvalidEventError(error.reason, path=path) from None
        if event.id in ids:
            raise InvalidEventError(f"event id {event.id!r} appears twice", path=f"events[{index}]")
        ids.add(event.id)
        events.append(event)
    return events


async def get_session(request: Request) -> Response:
    query(request)
    return json_response((await store_of(request).get_session(session_id_of(request))).to_dict())


async def update_session(request: Request) -> Response:
    query(request)
    name, labels, removed = wire.decode_update(await body_of(request))
    session = await store_of(request).update_session(
        session_id_of(request), name=name, labels=labels, remove_labels=removed
    )
    return json_response(session.to_dict())


async def delete_session(request: Request) -> Response:
    query(request)
    return json_response((await store_of(request).delete_session(session_id_of(request))).to_dict())


# Events


async def append(request: Request) -> Response:
    # Answered by agentstore.server.appends before routing, unless it has a query (refused).
    query(request)
    body = await body_of(request)
    stored = await appends.append(store_of(request), session_id_of(request), body)
    return lines_response(stored)


async def append_many(request: Request) -> Response:
    """Several sessions' appends in one request (a remote client's concurrent appends),
    each all or none and answered on its own: ``{"results": [{"events": [...]} or
    {"error": {...}}, ...]}`` in the order asked. The store commits them together."""
    query(request)
    body = await body_of(request)
    fields(body, ("appends",), "a batch of appends")
    asked = body.get("appends")
    if not isinstance(asked, list) or not asked:
        raise InvalidArgumentError("appends must be a non-empty JSON array of appends")
    store = store_of(request)
    results = await asyncio.gather(*(_one_of_many(store, append) for append in asked))
    return json_response({"results": results})


async def _one_of_many(store: AsyncStore, asked: object) -> dict[str, Any]:
    try:
        if not isinstance(asked, dict):
            raise InvalidArgumentError("an append is a JSON object")
        named = asked.get("session_id")
        if not isinstance(named, str):
            raise InvalidSessionIdError(f"session_id must be a str, not {named!r:.100}")
        session_id = checks.KnownIds().check(named)
        stored = await appends.append(store, session_id, asked, accepted=("session_id",))
    except AgentStoreError as error:
        return wire.encode_error(error)
    return {"events": [event.to_dict() for event in stored]}


async def import_events(request: Request) -> Response:
    query(request)
    body = await body_of(request)
    fields(body, ("events",), "an import")
    session_id = session_id_of(request)
    store = store_of(request)
    records = body.get("events")
    first = records[0].get("sequence_number") if isinstance(records, list) and records else 1
    last = (first - 1) if type(first) is int else 0
    await store.backend.import_events(session_id, _stored_events(records, session_id, last, store))
    return Response(status_code=204)


async def read_events(request: Request) -> Response:
    """A seq range of a session's events; with ``limit``, one page and its cursor."""
    params = query(request, "from_seq", "to_seq", "limit", "cursor")
    session_id = session_id_of(request)
    store = store_of(request)
    start = max(integer(params, "from_seq", 1) or 1, 1)
    end = integer(params, "to_seq")
    limit = integer(params, "limit")
    if limit is None:
        return await _streamed(store.iter_events(session_id, from_seq=start, to_seq=end))
    if not 1 <= limit <= MOST_PER_PAGE:
        raise InvalidArgumentError(f"limit must be 1-{MOST_PER_PAGE}, not {limit}")
    check_open(store)
    events, cursor = await store.backend.read_page(
        session_id, from_seq=start, to_seq=end, limit=limit, cursor=integer(params, "cursor")
    )
    return lines_response(events, {} if cursor is None else {wire.CURSOR_HEADER: str(cursor)})


async def replay(request: Request) -> Response:
    """The session's events filtered by type, time and seq, streamed as they are read."""
    params = query(request, "types", "since", "until", "from_seq", "to_seq")
    types = params.get("types")
    events = store_of(request).iter_events(
        session_id_of(request),
        types=[name for name in types.split(",") if name] if types else None,
        since=moment(params, "since"),
        until=moment(params, "until"),
        from_seq=integer(params, "from_seq"),
        to_seq=integer(params, "to_seq"),
    )
    return await _streamed(events)


async def _streamed(events: AsyncIterator[Event]) -> Response:
    """Events as JSON lines, a page at a time. The first read is made before answering, so
    that an unknown session is a 404 rather than a stream cut short."""
    iterator = aiter(events)
    first = await anext(iterator, None)

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        chunk = [encode_event(first)]
        async for event in iterator:
            chunk.append(encode_event(event))
            if len(chunk) >= 1000:
                yield b"".join(chunk)
                chunk = []
        yield b"".join(chunk)

    return StreamingResponse(lines(), media_type=wire.JSON_LINES)


# State, forks, snapshots, checks


async def get_state(request: Request) -> Response:
    params = query(request, "at_seq")
    state = await store_of(request).get_state(
        session_id_of(request), at_seq=integer(params, "at_seq")
    )
    return json_response(state.to_dict())


async def stats(request: Request) -> Response:
    """A session's figures: tokens, cost and calls per model and tool (``agentstore stats``)."""
    query(request)
    store = store_of(request)
    session = await store.get_session(session_id_of(request))
    events = [event async for event in store.iter_events(session.id)]
    return json_response(session_stats(session, events).to_dict())


async def fork(request: Request) -> Response:
    query(request)
    body = await body_of(request)
    fields(body, ("at_seq", "name", "labels", "id"), "a fork")
    if "at_seq" not in body:
        raise InvalidArgumentError("a fork needs at_seq, the last seq it keeps")
    session = await store_of(request).fork(
        session_id_of(request),
        at_seq=body["at_seq"],
        name=body.get("name", ""),
        labels=body.get("labels"),
        id=body.get("id"),
    )
    return json_response(session.to_dict(), 201)


async def get_snapshot(request: Request) -> Response:
    query(request)
    store = store_of(request)
    session_id = session_id_of(request)
    check_open(store)
    await store.backend.last_seq(session_id)  # an unknown session is a 404
    snapshot = await store.backend.read_snapshot(session_id)
    return json_response({"snapshot": None if snapshot is None else snapshot.to_dict()})


async def put_snapshot(request: Request) -> Response:
    """Keep a state a client folded (unless a newer one is kept), as a store saves its own."""
    query(request)
    store = store_of(request)
    session_id = session_id_of(request)
    snapshot = wire.decode_snapshot(await body_of(request))
    check_open(store)
    await store.backend.last_seq(session_id)  # an unknown session is a 404
    if snapshot.session_id != session_id:
        raise InvalidArgumentError(f"the snapshot is of session {snapshot.session_id!r}")
    # One ahead of the log (of a log cut short since) is kept, and ignored by every read.
    if snapshot.version < 1 or snapshot.state.event_count != snapshot.version:
        raise InvalidArgumentError(
            f"a snapshot of version {snapshot.version} holds the state of "
            f"{snapshot.state.event_count} events, not of {snapshot.version}"
        )
    await store.backend.write_snapshot(snapshot)
    return Response(status_code=204)


async def verify(request: Request) -> Response:
    query(request)
    store = store_of(request)
    session_id = session_id_of(request)
    check_open(store)
    await store.backend.last_seq(session_id)
    problems = await store.backend.check(session_id)
    return json_response({"problems": [dataclasses.asdict(problem) for problem in problems]})


# Live feeds


async def watch(request: Request) -> Response:
    """A session's events as Server-Sent Events; ``Last-Event-ID`` resumes after that seq."""
    params = query(request, "from_seq", "timeout", "live")
    store = store_of(request)
    session_id = session_id_of(request)
    resumed = request.headers.get("last-event-id")
    start: int | None
    if resumed is not None:
        start = (integer({"Last-Event-ID": resumed}, "Last-Event-ID") or 0) + 1
    elif params.get("live") in ("1", "true"):
        start = None  # the events appended from now on
    else:
        start = integer(params, "from_seq", 0) or 0
    check_open(store)
    return await sse.stream(request, session_id, start=start, timeout=timeout_of(params))


async def watch_all(request: Request) -> Response:
    """The events appended to every session from now on, as Server-Sent Events."""
    params = query(request, "timeout")
    check_open(store_of(request))
    return await sse.stream(request, None, start=None, timeout=timeout_of(params))


# OpenTelemetry


async def record_traces(request: Request) -> Response:
    """OTLP's ``POST /v1/traces``: GenAI spans recorded as events (:mod:`.otlp`, imported
    at its first request: the OpenTelemetry packages would add a fifth to a server's start)."""
    from agentstore.server import otlp

    return await otlp.record_traces(request)


def _refuse_writes(endpoint: _Endpoint, operation: str) -> _Endpoint:
    """``endpoint``, answered only for a token that may write."""

    async def guarded(request: Request) -> Response:
        if request.scope.get("agentstore.access") == "read":
            raise ReadOnlyStoreError(operation)
        response: Response = await endpoint(request)
        return response

    guarded.__name__ = endpoint.__name__
    guarded.__doc__ = endpoint.__doc__
    return guarded


_S = wire.API + "/sessions"
_ONE = _S + "/{session_id}"

#: (method, path, endpoint, whether it writes): the API's every route.
TABLE: tuple[tuple[str, str, _Endpoint, bool], ...] = (
    ("GET", _S, list_sessions, False),
    ("POST", _S, create_session, True),
    ("GET", _ONE, get_session, False),
    ("PATCH", _ONE, update_session, True),
    ("DELETE", _ONE, delete_session, True),
    ("POST", _ONE + "/events", append, True),
    ("GET", _ONE + "/events", read_events, False),
    ("POST", _ONE + "/import", import_events, True),
    ("POST", wire.API + "/appends", append_many, True),
    ("GET", _ONE + "/replay", replay, False),
    ("GET", _ONE + "/state", get_state, False),
    ("GET", _ONE + "/stats", stats, False),
    ("POST", _ONE + "/fork", fork, True),
    ("GET", _ONE + "/snapshot", get_snapshot, False),
    ("PUT", _ONE + "/snapshot", put_snapshot, True),
    ("GET", _ONE + "/verify", verify, False),
    ("GET", _ONE + "/watch", watch, False),
    ("GET", wire.API + "/watch", watch_all, False),
    ("POST", wire.API + "/traces", record_traces, True),
)
WRITES = frozenset((method, path) for method, path, _, writes in TABLE if writes)
ROUTES = [
    Route(
        path,
        _refuse_writes(endpoint, endpoint.__name__) if writes else endpoint,
        methods=[method],
        name=endpoint.__name__,
    )
    for method, path, endpoint, writes in TABLE
]
