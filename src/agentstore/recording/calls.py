"""What the sync and async recorders share: their settings, the events they append, the
tool and LLM calls they time, and the tools they wrap (pure, no I/O).

A recorder face only appends: each of its methods drafts an event here (or in
:mod:`agentstore.recording.drafts`) and hands it to its store, directly or awaited. So
:class:`~agentstore.recording.Recorder` and :class:`~agentstore.aio.AsyncRecorder` record
the same events for the same calls.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from agentstore.errors import InvalidEventError
from agentstore.events import Event, new_event
from agentstore.recording.drafts import (
    Draft,
    error_draft,
    llm_request_draft,
    llm_response_draft,
    payload_error,
    to_json,
    tool_called_draft,
    tool_result_draft,
)

__all__ = [
    "CallScope",
    "LLMCallScope",
    "RecorderSettings",
    "ToolCallScope",
    "draft_event",
    "json_fallback",
    "signature_of",
]

R = TypeVar("R")


class RecorderSettings:
    """What a recorder is: its store, session, worker id and whether it prices calls."""

    __slots__ = ("_price", "session_id", "store", "worker_id")

    def __init__(self, store: Any, session_id: str, *, worker_id: str = "", price: bool = True):
        self.store = store
        self.session_id = session_id
        self.worker_id = worker_id
        self._price = price

    def _error_draft(
        self,
        error: BaseException | str,
        tool_name: str,
        cause: Event | None,
        duration_ms: float | None,
        fields: dict[str, Any],
    ) -> Draft:
        worker = self.worker_id
        return error_draft(
            error,
            tool_name=tool_name,
            cause=cause,
            duration_ms=duration_ms,
            fields=fields,
            worker=worker,
        )

    def _response_draft(self, request: Event | None, response: Any, **given: Any) -> Draft:
        fields = {name: given.pop(name) for name in list(given) if name not in _RESPONSE_FACTS}
        facts = {name: given.get(name) for name in _RESPONSE_FACTS}
        return llm_response_draft(
            request, response, facts, fields, worker=self.worker_id, priced=self._price
        )


_RESPONSE_FACTS = (
    "content",
    "model",
    "provider",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "duration_ms",
)


def draft_event(draft: Draft) -> Event:
    """The event to append for ``draft``."""
    kind, payload, metadata = draft
    return new_event(kind, payload, metadata=metadata)


def json_fallback(draft: Draft, error: InvalidEventError) -> Event:
    """The event to append instead when the store refused ``draft``'s payload as it is.

    A recorder records what it is given: a value JSON cannot hold as it is (a model, a
    dataclass, a set) is recorded as JSON. Any other error is raised again.
    """
    if not payload_error(error):
        raise error
    kind, payload, metadata = draft
    return new_event(kind, to_json(payload), metadata=metadata)


def signature_of(function: Callable[..., Any]) -> inspect.Signature | None:
    """The signature of a decorated tool, to record its arguments by name (None: unknown)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


class CallScope:
    """What the tool and LLM call context managers share: timing and the outcome.

    A face enters by appending :meth:`_opening` and leaves by appending
    :meth:`_closing`'s draft, if any.
    """

    __slots__ = ("_recorder", "_started", "outcome", "started")

    def __init__(self, recorder: RecorderSettings) -> None:
        self._recorder = recorder
        self.started: Event | None = None
        """The ``tool_called`` or ``llm_request`` event, once entered."""
        self.outcome: Event | None = None
        """The ``tool_result``, ``llm_response`` or ``error`` event, once left."""
        self._started = 0.0

    def _opening(self) -> Draft:
        raise NotImplementedError

    def _answer(self, started: Event, elapsed_ms: float) -> Draft:
        raise NotImplementedError

    def _failure(self, error: BaseException, started: Event, elapsed_ms: float) -> Draft:
        worker = self._recorder.worker_id
        return error_draft(
            error, tool_name="", cause=started, duration_ms=elapsed_ms, fields={}, worker=worker
        )

    def _begin(self, event: Event) -> None:
        self.started = event
        self._started = time.perf_counter()

    def _closing(self, error: BaseException | None) -> Draft | None:
        """The event that ends the call: its answer, its failure, or none (a generator closed)."""
        if self.started is None:
            raise RuntimeError("the call was not entered")
        elapsed = (time.perf_counter() - self._started) * 1000
        if error is None:
            return self._answer(self.started, elapsed)
        if isinstance(error, GeneratorExit):
            return None
        return self._failure(error, self.started, elapsed)


class ToolCallScope(CallScope):
    """A tool call being recorded: its name, arguments and result."""

    __slots__ = ("arguments", "name", "result")

    def __init__(self, recorder: RecorderSettings, name: str, arguments: Any) -> None:
        super().__init__(recorder)
        self.name = name
        self.arguments = arguments
        self.result: Any = None

    def set_result(self, result: R) -> R:
        """Set what the tool returned (recorded on leaving); returns ``result``."""
        self.result = result
        return result

    def _opening(self) -> Draft:
        return tool_called_draft(self.name, self.arguments, {}, self._recorder.worker_id)

    def _answer(self, started: Event, elapsed_ms: float) -> Draft:
        return tool_result_draft(started, self.result, elapsed_ms, {}, self._recorder.worker_id)

    def _failure(self, error: BaseException, started: Event, elapsed_ms: float) -> Draft:
        return error_draft(
            error,
            tool_name=self.name,
            cause=started,
            duration_ms=elapsed_ms,
            fields={},
            worker=self._recorder.worker_id,
        )


class LLMCallScope(CallScope):
    """An LLM call being recorded: its model, request and response."""

    __slots__ = ("_given", "_response", "model", "provider", "request")

    def __init__(self, recorder: RecorderSettings, model: str, request: Any, provider: str) -> None:
        super().__init__(recorder)
        self.model = model
        self.request = request
        self.provider = provider
        self._response: Any = None
        self._given: dict[str, Any] = {}

    def set_response(self, response: Any = None, **given: Any) -> None:
        """Give the client's response and any facts to record (see
        :meth:`Recorder.llm_response` for the keywords)."""
        self._response = response
        self._given = given

    def _opening(self) -> Draft:
        worker = self._recorder.worker_id
        return llm_request_draft(self.model, self.request, self.provider, {}, worker)

    def _answer(self, started: Event, elapsed_ms: float) -> Draft:
        given = {"duration_ms": elapsed_ms, **self._given}
        return self._recorder._response_draft(started, self._response, **given)
