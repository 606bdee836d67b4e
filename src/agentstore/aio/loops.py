"""Calling an AsyncStore from another event loop than the one it was opened on.

An AsyncStore's futures belong to its loop (:attr:`agentstore.aio.AsyncStore.loop`), so
code running on another loop (a framework's, a thread's) hands the store's coroutines to
that loop and awaits their results; its own loop keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["on_loop", "running_loop"]

_T = TypeVar("_T")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def on_loop(
    loop: asyncio.AbstractEventLoop,
    work: Coroutine[Any, Any, _T],
    *,
    fix: str,
    timeout: float | None = None,
) -> _T:
    """Run ``work`` on ``loop``, an AsyncStore's, and await its result from this loop.

    Args:
        loop: the event loop the store belongs to.
        work: the coroutine to run there (closed unrun if it cannot be).
        fix: what the caller should do instead, for the errors below.
        timeout: the longest wait, in seconds (None: no limit). A loop blocked by the
            very call that led here never gets to ``work``: giving up beats hanging.

    Raises:
        RuntimeError: ``loop`` is not running, so it would never run ``work``; or it did
            not finish ``work`` within ``timeout``.
    """
    if not loop.is_running():
        work.close()
        raise RuntimeError(f"the AsyncStore's event loop is not running: {fix}")
    future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise RuntimeError(
            f"the AsyncStore's event loop did not finish the call in {timeout:g} s: {fix}"
        ) from None
