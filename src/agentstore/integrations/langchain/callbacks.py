"""What each LangChain callback records, decided once for both handlers (pure, no I/O).

A handler's callback only records: it asks :class:`Callbacks` what to record, a
:class:`Write` (a recorder method and its arguments) or nothing, makes that call on its
:class:`~agentstore.recording.Recorder` directly or on its
:class:`~agentstore.aio.AsyncRecorder` awaited, and hands the event recorded back to
:meth:`Callbacks.recorded`. So the sync and the async handler record the same events for
the same runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from uuid import UUID

from agentstore.errors import missing_extra

try:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "langchain", "agentstore.integrations.langchain") from None

from agentstore.events import Event
from agentstore.integrations.langchain.runs import (
    ModelRequest,
    NewSession,
    Runs,
    chain_name,
    chat_request,
    failed_tool,
    prompt_request,
    read_answer,
    tool_call,
    tool_output,
)
from agentstore.recording import Recorder
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.sessions import check_labels, check_name

__all__ = ["Callbacks", "Write"]


@dataclass(frozen=True, slots=True)
class Write:
    """One recorder call to make: ``recorder.<method>(*args, **kwargs)``."""

    method: str  # a method of Recorder, which AsyncRecorder has as a coroutine
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    starts: UUID | None = None  # the run whose start it records, for the run's end to answer

    @overload
    def to(self, recorder: Recorder) -> Event: ...
    @overload
    def to(self, recorder: AsyncRecorder) -> Awaitable[Event]: ...
    def to(self, recorder: Recorder | AsyncRecorder) -> Event | Awaitable[Event]:
        """Make the call on ``recorder``: the event recorded, or its awaitable if async."""
        made: Event | Awaitable[Event] = getattr(recorder, self.method)(*self.args, **self.kwargs)
        return made


class Callbacks:
    """The state of a handler and, for each LangChain callback, what it records.

    Each method is named after the callback it serves (``chat_model_start`` for
    ``on_chat_model_start``) and returns the :class:`Write` to make, or None when the
    callback records nothing. The runs it follows are kept in a :class:`Runs`, safe to
    use from several threads.

    Args:
        name: the session's name, if the handler creates it.
        labels: the session's labels, if the handler creates it.

    Raises:
        InvalidArgumentError: ``name`` or ``labels`` could not name a session.
    """

    def __init__(self, name: str, labels: Mapping[str, str] | None) -> None:
        # Checked now: found at the first event, they would fail every callback, each
        # failure only logged by LangChain, and the run would go on recording nothing.
        self._new_session = NewSession(check_name(name), dict(check_labels(labels)))
        self._runs = Runs()

    def session_to_create(self) -> NewSession | None:
        """The session to create before recording; None once it is known to exist.

        The handler sets its ``ensured`` once created (or found to exist already).
        """
        return None if self._new_session.ensured else self._new_session

    def recorded(self, write: Write, event: Event) -> None:
        """Take the event ``write`` recorded: a call's start, for its end to answer."""
        if write.starts is not None:
            self._runs.call_started(write.starts, event)

    def chat_model_start(
        self,
        serialized: Mapping[str, Any] | None,
        messages: Sequence[Sequence[BaseMessage]],
        run_id: UUID,
        metadata: Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> Write:
        """An ``llm_request`` with the model's name and the messages sent."""
        return _llm_request(chat_request(serialized, messages, metadata, options), run_id)

    def llm_start(
        self,
        serialized: Mapping[str, Any] | None,
        prompts: Sequence[str],
        run_id: UUID,
        metadata: Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> Write:
        """An ``llm_request`` with the model's name and the prompts sent."""
        return _llm_request(prompt_request(serialized, prompts, metadata, options), run_id)

    def llm_end(self, response: LLMResult, run_id: UUID) -> Write:
        """The ``llm_response`` to the run's request, with its tokens (priced when recorded)."""
        answer = read_answer(response)
        facts = {
            "content": answer.content,
            "model": answer.model,
            "tokens_in": answer.tokens_in,
            "tokens_out": answer.tokens_out,
            "cache_read_tokens": answer.cache_read_tokens,
            "cache_write_tokens": answer.cache_write_tokens,
        }
        return Write("llm_response", (self._runs.ended(run_id),), {**facts, **answer.fields})

    def llm_error(
        self, error: BaseException, run_id: UUID, parent_run_id: UUID | None
    ) -> Write | None:
        """An ``error`` answering the run's request, unless it is not to be recorded."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        return None if failure is None else _error(error, cause=failure.call)

    def tool_start(
        self,
        serialized: Mapping[str, Any] | None,
        input_str: str,
        run_id: UUID,
        inputs: Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> Write:
        """A ``tool_called`` with the tool's name and arguments."""
        call = tool_call(serialized, input_str, inputs, options)
        return Write("tool_called", (call.name, call.arguments), call.fields, starts=run_id)

    def tool_end(self, output: Any, run_id: UUID) -> Write | None:
        """The ``tool_result`` of the run's call; None if the call was not recorded."""
        called = self._runs.ended(run_id)
        if called is None:  # recording the call failed, and was reported then
            return None
        result, fields = tool_output(output)
        return Write("tool_result", (called, result), fields)

    def tool_error(
        self,
        error: BaseException,
        run_id: UUID,
        parent_run_id: UUID | None,
        options: Mapping[str, Any],
    ) -> Write | None:
        """An ``error`` answering the run's call, with the tool's name."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is None:
            return None
        return _error(error, tool_name=failed_tool(failure, options), cause=failure.call)

    def chain_start(
        self, serialized: Mapping[str, Any] | None, run_id: UUID, options: Mapping[str, Any]
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._runs.chain_started(run_id, chain_name(serialized, options))

    def chain_end(self, run_id: UUID) -> None:
        """Forget the chain; records nothing."""
        self._runs.ended(run_id)

    def chain_error(
        self, error: BaseException, run_id: UUID, parent_run_id: UUID | None
    ) -> Write | None:
        """An ``error`` naming the chain, unless a run inside it recorded it."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        return None if failure is None else _error(error, chain=failure.chain)


def _llm_request(request: ModelRequest, run_id: UUID) -> Write:
    arguments = (request.model, request.body)
    return Write("llm_request", arguments, {"provider": request.provider}, starts=run_id)


def _error(error: BaseException, **fields: Any) -> Write:
    return Write("error", (error,), fields)
