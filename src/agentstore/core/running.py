"""Running a store flow to completion in the caller's thread, without an event loop.

The store's multi-step operations are written once, as coroutines over an
:class:`~agentstore.backends.base.AsyncBackend`. The sync store awaits only a
:class:`~agentstore.backends.adapters.DirectBackend`, whose coroutines return at once, so
its flows never suspend: one ``send`` runs them from start to end, and the sync face pays
a coroutine object per operation instead of a second copy of the flow. A flow that yields
as it goes (an async generator) is iterated the same way, a step at a time (:func:`iterate`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["iterate", "run"]

_Result = TypeVar("_Result")


def run(flow: Coroutine[Any, Any, _Result]) -> _Result:
    """Run ``flow``, which must never wait, and return its result (or raise its error).

    Raises:
        RuntimeError: ``flow`` waited for something, which only an event loop could give.
    """
    try:
        flow.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    flow.close()
    raise RuntimeError("a sync store operation waited on an event loop; its backend is async")


def iterate(flow: AsyncGenerator[_Result, None]) -> Iterator[_Result]:
    """Yield what ``flow``, an async generator that never waits, yields, each step :func:`run`.

    ``flow`` is closed when the iteration ends, also when it is left early.
    """
    try:
        while True:
            try:
                item = run(flow.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        run(flow.aclose())
