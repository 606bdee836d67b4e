"""The conformance suite through a real ``agentstore serve`` process, sync and async.

Each class serves one backend from a server process of its own, started once for the
class; every test opens the store over HTTP (``agentstore.open("http://...")``), and the
sessions a test made are deleted after it, so each test starts from an empty store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import agentstore
from agentstore import Store
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.async_face import LoopThread

POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """An ``agentstore serve`` process, started and stopped by the tests."""

    def __init__(self, target: str, *arguments: str, port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.arguments = arguments
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open as long as the server

    def start(self, env: dict[str, str] | None = None) -> Server:
        command = [sys.executable, "-m", "agentstore", "--store", self.target, "serve"]
        command += ["--port", str(self.port), "--log-level", "warning", *self.arguments]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
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
        raise RuntimeError("the server did not start in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill(self) -> None:
        """End the server at once, as a crash would (SIGKILL)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def emptied(self) -> None:
        """Delete every session, so that the next test starts from an empty store."""
        with agentstore.open(self.url) as store:
            for session in store.list_sessions(limit=None):
                store.delete_session(session.id)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


class _Served(StoreConformance):
    """The suite through a server of ``target()``, sync (``face = "sync"``) or async."""

    face = "sync"

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        served = Server(cls.target(tmp_path_factory.mktemp("served"))).start()
        yield served
        served.stop()

    @classmethod
    def target(cls, directory: Path) -> str:
        raise NotImplementedError

    @pytest.fixture
    def open_store(self, server: Server, request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
        if self.face == "sync":

            def open_store(**options: Any) -> Store:
                return agentstore.open(server.url, **options)

            yield open_store
        else:
            loop: LoopThread = request.getfixturevalue("loop")
            yield lambda **options: loop.open(server.url, **options)
        server.emptied()


class TestServedMemory(_Served):
    @classmethod
    def target(cls, directory: Path) -> str:
        return ":memory:"


class TestServedJsonl(_Served):
    appends_per_writer = 40

    @classmethod
    def target(cls, directory: Path) -> str:
        return str(directory / "agent-data")


class TestServedSqlite(_Served):
    appends_per_writer = 40

    @classmethod
    def target(cls, directory: Path) -> str:
        return f"sqlite:///{directory / 'agent.db'}"


@pytest.mark.skipif(
    not POSTGRES, reason="set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests"
)
class TestServedPostgres(_Served):
    appends_per_writer = 40

    @classmethod
    def target(cls, directory: Path) -> str:
        schema = f"test_{uuid.uuid4().hex[:16]}"
        return f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}schema={schema}"


class TestAsyncServedMemory(TestServedMemory):
    face = "async"


class TestAsyncServedJsonl(TestServedJsonl):
    face = "async"


class TestAsyncServedSqlite(TestServedSqlite):
    face = "async"


class TestAsyncServedPostgres(TestServedPostgres):
    face = "async"
