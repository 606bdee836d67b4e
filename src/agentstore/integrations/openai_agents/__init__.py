"""The OpenAI Agents SDK on agentstore: conversations kept as events, runs recorded as events.

:class:`AgentStoreSession` is a Session of the SDK (``Runner.run(..., session=...)``) whose
history lives in an agentstore session's append-only log; :class:`AgentStoreTracingProcessor`
is a tracing processor that records what runs do (agents, model calls with tokens and cost,
tool calls, errors) as agentstore events::

    import agentstore
    from agents import Agent, Runner
    from agents.tracing import set_trace_processors
    from agentstore.integrations.openai_agents import (
        AgentStoreSession,
        AgentStoreTracingProcessor,
    )

    store = agentstore.open("./agent-data")
    set_trace_processors([AgentStoreTracingProcessor(store, session_id="support-42")])
    session = AgentStoreSession("support-42", store)
    result = await Runner.run(agent, "Where is my parcel?", session=session)
"""

from __future__ import annotations

from agentstore.integrations.openai_agents.session import (
    CONVERSATION_CLEAR,
    CONVERSATION_ITEMS,
    CONVERSATION_POP,
    AgentStoreSession,
)
from agentstore.integrations.openai_agents.tracing import (
    AGENT_END,
    AGENT_GUARDRAIL,
    AGENT_HANDOFF,
    AGENT_START,
    AgentStoreTracingProcessor,
)

__all__ = [
    "AGENT_END",
    "AGENT_GUARDRAIL",
    "AGENT_HANDOFF",
    "AGENT_START",
    "CONVERSATION_CLEAR",
    "CONVERSATION_ITEMS",
    "CONVERSATION_POP",
    "AgentStoreSession",
    "AgentStoreTracingProcessor",
]
