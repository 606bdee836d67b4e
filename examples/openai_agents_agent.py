"""An OpenAI Agents SDK agent whose memory and trace are kept in agentstore, offline.

The agent's model is the SDK's scripted model (no API key, no network): it calls a
weather tool, then answers. Its conversation is an AgentStoreSession, its run is recorded
by the tracing processor; the session is then replayed with the ``agentstore`` command::

    python examples/openai_agents_agent.py [DIRECTORY]    # default ./agent-data
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from agents import Agent, Runner, function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.tracing import set_trace_processors
from agents.usage import Usage

import agentstore
from agentstore.integrations.openai_agents import AgentStoreSession, AgentStoreTracingProcessor

SESSION = "weather-chat"


@function_tool
def get_weather(city: str) -> str:
    """Return the weather in a city.

    Args:
        city: the city's name.
    """
    return f"Sunny, 21 °C in {city}"


def scripted_model() -> ScriptedModel:
    """A model that asks for the weather in Paris, then answers; each call uses tokens."""
    usage = Usage(requests=1, input_tokens=1200, output_tokens=80, total_tokens=1280)
    return ScriptedModel(
        [
            ModelStep(output=[function_call("get_weather", {"city": "Paris"}, call_id="c1")]),
            ModelStep(output=[assistant_message("It is sunny and 21 °C in Paris.")]),
        ],
        default_usage=usage,
        emit_traces=True,  # its model calls become spans the processor records
    )


async def main(directory: str) -> None:
    with agentstore.open(directory) as store:
        # Replacing the SDK's processors also keeps traces from being sent to OpenAI.
        # The scripted model has no name: "gpt-4o" prices its tokens.
        set_trace_processors(
            [AgentStoreTracingProcessor(store, session_id=SESSION, model="gpt-4o")]
        )
        agent = Agent(name="forecaster", model=scripted_model(), tools=[get_weather])
        session = AgentStoreSession(SESSION, store)

        result = await Runner.run(agent, "What is the weather in Paris?", session=session)

        state = store.get_state(SESSION)
        print(f"Agent: {result.final_output}")
        print(
            f"Session {SESSION}: {len(await session.get_items())} conversation items, "
            f"{state.tool_calls} tool call, {state.tokens.input} tokens in / "
            f"{state.tokens.output} out, ${state.tokens.cost_usd:.4f}"
        )

    print(f"\n$ agentstore replay {SESSION}", flush=True)
    command = [sys.executable, "-m", "agentstore", "--store", directory, "replay", SESSION]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "./agent-data"))
