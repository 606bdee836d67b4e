"""The OpenTelemetry GenAI semantic conventions agentstore speaks, as constants.

The GenAI names of ``opentelemetry-semantic-conventions`` are marked deprecated while they
move to a package of their own, so agentstore keeps the ones it uses here. How a session
and its events map to a trace and its spans (the same mapping both ways: exporting a
session, and recording the spans of an instrumented agent):

=====================================  ==============================================
agentstore                             OpenTelemetry
=====================================  ==============================================
a session                              one trace; its root span ``invoke_agent {name}``
                                       (``gen_ai.conversation.id`` = the session id)
``llm_request`` + ``llm_response``     a ``chat {model}`` span (kind CLIENT): provider,
                                       request and response model, usage tokens (cache
                                       reads and writes too); the messages only with
                                       content (``gen_ai.input.messages``,
                                       ``gen_ai.output.messages``, JSON strings)
``tool_called`` + ``tool_result``      an ``execute_tool {tool}`` span (kind INTERNAL):
                                       ``gen_ai.tool.name``, ``gen_ai.tool.call.id``;
                                       arguments and result only with content
``error``                              the status ERROR of the span it belongs to (its
                                       tool's, else the root) and an ``exception`` event
any other event                        an event of the root span, named by its type,
                                       with ``agentstore.*`` attributes
=====================================  ==============================================

Times are the events' own: a call's span starts at its request (or its result's time
less its ``duration_ms``) and ends at its answer; the answer's own ``duration_ms`` travels
as ``agentstore.duration_ms``, so a session exported and recorded back keeps it.
"""

from __future__ import annotations

__all__ = [
    "AGENT_NAME",
    "CACHE_READ_TOKENS",
    "CACHE_WRITE_TOKENS",
    "CHAT",
    "CONVERSATION_ID",
    "ERROR_TYPE",
    "EXCEPTION",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_TYPE",
    "EXECUTE_TOOL",
    "INPUT_MESSAGES",
    "INPUT_TOKENS",
    "INVOKE_AGENT",
    "OPERATION_NAME",
    "OUTPUT_MESSAGES",
    "OUTPUT_TOKENS",
    "PROVIDER_NAME",
    "REQUEST_MODEL",
    "RESPONSE_ID",
    "RESPONSE_MODEL",
    "SYSTEM",
    "TOOL_CALL_ARGUMENTS",
    "TOOL_CALL_ID",
    "TOOL_CALL_RESULT",
    "TOOL_NAME",
    "TOOL_TYPE",
]

# Operations (``gen_ai.operation.name``), which start their spans' names.
OPERATION_NAME = "gen_ai.operation.name"
INVOKE_AGENT = "invoke_agent"
CHAT = "chat"
EXECUTE_TOOL = "execute_tool"

# The conversation and the agent.
CONVERSATION_ID = "gen_ai.conversation.id"
AGENT_NAME = "gen_ai.agent.name"

# Model calls.
PROVIDER_NAME = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the provider's former name, still sent by some instrumentations
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"  # content: sent only when asked
OUTPUT_MESSAGES = "gen_ai.output.messages"  # content: sent only when asked

# Tool calls.
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # content: sent only when asked
TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # content: sent only when asked

# Errors.
ERROR_TYPE = "error.type"
EXCEPTION = "exception"  # the name of a span event that records one
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
