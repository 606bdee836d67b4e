"""Record a LangChain agent with agentstore's callback handler, then replay what it did.

Run it with ``python examples/langchain_agent.py [DIR]`` (default ``./agent-data``). It
needs no network and no API key: a scripted chat model stands in for
``ChatOpenAI(model="gpt-4o")``, asks for a real tool, then answers. Every model call and
tool call is recorded in a session, with tokens and cost, and the ``agentstore`` command
replays it.
"""

from __future__ import annotations

import subprocess
import sys

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool

import agentstore
from agentstore.integrations.langchain import AgentStoreCallbackHandler


@tool
def search_flights(route: str) -> str:
    """Find the flights on a route, cheapest first."""
    return "EW5678 64.00 EUR, LH1234 89.50 EUR"


def scripted_model() -> FakeMessagesListChatModel:
    """The replies gpt-4o would give, with the usage a provider reports."""
    ask_for_flights = AIMessage(
        "",
        tool_calls=[{"name": "search_flights", "args": {"route": "BER-MUC"}, "id": "call_1"}],
        usage_metadata={"input_tokens": 120, "output_tokens": 20, "total_tokens": 140},
        response_metadata={"model_name": "gpt-4o"},
    )
    answer = AIMessage(
        "EW5678 at 64 EUR is the cheapest.",
        usage_metadata={"input_tokens": 200, "output_tokens": 30, "total_tokens": 230},
        response_metadata={"model_name": "gpt-4o"},
    )
    return FakeMessagesListChatModel(responses=[ask_for_flights, answer])


def run_agent(question: str, config: RunnableConfig) -> str:
    """An agent's loop: call the model, run the tools it asks for, until it answers."""
    model = scripted_model()
    tools = {search_flights.name: search_flights}
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = model.invoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return reply.text
        messages.extend(
            tools[call["name"]].invoke(call, config=config) for call in reply.tool_calls
        )


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else "./agent-data"
    question = "Berlin to Munich on Friday?"
    with agentstore.open(directory) as store:
        session = store.create_session(name="langchain-flights", labels={"agent": "travel"})
        handler = AgentStoreCallbackHandler(store, session.id)
        handler.recorder.user_message(question)  # the handler's recorder writes the same log
        print(run_agent(question, {"callbacks": [handler]}))
        tokens = store.get_state(session.id).tokens
        print(f"Recorded: {tokens.input} tokens in / {tokens.output} out, ${tokens.cost_usd:.4f}")

    print(f"\n$ agentstore --store {directory} replay {session.id[:8]}", flush=True)
    command = [sys.executable, "-m", "agentstore", "--store", directory, "replay", session.id]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
