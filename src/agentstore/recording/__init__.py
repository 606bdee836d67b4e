"""Recording an agent's work: the recorders, and the drafts, usage and prices they use.

:class:`Recorder` (and :class:`~agentstore.aio.AsyncRecorder`, its async face) appends a
session's messages, plans, tool calls and LLM calls in one line each. What they append is
drafted by pure functions: the events' shapes (:mod:`~agentstore.recording.drafts`), the
calls they time (:mod:`~agentstore.recording.calls`), the tokens read from an LLM's
response (:mod:`~agentstore.recording.usage`) and the price of a call
(:mod:`~agentstore.recording.pricing`).
"""

from agentstore.recording.calls import CallScope
from agentstore.recording.drafts import CALLER, UNKNOWN_USAGE, to_json
from agentstore.recording.recorder import LLMCall, Recorder, ToolCall

__all__ = ["CALLER", "UNKNOWN_USAGE", "CallScope", "LLMCall", "Recorder", "ToolCall", "to_json"]
