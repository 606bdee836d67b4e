"""The server's own promises: tokens, limits, Host checks, its API description, its errors,
watches that resume, several worker processes, and a crash that loses nothing acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore2
import httpx2
import orjson
import pytest
from starlette.testclient import TestClient

import agentstore
import agentstore.aio
from agentstore import (
    AccessDeniedError,
    ConcurrencyError,
    InvalidEventError,
    ReadOnlyStoreError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    new_event,
)
from agentstore.backends.remote import wire
from agentstore.errors import AgentStoreError, CorruptLogError, StoreVersionError
from agentstore.server import create_app, sse
from agentstore.server.openapi import document
from agentstore.server.routes import TABLE
from agentstore.server.security import host_name
from tests.test_remote import Server, free_port

TOKEN = "write-token-0123456789"  # noqa: S105 - the tests' own
READ_TOKEN = "read-token-0123456789"  # noqa: S105
LOCAL = "http://127.0.0.1:8750"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path / "data", token=TOKEN, read_token=READ_TOKEN, max_request_bytes=4096)
    with TestClient(app, base_url=LOCAL) as test_client:
        yield test_client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response: Any) -> dict[str, object]:
    found: dict[str, object] = response.json()["error"]
    return found


def test_a_request_without_a_token_is_refused_with_401(client: TestClient) -> None:
    response = client.get("/v1/sessions")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert _error(response)["type"] == "AccessDeniedError"
    wrong = client.get("/v1/sessions", headers=_as("not-the-token"))
    assert wrong.status_code == 401
    assert "does not accept this token" in str(_error(wrong)["message"])
    assert client.get("/v1/sessions", headers=_as(TOKEN)).status_code == 200
    assert client.get("/v1/health").status_code == 200  # says nothing stored


def test_a_read_only_token_reads_and_its_writes_are_refused_with_403(
    client: TestClient, tmp_path: Path
) -> None:
    made = client.post("/v1/sessions", json={"id": "one"}, headers=_as(TOKEN))
    assert made.status_code == 201
    assert client.get("/v1/sessions/one", headers=_as(READ_TOKEN)).status_code == 200
    for method, path in [
        ("POST", "/v1/sessions"),
        ("POST", "/v1/sessions/one/events"),
        ("PATCH", "/v1/sessions/one"),
        ("DELETE", "/v1/sessions/one"),
        ("POST", "/v1/sessions/one/fork"),
        ("PUT", "/v1/sessions/one/snapshot"),
        ("POST", "/v1/sessions/one/import"),
    ]:
        response = client.request(method, path, json={"events": []}, headers=_as(READ_TOKEN))
        assert response.status_code == 403, (method, path)
        assert _error(response)["type"] == "ReadOnlyStoreError"
    assert client.get("/v1/sessions/one", headers=_as(TOKEN)).json()["event_count"] == 0


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_written(
    client: TestClient,
) -> None:
    client.post("/v1/sessions", json={"id": "one"}, headers=_as(TOKEN))
    big = {"events": [{"type": "user_message", "payload": {"text": "x" * 5000}}]}
    response = client.post("/v1/sessions/one/events", json=big, headers=_as(TOKEN))
    assert response.status_code == 413
    assert _error(response)["type"] == "InvalidArgumentError"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield orjson.dumps(big)[:3000]
        yield orjson.dumps(big)[3000:]

    streamed = client.post(
        "/v1/sessions/one/events",
        content=chunks(),
        headers={**_as(TOKEN), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert client.get("/v1/sessions/one", headers=_as(TOKEN)).json()["event_count"] == 0


def test_a_forged_host_header_is_refused(client: TestClient) -> None:
    for host in ("attacker.example", "attacker.example:8750", "127.0.0.1.nip.io"):
        response = client.get("/v1/sessions", headers={**_as(TOKEN), "Host": host})
        assert response.status_code == 400, host
        assert "does not answer to the host" in str(_error(response)["message"])
    for host in ("localhost:8750", "127.0.0.1", "[::1]:8750"):
        assert client.get("/v1/sessions", headers={**_as(TOKEN), "Host": host}).status_code == 200


def test_host_names_are_read_without_their_port() -> None:
    assert host_name("[::1]:8750") == "::1"
    assert host_name("LOCALHOST:80") == "localhost"
    assert host_name("::1") == "::1"
    assert host_name("example.org") == "example.org"


def test_cross_origin_requests_get_no_cors_headers_unless_configured(tmp_path: Path) -> None:
    origin = {"Origin": "https://dashboard.example"}
    with TestClient(create_app(tmp_path / "a"), base_url=LOCAL) as closed:
        assert (
            "access-control-allow-origin" not in closed.get("/v1/sessions", headers=origin).headers
        )
    app = create_app(tmp_path / "b", cors_origins=["https://dashboard.example"])
    with TestClient(app, base_url=LOCAL) as open_:
        allowed = open_.get("/v1/sessions", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://dashboard.example"
        for method in ("POST", "PUT", "PATCH", "DELETE"):  # every method the API takes
            asked = {**origin, "Access-Control-Request-Method": method}
            assert open_.options("/v1/sessions/x/snapshot", headers=asked).status_code == 200


def test_a_body_must_be_json_so_no_form_of_another_site_can_write(client: TestClient) -> None:
    response = client.post(
        "/v1/sessions",
        content=b'{"id": "x"}',
        headers={**_as(TOKEN), "Content-Type": "text/plain"},
    )
    assert response.status_code == 400
    assert "application/json" in str(_error(response)["message"])


@pytest.mark.parametrize("session_id", ["..", "a b", "../../etc", "x" * 300])
def test_no_session_id_escapes_the_store(client: TestClient, session_id: str) -> None:
    response = client.post("/v1/sessions", json={"id": session_id}, headers=_as(TOKEN))
    assert response.status_code == 400
    assert _error(response)["type"] == "InvalidSessionIdError"
    path = client.get(f"/v1/sessions/{session_id}/events", headers=_as(TOKEN))
    assert path.status_code in (400, 404)


def test_an_unknown_query_parameter_or_field_is_refused(client: TestClient) -> None:
    client.post("/v1/sessions", json={"id": "one"}, headers=_as(TOKEN))
    typo = client.get("/v1/sessions/one/events?form_seq=3", headers=_as(TOKEN))
    assert typo.status_code == 400
    assert "form_seq" in str(_error(typo)["message"])
    field = client.post(
        "/v1/sessions/one/events",
        json={"events": [{"type": "plan_created", "seq": 4}]},
        headers=_as(TOKEN),
    )
    assert field.status_code == 400
    assert _error(field)["type"] == "InvalidEventError"


def test_the_openapi_document_describes_every_route_and_no_other() -> None:
    described = {
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
    }
    routed = {(method, path) for method, path, _, _ in TABLE}
    public = {("GET", "/v1/health"), ("GET", "/v1/openapi.json")}
    assert described == routed | public
    for operations in document()["paths"].values():
        for operation in operations.values():
            assert operation["summary"]
            assert {"200", "201", "204"} & operation["responses"].keys()
            assert "401" in operation["responses"]


def test_the_openapi_document_is_served_without_a_token(client: TestClient) -> None:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    "error",
    [
        SessionNotFoundError("a"),
        SessionExistsError("a"),
        ConcurrencyError("a", expected=3, actual=4),
        InvalidEventError("too deep", path="payload['x']"),
        ReadOnlyStoreError("append"),
        CorruptLogError("a.jsonl", 3, "not JSON"),
        StoreVersionError("x.db", found=9, supported=2),
        StorageError(28, "disk full"),
        AccessDeniedError("no token"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_crosses_the_wire_as_the_same_class_message_and_facts(
    error: AgentStoreError,
) -> None:
    body = orjson.dumps(wire.encode_error(error))
    again = wire.error_from(wire.status_of(error), body)
    assert type(again) is type(error)
    assert str(again) == str(error)
    for name in ("session_id", "expected", "actual", "path", "line", "found", "errno"):
        assert getattr(again, name, None) == getattr(error, name, None)


def test_a_body_that_names_no_error_gives_the_kind_of_its_status() -> None:
    assert isinstance(wire.error_from(502, b"<html>Bad gateway</html>"), StorageError)
    assert isinstance(wire.error_from(401, b""), AccessDeniedError)


def test_the_remote_store_raises_the_servers_errors_and_needs_its_token(tmp_path: Path) -> None:
    server = Server(str(tmp_path / "data")).start(env={"AGENTSTORE_TOKEN": TOKEN})
    try:
        with pytest.raises(AccessDeniedError):
            agentstore.open(server.url, token="wrong")  # noqa: S106
        with agentstore.open(server.url, token=TOKEN) as store:
            store.create_session(id="one")
            with pytest.raises(SessionExistsError):
                store.create_session(id="one")
            store.append("one", new_event("plan_created", {}))
            with pytest.raises(ConcurrencyError) as stale:
                store.append("one", new_event("plan_created", {}), expected_seq=0)
            assert (stale.value.expected, stale.value.actual) == (0, 1)
    finally:
        server.stop()


def test_serving_on_a_public_address_without_a_token_is_refused(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "AGENTSTORE_TOKEN"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "agentstore", "--store", str(tmp_path / "d"), "serve"),
            *("--host", "0.0.0.0", "--port", str(free_port())),  # noqa: S104 - refused
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert "without a token" in done.stderr
    assert not (tmp_path / "d").exists()


def test_a_server_that_cannot_be_reached_is_a_storage_error() -> None:
    with pytest.raises(StorageError) as refused:
        agentstore.open(f"http://127.0.0.1:{free_port()}")
    assert "cannot be reached" in str(refused.value)


def test_a_watch_resumes_after_a_dropped_connection_without_loss_or_repeat(
    tmp_path: Path,
) -> None:
    server = Server(str(tmp_path / "data")).start()
    try:
        with agentstore.open(server.url) as store:
            store.create_session(id="one")
            for number in range(3):
                store.append("one", new_event("custom", {"n": number}))
            seen: list[int] = []
            with httpx2.stream("GET", f"{server.url}/v1/sessions/one/watch") as first:
                for kind, last_id, data in _messages(first):
                    if kind == "message":
                        seen.append(orjson.loads(data)["sequence_number"])
                        assert last_id == str(seen[-1])
                    if len(seen) == 3:
                        break  # the connection is dropped here
            for number in range(3, 6):  # appended while no one listens
                store.append("one", new_event("custom", {"n": number}))
            again: list[int] = []
            headers = {"Last-Event-ID": str(seen[-1])}
            params = {"timeout": "0.5"}
            with httpx2.stream(
                "GET", f"{server.url}/v1/sessions/one/watch", headers=headers, params=params
            ) as second:
                for kind, _, data in _messages(second):
                    if kind == "message":
                        again.append(orjson.loads(data)["sequence_number"])
            assert seen + again == [1, 2, 3, 4, 5, 6]
    finally:
        server.stop()


def _messages(response: httpx2.Response) -> Iterator[tuple[str, str, str]]:
    """The (event, id, data) of each Server-Sent Event of ``response``."""
    kind, last_id, data = "message", "", ""
    for line in response.iter_lines():
        if not line:
            if data:
                yield kind, last_id, data
            kind, data = "message", ""
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            last_id = line[4:]
        elif line.startswith("data: "):
            data = line[6:]


def test_a_remote_watch_survives_a_server_restart_without_loss_or_repeat(
    tmp_path: Path,
) -> None:
    server = Server(str(tmp_path / "data")).start()
    try:
        with agentstore.open(server.url) as store:
            store.create_session(id="one")
            watch = store.watch("one", timeout=20)
            store.append("one", new_event("custom", {"n": 0}))
            assert next(watch).seq == 1
            server.kill()
            server.start()
            store.append("one", new_event("custom", {"n": 1}))
            store.append("one", new_event("custom", {"n": 2}))
            assert [next(watch).seq, next(watch).seq] == [2, 3]
            watch.close()
    finally:
        server.stop()


class _LosesAnswers:
    """A store's connection pool whose first ``count`` answers to a POST are lost after
    the server acted."""

    def __init__(self, inner: httpcore2.ConnectionPool, count: int) -> None:
        self.inner = inner
        self.count = count

    def request(self, method: str, url: httpcore2.URL, **options: Any) -> httpcore2.Response:
        response = self.inner.request(method, url, **options)
        if method == "POST" and self.count:
            self.count -= 1
            raise httpcore2.ReadError("connection reset by peer")
        return response

    def stream(self, method: str, url: httpcore2.URL, **options: Any) -> Any:
        return self.inner.stream(method, url, **options)

    def close(self) -> None:
        self.inner.close()


def test_an_append_whose_answer_was_lost_is_sent_again_and_stored_once(tmp_path: Path) -> None:
    server = Server(str(tmp_path / "data")).start()
    try:
        with agentstore.open(server.url) as store:
            store.create_session(id="one")
            backend = store.backend
            losing = backend._pool = _LosesAnswers(backend._pool, count=2)  # type: ignore[attr-defined]
            stored = store.append_batch("one", [new_event("custom", {"n": n}) for n in range(3)])
            assert [event.seq for event in stored] == [1, 2, 3]
            assert [event.seq for event in store.get_events("one")] == [1, 2, 3]
            # A creation may not be sent again: its lost answer is an error, not a double.
            losing.count = 1
            with pytest.raises(StorageError, match="broke the connection"):
                store.create_session(id="two")
            assert store.get_session("two").id == "two"
    finally:
        server.stop()


def test_workers_on_one_sqlite_file_keep_seqs_gapless_under_concurrent_clients(
    tmp_path: Path,
) -> None:
    server = Server(f"sqlite:///{tmp_path / 'agent.db'}", "--workers", "4").start()
    try:
        with agentstore.open(server.url) as store:
            store.create_session(id="shared")
        failures: list[BaseException] = []

        def client(number: int) -> None:
            try:
                with agentstore.open(server.url) as own:
                    for count in range(25):
                        own.append("shared", new_event("custom", {"client": number, "n": count}))
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        with agentstore.open(server.url) as store:
            events = store.get_events("shared")
        assert [event.seq for event in events] == list(range(1, 201))
        assert len({(e.payload["client"], e.payload["n"]) for e in events}) == 200
    finally:
        server.stop()


def test_a_server_killed_mid_load_loses_no_acknowledged_append(tmp_path: Path) -> None:
    target = str(tmp_path / "agent-data")
    server = Server(target).start()
    acknowledged: list[tuple[int, int]] = []
    stop = threading.Event()
    with agentstore.open(server.url) as store:
        store.create_session(id="load")

    def writer(number: int) -> None:
        with agentstore.open(server.url) as own:
            count = 0
            while not stop.is_set():
                try:
                    own.append("load", new_event("custom", {"w": number, "n": count}))
                except StorageError:
                    return  # the server is gone: this append was not acknowledged
                acknowledged.append((number, count))
                count += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 100:
        time.sleep(0.01)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    server.start()
    try:
        with agentstore.open(server.url) as store:
            events = store.get_events("load")
        stored = {(event.payload["w"], event.payload["n"]) for event in events}
        assert set(acknowledged) <= stored
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
    finally:
        server.stop()


def test_the_command_line_reads_a_served_store(tmp_path: Path) -> None:
    server = Server(str(tmp_path / "data")).start(env={"AGENTSTORE_TOKEN": TOKEN})
    try:
        with agentstore.open(server.url, token=TOKEN) as store:
            store.create_session(id="trip", name="flight-search")
            store.append("trip", new_event("user_message", {"text": "hi"}))
        command = [sys.executable, "-m", "agentstore", "--store", server.url]
        env = {**os.environ, "AGENTSTORE_TOKEN": TOKEN}
        listed = subprocess.run(
            [*command, "sessions", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [session["id"] for session in orjson.loads(listed.stdout)] == ["trip"]
        refused = subprocess.run(
            [*command, "sessions"],
            capture_output=True,
            text=True,
            env={**os.environ, "AGENTSTORE_TOKEN": "wrong"},
            timeout=60,
        )
        assert refused.returncode == 1
        assert "does not accept this token" in refused.stderr
    finally:
        server.stop()


def test_a_list_searches_names_and_ids_and_sums_up_each_session(client: TestClient) -> None:
    headers = _as(TOKEN)
    client.post("/v1/sessions", json={"id": "trip", "name": "Flight search"}, headers=headers)
    client.post("/v1/sessions", json={"id": "flight-2", "name": "other"}, headers=headers)
    client.post("/v1/sessions", json={"id": "chat", "name": "small talk"}, headers=headers)
    response = {
        "type": "llm_response",
        "metadata": {"model": "gpt-4o", "tokens_in": 10, "tokens_out": 5, "cost_usd": 0.01},
    }
    events = {"events": [response, {"type": "error", "payload": {"error": "timeout"}}]}
    client.post("/v1/sessions/trip/events", json=events, headers=headers)
    found = client.get("/v1/sessions?q=FLIGHT&summary=true", headers=headers).json()["sessions"]
    assert [session["id"] for session in found] == ["flight-2", "trip"]
    assert found[1]["summary"] | {"last_event_at": None} == {
        "tokens_in": 10,
        "tokens_out": 5,
        "cost_usd": 0.01,
        "errors": 1,
        "tool_calls": 0,
        "last_event_at": None,
    }
    assert found[0]["summary"]["last_event_at"] is None  # no event yet
    paged = client.get("/v1/sessions?q=flight&limit=1&offset=1", headers=headers).json()
    assert [session["id"] for session in paged["sessions"]] == ["trip"]
    assert "summary" not in paged["sessions"][0]
    stats = client.get("/v1/sessions/trip/stats", headers=headers).json()
    assert stats["models"]["gpt-4o"]["tokens_in"] == 10
    assert (stats["events"], stats["errors"]) == (2, 1)


def test_every_stream_of_a_session_shares_one_feed_that_ends_with_the_last() -> None:
    async def scenario() -> None:
        async with agentstore.aio.open(":memory:") as store:
            await store.create_session(id="one")
            hub = sse.Hub(store)
            first = await hub.channel("one")
            assert await hub.channel("one") is first  # one feed, however many streams
            queues = [first.join(), first.join()]
            appended = await store.append("one", new_event("custom", {"n": 1}))
            got = [await asyncio.wait_for(queue.get(), 5) for queue in queues]
            assert got[0] == got[1] == (1, sse.message(appended, True))
            assert got[0][1] is got[1][1]  # encoded once
            for queue in queues:
                first.leave(queue)
            assert await hub.channel("one") is not first  # the last to leave ended it
            with pytest.raises(SessionNotFoundError):
                await hub.channel("nowhere")

    asyncio.run(scenario())


def test_a_stream_too_slow_to_keep_up_is_cut_off_and_its_feed_goes_on() -> None:
    async def scenario() -> None:
        async with agentstore.aio.open(":memory:") as store:
            await store.create_session(id="one")
            channel = await sse.Hub(store).channel("one")
            slow, fast = channel.join(), channel.join()
            for number in range(sse.MOST_QUEUED + 1):
                await store.append("one", new_event("custom", {"n": number}))
                await fast.get()
            await asyncio.sleep(0.05)
            assert slow.qsize() == sse.MOST_QUEUED + 1
            assert list(slow._queue)[-1] == sse._END  # type: ignore[attr-defined]
            await store.append("one", new_event("custom", {"n": -1}))
            assert (await asyncio.wait_for(fast.get(), 5))[0] == sse.MOST_QUEUED + 2

    asyncio.run(scenario())


def test_appends_of_several_sessions_in_one_request_each_stand_or_fail_alone(
    client: TestClient,
) -> None:
    headers = _as(TOKEN)
    client.post("/v1/sessions", json={"id": "one"}, headers=headers)
    client.post("/v1/sessions", json={"id": "two"}, headers=headers)
    asked = {
        "appends": [
            {"session_id": "one", "events": [{"type": "plan_created"}, {"type": "custom"}]},
            {"session_id": "nowhere", "events": [{"type": "custom"}]},
            {"session_id": "two", "events": [{"type": "custom"}], "expected_seq": 5},
            {"session_id": "two", "events": [{"type": "custom", "seq": 1}]},
            {"session_id": "two", "events": [{"type": "user_message", "payload": {"t": 1}}]},
        ]
    }
    results = client.post("/v1/appends", json=asked, headers=headers).json()["results"]
    assert [event["sequence_number"] for event in results[0]["events"]] == [1, 2]
    assert results[1]["error"]["type"] == "SessionNotFoundError"
    assert results[2]["error"]["type"] == "ConcurrencyError"
    assert results[3]["error"]["type"] == "InvalidEventError"
    assert results[4]["events"][0]["payload"] == {"t": 1}
    assert client.get("/v1/sessions/two", headers=headers).json()["event_count"] == 1
    refused = client.post("/v1/appends", json=asked, headers=_as(READ_TOKEN))
    assert refused.status_code == 403


class _Counting:
    """A store's async connection pool that counts the POST requests sent, by path."""

    def __init__(self, inner: httpcore2.AsyncConnectionPool) -> None:
        self.inner = inner
        self.paths: list[bytes] = []

    async def request(self, method: str, url: httpcore2.URL, **options: Any) -> httpcore2.Response:
        if method == "POST":
            self.paths.append(url.target.partition(b"?")[0])
        return await self.inner.request(method, url, **options)

    def stream(self, method: str, url: httpcore2.URL, **options: Any) -> Any:
        return self.inner.stream(method, url, **options)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_concurrent_appends_of_a_remote_async_store_share_requests(tmp_path: Path) -> None:
    server = Server(str(tmp_path / "data")).start()

    async def scenario() -> None:
        async with agentstore.aio.open(server.url) as store:
            ids = [(await store.create_session()).id for _ in range(32)]
            backend = store.backend
            counting = backend._pool = _Counting(backend._pool)  # type: ignore[attr-defined]
            stored = await asyncio.gather(
                *(store.append(sid, new_event("custom", {"to": sid})) for sid in ids)
            )
            assert [event.session_id for event in stored] == ids
            assert all(
                event.seq == 1 and event.payload == {"to": event.session_id} for event in stored
            )
            assert len(counting.paths) < 32
            assert b"/v1/appends" in counting.paths
            for sid in ids:
                assert [event.seq for event in await store.get_events(sid)] == [1]

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
