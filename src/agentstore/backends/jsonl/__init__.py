"""The JSONL directory backend: the default store, human-readable and durable.

:class:`JsonlBackend` (:mod:`~agentstore.backends.jsonl.backend`) keeps each session in
files of the seed library's layout; the modules beside it hold the parts: the file layer
(``files``), one session's log with its group commit (``log``, ``commit``), the pure
parsing of a log's tail (``tail``), the line checks of ``verify`` (``checks``) and the
polling of watches (``watch``).
"""

from agentstore.backends.jsonl.backend import JsonlBackend

__all__ = ["JsonlBackend"]
