"""Recording an agent's work in one line: messages, plans, tool calls, LLM calls, state.

A :class:`Recorder` writes the events of one session with the payload and metadata shapes
the timeline, the stats and the default reducer read. The drafts (type, payload,
metadata) are built here by pure functions, so the sync :class:`Recorder` and
:class:`agentstore.aio.recording.AsyncRecorder` differ only in how they append.

Events that answer another name it in ``metadata.cause_id``: a ``tool_result`` its
``tool_called``, an ``llm_response`` its ``llm_request``, an ``error`` the call that failed.
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from agentstore import timestamps
from agentstore.errors import InvalidEventError
from agentstore.events import EMPTY_METADATA, Event, Metadata, new_event
from agentstore.pricing import price
from agentstore.usage import Usage, extract_usage

if TYPE_CHECKING:
    from agentstore.store import Store

__all__ = ["CALLER", "LLMCall", "Recorder", "ToolCall", "to_json"]

P = ParamSpec("P")
R = TypeVar("R")
Draft = tuple[str, Any, Metadata]
"""An event to append: its type, payload and metadata."""

_MAX_DEPTH = 32
CALLER = "caller"
"""The ``cost_source`` of a cost the caller gave the recorder."""
_INT64 = 1 << 63
_USAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Usage))


# -- pure drafts -------------------------------------------------------------------------


def user_message_draft(content: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``user_message``: ``{"content": ..., **fields}``."""
    return "user_message", {"content": content, **fields}, _worker(worker)


def plan_draft(steps: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``plan_created``: ``{"steps": [...], **fields}``."""
    listed = [steps] if isinstance(steps, str) else list(steps)
    return "plan_created", {"steps": listed, **fields}, _worker(worker)


def tool_called_draft(name: str, arguments: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``tool_called``: ``{"tool": name, "arguments": ...}`` naming the tool."""
    metadata = Metadata(tool_name=name, worker_id=worker)
    return "tool_called", {"tool": name, "arguments": arguments, **fields}, metadata


def tool_result_draft(
    called: Event, result: Any, duration_ms: float | None, fields: Mapping[str, Any], worker: str
) -> Draft:
    """A ``tool_result`` answering ``called``: ``{"tool": name, "result": ...}``."""
    name = called.metadata.tool_name
    metadata = Metadata(
        tool_name=name,
        duration_ms=_duration(called, duration_ms),
        cause_id=called.id,
        worker_id=worker,
    )
    return "tool_result", {"tool": name, "result": result, **fields}, metadata


def error_draft(
    error: BaseException | str,
    *,
    tool_name: str,
    cause: Event | None,
    duration_ms: float | None,
    fields: Mapping[str, Any],
    worker: str,
) -> Draft:
    """An ``error``: ``{"error": message, "error_type": class name}``, and the tool if any."""
    payload: dict[str, Any] = {"error": str(error)}
    if isinstance(error, BaseException):
        payload["error_type"] = type(error).__name__
    if tool_name:
        payload["tool"] = tool_name
    metadata = Metadata(
        tool_name=tool_name,
        duration_ms=_duration(cause, duration_ms),
        cause_id="" if cause is None else cause.id,
        worker_id=worker,
    )
    return "error", {**payload, **fields}, metadata


def llm_request_draft(
    model: str, request: Any, provider: str, fields: Mapping[str, Any], worker: str
) -> Draft:
    """An ``llm_request``: ``{"model": ..., "request": ...}`` with model and provider."""
    payload: dict[str, Any] = {"model": model}
    if request is not None:
        payload["request"] = request
    metadata = Metadata(model=model, provider=provider, worker_id=worker)
    return "llm_request", {**payload, **fields}, metadata


def llm_response_draft(
    request: Event | None,
    response: Any,
    given: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    worker: str,
    priced: bool,
) -> Draft:
    """An ``llm_response``: ``{"content": text}`` with model, tokens, duration and cost.

    What ``response`` says (see :func:`agentstore.usage.extract_usage`) is overridden by
    the values ``given`` that are not None. The model is the one the response names (the
    exact version served), else the request's; the provider is the request's, else the
    response's (the caller knows which server it called; a response's shape does not).
    A cost given is recorded with ``cost_source="caller"``, even 0; otherwise the tokens
    are priced (when ``priced``).
    """
    usage = extract_usage(response) if response is not None else None
    facts: dict[str, Any] = {} if usage is None else _usage_facts(usage)
    if request is not None:
        facts["model"] = facts.get("model") or request.metadata.model
        facts["provider"] = request.metadata.provider or facts.get("provider", "")
        facts["cause_id"] = request.id
    facts.update((key, value) for key, value in given.items() if value is not None)
    content = facts.pop("content", None)
    facts["duration_ms"] = _duration(request, facts.get("duration_ms"))
    if given.get("cost_usd") is not None:
        facts["cost_source"] = CALLER
    metadata = Metadata(worker_id=worker, **facts)
    if priced:
        metadata = price(metadata)
    return "llm_response", {"content": content, **fields}, metadata


def _usage_facts(usage: Usage) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every field, and costs a third of the draft.
    return {name: getattr(usage, name) for name in _USAGE_FIELDS}


def state_draft(data: Mapping[str, Any], worker: str) -> Draft:
    """A ``state_updated`` whose payload is ``data``."""
    return "state_updated", dict(data), _worker(worker)


def with_cause(metadata: Metadata | None, cause: Event | None) -> Metadata:
    """``metadata`` pointing at ``cause`` (if given)."""
    metadata = EMPTY_METADATA if metadata is None else metadata
    return metadata if cause is None else dataclasses.replace(metadata, cause_id=cause.id)


def tool_arguments(signature: inspect.Signature | None, args: Any, kwargs: Any) -> Any:
    """The arguments of a call by parameter name (positional and keyword if unbindable)."""
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass
        else:
            bound.apply_defaults()
            return dict(bound.arguments)
    return {"args": list(args), "kwargs": dict(kwargs)}


def to_json(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON: models dumped, dataclasses as dicts, other objects as repr.

    For what tools take and return, which are often not JSON; the store refuses them as
    they are, and losing a tool's result to that would be worse than a repr.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)  # JSON readers stop at 64 bits
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(item, depth + 1) for item in value]
    return to_json(_plain(value), depth + 1)


def _plain(value: Any) -> Any:
    try:
        dump = getattr(value, "model_dump", None)  # pydantic models: every SDK's responses
        if callable(dump):
            return dump(mode="json")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            # Field by field, not dataclasses.asdict: that deep-copies, and fails on a
            # lock or a client held in a field.
            return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        if isinstance(value, (_datetime.datetime, _datetime.date)):
            return value.isoformat()
        return repr(value)
    except Exception:  # noqa: BLE001 - what cannot be read is recorded as the object's name
        return object.__repr__(value)


def _worker(worker: str) -> Metadata:
    return Metadata(worker_id=worker) if worker else EMPTY_METADATA


def _duration(started: Event | None, duration_ms: float | None) -> int:
    if duration_ms is not None:
        return max(round(duration_ms), 0)
    if started is None or started.timestamp == timestamps.UNSET:
        return 0
    elapsed = timestamps.now() - started.timestamp
    return max(round(elapsed.total_seconds() * 1000), 0)


def payload_error(error: InvalidEventError) -> bool:
    """Whether the store refused an event for its payload (worth a :func:`to_json` retry)."""
    return error.path.startswith("payload")


# -- the sync recorder -------------------------------------------------------------------


class Recorder:
    """Records one session's events: ``store.recorder(session_id)``.

    Args:
        store: the store to append to.
        session_id: the session (it must exist).
        worker_id: recorded in every event's metadata, if given.
        price: price LLM calls from their tokens when no cost is given (needs the
            ``prices`` extra).

    Every method raises what :meth:`agentstore.Store.append` raises: SessionNotFoundError,
    InvalidEventError (a value that cannot be stored even as JSON), StorageError,
    StoreClosedError.
    """

    __slots__ = ("_price", "session_id", "store", "worker_id")

    def __init__(
        self, store: Store, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.worker_id = worker_id
        self._price = price

    def record(
        self,
        type: str,
        payload: Any = None,
        *,
        metadata: Metadata | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Append an event of any type; ``cause`` is the event it answers, if any."""
        return self._append((type, payload, with_cause(metadata, cause)))

    def user_message(self, content: Any, **fields: Any) -> Event:
        """Record what the user said: ``user_message`` ``{"content": ..., **fields}``."""
        return self._append(user_message_draft(content, fields, self.worker_id))

    def plan(self, steps: Any, **fields: Any) -> Event:
        """Record a plan: ``plan_created`` ``{"steps": [...], **fields}``."""
        return self._append(plan_draft(steps, fields, self.worker_id))

    def state(self, data: Mapping[str, Any]) -> Event:
        """Record the agent's own state: ``state_updated`` with ``data`` as payload."""
        return self._append(state_draft(data, self.worker_id))

    def error(
        self,
        error: BaseException | str,
        *,
        tool_name: str = "",
        cause: Event | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """Record a failure: ``error`` with the message, the exception's type and the tool."""
        return self._append(
            error_draft(
                error,
                tool_name=tool_name,
                cause=cause,
                duration_ms=duration_ms,
                fields=fields,
                worker=self.worker_id,
            )
        )

    def tool_called(self, name: str, arguments: Any = None, **fields: Any) -> Event:
        """Record a tool call starting; answer it with :meth:`tool_result` or :meth:`error`."""
        return self._append(tool_called_draft(name, arguments, fields, self.worker_id))

    def tool_result(
        self, called: Event, result: Any = None, *, duration_ms: float | None = None, **fields: Any
    ) -> Event:
        """Record what the tool call ``called`` returned.

        ``duration_ms`` defaults to the time since ``called`` was stored.
        """
        return self._append(tool_result_draft(called, result, duration_ms, fields, self.worker_id))

    def llm_request(
        self, model: str = "", request: Any = None, *, provider: str = "", **fields: Any
    ) -> Event:
        """Record an LLM call starting; answer it with :meth:`llm_response` or :meth:`error`."""
        return self._append(llm_request_draft(model, request, provider, fields, self.worker_id))

    def llm_response(
        self,
        request: Event | None = None,
        response: Any = None,
        *,
        content: Any = None,
        model: str | None = None,
        provider: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cost_usd: float | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """Record an LLM's answer, with its model, tokens, duration and cost.

        Args:
            request: the ``llm_request`` this answers (its model and provider are the
                defaults; the duration defaults to the time since it was stored).
            response: the client's response object (OpenAI Chat Completions or Responses,
                Anthropic Messages, or their dicts): model, provider, tokens and text
                are read from it.
            content, model, provider, tokens_in, tokens_out, cache_read_tokens,
            cache_write_tokens, cost_usd, duration_ms: override what ``response`` says.
            fields: more payload keys.
        """
        given = {
            "content": content,
            "model": model,
            "provider": provider,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens,
            "cost_usd": cost_usd,
            "duration_ms": duration_ms,
        }
        return self._append(
            llm_response_draft(
                request, response, given, fields, worker=self.worker_id, priced=self._price
            )
        )

    def tool_call(self, name: str, arguments: Any = None) -> ToolCall:
        """A context manager around a tool call.

        Entering records ``tool_called``; leaving records ``tool_result`` with the value
        given to :meth:`ToolCall.set_result` and the duration, or, if the block raised,
        an ``error`` with the exception's type and message (the exception propagates).
        """
        return ToolCall(self, name, arguments)

    def llm_call(self, model: str = "", request: Any = None, *, provider: str = "") -> LLMCall:
        """A context manager around an LLM call.

        Entering records ``llm_request``; leaving records ``llm_response`` from what was
        given to :meth:`LLMCall.set_response`, with the duration, or an ``error`` if the
        block raised (the exception propagates).
        """
        return LLMCall(self, model, request, provider)

    @overload
    def tool(self, function: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def tool(self, /, *, name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
    def tool(self, function: Any = None, /, *, name: str | None = None) -> Any:
        """Decorate a sync or async function so that every call is recorded as a tool call.

        The arguments are recorded by parameter name; the return value as the result;
        an exception as an ``error`` event, then re-raised. ``name`` defaults to the
        function's name.
        """

        def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
            return _recorded(self.tool_call, target, name or target.__name__)

        return decorate if function is None else decorate(function)

    def _append(self, draft: Draft) -> Event:
        kind, payload, metadata = draft
        append = self.store.append
        try:
            return append(self.session_id, new_event(kind, payload, metadata=metadata))
        except InvalidEventError as error:
            if not payload_error(error):
                raise
        return append(self.session_id, new_event(kind, to_json(payload), metadata=metadata))


def _recorded(
    open_call: Callable[[str, Any], ToolCall], target: Callable[..., Any], name: str
) -> Callable[..., Any]:
    try:
        signature: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    if inspect.iscoroutinefunction(target):

        @functools.wraps(target)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with open_call(name, tool_arguments(signature, args, kwargs)) as call:
                return call.set_result(await target(*args, **kwargs))

        return run_async

    @functools.wraps(target)
    def run(*args: Any, **kwargs: Any) -> Any:
        with open_call(name, tool_arguments(signature, args, kwargs)) as call:
            return call.set_result(target(*args, **kwargs))

    return run


class CallScope:
    """What the tool and LLM call context managers share: timing and the outcome."""

    __slots__ = ("_started", "outcome", "started")

    def __init__(self) -> None:
        self.started: Event | None = None
        """The ``tool_called`` or ``llm_request`` event, once entered."""
        self.outcome: Event | None = None
        """The ``tool_result``, ``llm_response`` or ``error`` event, once left."""
        self._started = 0.0

    def _begin(self, event: Event) -> None:
        self.started = event
        self._started = time.perf_counter()

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000

    def _started_event(self) -> Event:
        if self.started is None:
            raise RuntimeError("the call was not entered")
        return self.started


class ToolCall(CallScope):
    """A tool call being recorded (see :meth:`Recorder.tool_call`)."""

    __slots__ = ("_recorder", "arguments", "name", "result")

    def __init__(self, recorder: Recorder, name: str, arguments: Any) -> None:
        super().__init__()
        self._recorder = recorder
        self.name = name
        self.arguments = arguments
        self.result: Any = None

    def set_result(self, result: R) -> R:
        """Set what the tool returned (recorded on leaving); returns ``result``."""
        self.result = result
        return result

    def __enter__(self) -> ToolCall:
        self._begin(self._recorder.tool_called(self.name, self.arguments))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        called = self._started_event()
        elapsed = self._elapsed_ms()
        if error is None:
            self.outcome = self._recorder.tool_result(called, self.result, duration_ms=elapsed)
        elif not isinstance(error, GeneratorExit):
            self.outcome = self._recorder.error(
                error, tool_name=self.name, cause=called, duration_ms=elapsed
            )


class LLMCall(CallScope):
    """An LLM call being recorded (see :meth:`Recorder.llm_call`)."""

    __slots__ = ("_given", "_recorder", "_response", "model", "provider", "request")

    def __init__(self, recorder: Recorder, model: str, request: Any, provider: str) -> None:
        super().__init__()
        self._recorder = recorder
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

    def __enter__(self) -> LLMCall:
        recorder = self._recorder
        self._begin(recorder.llm_request(self.model, self.request, provider=self.provider))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        request = self._started_event()
        elapsed = self._elapsed_ms()
        if error is None:
            given = {"duration_ms": elapsed, **self._given}
            self.outcome = self._recorder.llm_response(request, self._response, **given)
        elif not isinstance(error, GeneratorExit):
            self.outcome = self._recorder.error(error, cause=request, duration_ms=elapsed)
