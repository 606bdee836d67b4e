"""Storage backends: the contract (:mod:`~agentstore.backends.base`), one module or package
per backend, their async faces (:mod:`~agentstore.backends.adapters`) and the resolution
of a store target to one (:mod:`~agentstore.backends.targets`)."""

from agentstore.backends.base import AsyncBackend, Backend, Subscription
from agentstore.backends.memory import MemoryBackend
from agentstore.backends.targets import (
    is_postgres_url,
    local_path,
    open_backend,
    postgres_url_options,
)

__all__ = [
    "AsyncBackend",
    "Backend",
    "MemoryBackend",
    "Subscription",
    "is_postgres_url",
    "local_path",
    "open_backend",
    "postgres_url_options",
]
