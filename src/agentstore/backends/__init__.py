"""Storage backends, and the resolution of a store target (a path or URL) to one."""

from __future__ import annotations

import os
import re
from typing import Any

from agentstore.backends.base import Backend, Subscription
from agentstore.backends.memory import MemoryBackend
from agentstore.errors import InvalidArgumentError

__all__ = ["Backend", "MemoryBackend", "Subscription", "open_backend"]

ACCEPTED_TARGETS = "':memory:' (in this process) or a directory path (JSONL files)"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def open_backend(target: str | os.PathLike[str], **options: Any) -> Backend:
    """Return the backend for ``target``.

    Raises:
        InvalidArgumentError: the target is not one this installation can open, or an
            option is unknown to its backend.
    """
    text = os.fspath(target) if isinstance(target, os.PathLike) else target
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"store target must be a str or path, not {type(target).__name__}"
        )
    if text == ":memory:":
        _no_options("memory", options)
        return MemoryBackend()
    if text and not _URL.match(text) and not text.startswith(":"):
        from agentstore.backends.jsonl import JsonlBackend

        try:
            return JsonlBackend(text, **options)
        except TypeError as error:  # an option JsonlBackend does not take
            raise InvalidArgumentError(f"the JSONL backend: {error}") from None
    raise InvalidArgumentError(
        f"cannot open store {text!r}: accepted targets are {ACCEPTED_TARGETS}"
    )


def _no_options(backend: str, options: dict[str, Any]) -> None:
    if options:
        names = ", ".join(sorted(options))
        raise InvalidArgumentError(f"the {backend} backend takes no option {names}")
