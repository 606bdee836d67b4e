"""LangGraph on agentstore: :class:`AgentStoreSaver`, a checkpointer over the event log.

Install with ``pip install 'agentstore[langgraph]'``::

    from agentstore.integrations.langgraph import AgentStoreSaver

    checkpointer = AgentStoreSaver.from_url("./agent-data")
    graph = builder.compile(checkpointer=checkpointer)
    graph.invoke(inputs, {"configurable": {"thread_id": "support-42"}})

How it is stored:

- One agentstore session per thread: the thread id itself when it is a valid session id,
  else ``langgraph-`` and a hash of it; the session is labelled ``source=langgraph`` and
  ``langgraph.thread_id=<thread id>``. Checkpoint namespaces live inside the session.
- A ``langgraph.checkpoint`` event per checkpoint: its namespace, id, parent, metadata,
  and either a full version (every channel value) or a delta against its parent (the
  values set, the lists extended by their new items only, the changed versions). A full
  version is written when the deltas since the last one would outweigh it (and at
  least every 64 KiB of deltas), so storage grows with the conversation, not its square,
  and reading any checkpoint is one range read of at most about twice its state.
- A ``langgraph.writes`` event per ``put_writes`` (task id, task path, the writes in
  order); ``langgraph.removed`` events for ``delete_for_runs`` and ``prune``, which hide
  checkpoints without rewriting the log, so the ones kept always read.
- Values are JSON where they are plain JSON, else LangGraph's typed bytes in base64.
- ``get_delta_channel_history`` folds the ancestors of a checkpoint from one range read
  (two when a channel's value lies before the parent's full version), with the writes
  the thread's index holds, instead of reading each ancestor in turn.
- The saver keeps, per thread, an index of its checkpoints and the latest materialized
  checkpoint of each namespace; each call reads the session's events appended since
  (by any process) first.

Limits: a thread id is at most 256 characters; one checkpoint's full version must fit
the store's ``max_payload_bytes`` (1 MiB by default: open the store with more for larger
states).
"""

from __future__ import annotations

from agentstore.integrations.langgraph.port import SOURCE_LABELS, THREAD_LABEL, session_id_of
from agentstore.integrations.langgraph.records import CHECKPOINT, REMOVED, WRITES
from agentstore.integrations.langgraph.saver import AgentStoreSaver

__all__ = [
    "CHECKPOINT",
    "REMOVED",
    "SOURCE_LABELS",
    "THREAD_LABEL",
    "WRITES",
    "AgentStoreSaver",
    "session_id_of",
]
