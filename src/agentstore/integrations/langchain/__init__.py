"""Record LangChain runs into an agentstore session, through LangChain's callbacks.

Pass a handler in a run's config, and the model calls, tool calls and failures of that
run, and of every run it starts, become events of one session::

    import agentstore
    from agentstore.integrations.langchain import AgentStoreCallbackHandler

    with agentstore.open("./agent-data") as store:
        handler = AgentStoreCallbackHandler(store, "support-chat-42")
        answer = model.invoke("Where is my parcel?", config={"callbacks": [handler]})

What each callback records (``cause_id``, in the metadata, is the id of the event answered):

- ``on_chat_model_start``, ``on_llm_start``: ``llm_request`` ``{"model", "request":
  {"messages": [{"role", "content", ...}]}}`` (or ``{"prompts": [...]}``), with the model
  and provider (LangChain's ``ls_model_name`` and ``ls_provider``) in its metadata;
- ``on_llm_end``: ``llm_response`` ``{"content", "tool_calls"?}``, with the model that
  answered, the tokens (cache reads and writes too) from the message's ``usage_metadata``
  or ``llm_output["token_usage"]``, the duration and the cost, priced from the tokens;
  ``cause_id`` is its request;
- ``on_tool_start``: ``tool_called`` ``{"tool", "arguments", "tool_call_id"?}``;
- ``on_tool_end``: ``tool_result`` ``{"tool", "result"}`` with the duration; ``cause_id``
  is its call;
- ``on_llm_error``, ``on_tool_error``: ``error`` ``{"error", "error_type", "tool"?}``,
  ``cause_id`` the call that failed;
- ``on_chain_error``: ``error`` ``{"error", "error_type", "chain"}``.

An exception is recorded once, where it was raised, not again by each chain it passes
through on its way out. Chain starts and ends are not recorded: every step of a
``RunnableSequence`` is a chain, and their plumbing would drown the agent's own steps.
LangGraph's interrupts (``GraphBubbleUp``) are control flow, not errors, and are skipped.

The handler records into the session it is given, and creates it (with ``name`` and
``labels``) at the first event if it does not exist, so a conversation's id can be
passed from the first turn on. If recording fails, LangChain logs the error and the run
goes on, as it does for every handler; ``raise_error=True`` fails the run instead.
"""

from __future__ import annotations

from agentstore.integrations.langchain.handlers import (
    AgentStoreCallbackHandler,
    AsyncAgentStoreCallbackHandler,
)

__all__ = ["AgentStoreCallbackHandler", "AsyncAgentStoreCallbackHandler"]
