"""The PostgreSQL backend, sync and async (the ``postgres`` extra: psycopg 3 and its pool).

The schema and its migrations, the statements (:mod:`~agentstore.backends.postgres.sql`)
and the values they take and give (:mod:`~agentstore.backends.postgres.rows`) are shared;
:class:`PostgresBackend` runs them on a connection pool, :class:`AsyncPostgresBackend` on
an async one, and both wake watchers through ``LISTEN/NOTIFY``
(:mod:`~agentstore.backends.postgres.notify`).
"""

from agentstore.backends.postgres.async_backend import AsyncPostgresBackend
from agentstore.backends.postgres.backend import PostgresBackend
from agentstore.backends.postgres.sql import migrations

__all__ = ["AsyncPostgresBackend", "PostgresBackend", "migrations"]
