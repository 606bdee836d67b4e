"""agentstore on asyncio: the store's operations as coroutines that never block the loop.

::

    import asyncio

    import agentstore.aio
    from agentstore import EventType, new_event

    async def main() -> None:
        async with agentstore.aio.open("./agent-data") as store:
            session = await store.create_session(name="flight-search")
            await store.append(session.id, new_event(EventType.USER_MESSAGE, {"text": "hi"}))
            print((await store.get_state(session.id)).event_count)

    asyncio.run(main())

The in-memory store is called directly on the loop; the JSONL and SQLite stores do their
file and database work in worker threads, where concurrent appends share fsyncs;
PostgreSQL stores use psycopg's async connections, and their watches are woken by
``LISTEN/NOTIFY``.
"""

from agentstore.aio.feeds import AsyncWatch
from agentstore.aio.opening import Opening, open  # noqa: A004 - as agentstore.open
from agentstore.aio.store import AsyncStore
from agentstore.backends.base import AsyncBackend
from agentstore.recording.async_recorder import AsyncRecorder

__all__ = ["AsyncBackend", "AsyncRecorder", "AsyncStore", "AsyncWatch", "Opening", "open"]
