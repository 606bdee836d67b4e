"""The PostgreSQL backend, sync and async (the ``postgres`` extra: psycopg 3 and its pool).

Written once, without I/O: the schema, its migrations and the statements
(:mod:`~agentstore.backends.postgres.sql`), the values they take and give
(:mod:`~agentstore.backends.postgres.rows`) and every operation, as the queries it runs
and what their rows mean (:mod:`~agentstore.backends.postgres.operations`).
:class:`PostgresBackend` runs those queries on a connection pool,
:class:`AsyncPostgresBackend` awaits them on an async one (and pipelines the appends of
concurrent tasks); both wake watchers through ``LISTEN/NOTIFY``
(:mod:`~agentstore.backends.postgres.notify`).
"""

from agentstore.backends.postgres.async_backend import AsyncPostgresBackend
from agentstore.backends.postgres.backend import PostgresBackend
from agentstore.backends.postgres.sql import migrations

__all__ = ["AsyncPostgresBackend", "PostgresBackend", "migrations"]
