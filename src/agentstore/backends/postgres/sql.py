"""The PostgreSQL backend's SQL: its queries and its ordered migrations.

``{s}`` stands for the schema's name, filled in (quoted) by the backend.
"""

from __future__ import annotations

import re

from agentstore.errors import InvalidArgumentError

__all__ = ["APPEND_FUNCTION", "check_options", "migrations"]

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,40}")

GET_SESSION = """SELECT id, name, labels, created_at, parent_id, forked_at_seq, last_seq,
    updated_at FROM {s}.sessions WHERE id = %s"""
LIST_SESSIONS = """SELECT id, name, labels, created_at, parent_id, forked_at_seq, last_seq,
    updated_at FROM {s}.sessions WHERE labels @> %s
    ORDER BY created_at DESC, created_order DESC LIMIT %s OFFSET %s"""
LOCK_SESSION = """SELECT last_seq, coalesce(updated_at, created_at) FROM {s}.sessions
    WHERE id = %s FOR UPDATE"""
LOCK_SESSION_RECORD = """SELECT id, name, labels, created_at, parent_id, forked_at_seq,
    last_seq, updated_at FROM {s}.sessions WHERE id = %s FOR UPDATE"""
UPDATE_SESSION = "UPDATE {s}.sessions SET name = %s, labels = %s WHERE id = %s"
# The session's row first: its lock makes appends under way finish, and later ones wait,
# then find no session; the events deleted next include every one committed before.
DELETE_SESSION = """DELETE FROM {s}.sessions WHERE id = %s RETURNING id, name, labels,
    created_at, parent_id, forked_at_seq, last_seq, updated_at"""
DELETE_EVENTS = "DELETE FROM {s}.events WHERE session_id = %s"
DELETE_SNAPSHOT = "DELETE FROM {s}.snapshots WHERE session_id = %s"
APPEND = "SELECT * FROM {s}.append_events(%s, %s::bigint, %s, %s, %s::json[], %s::json[], %s)"
ADVANCE_SESSION = "UPDATE {s}.sessions SET last_seq = %s, updated_at = %s WHERE id = %s"
# Events: payload and metadata as their text, parsed by the reader (rows.py): psycopg's
# json loader makes a Python call per value; fetching text and parsing it costs a third less.
READ_EVENTS = """SELECT session_id, seq, id, type, payload::text, timestamp, metadata::text,
    {nanos} FROM {s}.events WHERE session_id = %s AND seq >= %s AND seq <= %s ORDER BY seq"""
CREATE_SESSION = """INSERT INTO {s}.sessions (id, name, labels, created_at, parent_id,
    forked_at_seq, last_seq, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO NOTHING RETURNING 1"""
LAST_SEQ = "SELECT last_seq FROM {s}.sessions WHERE id = %s"
SESSION_EXISTS = "SELECT 1 FROM {s}.sessions WHERE id = %s"
INSERT_EVENTS = """INSERT INTO {s}.events (session_id, seq, id, type, payload, timestamp,
    metadata, nanos) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"""
READ_SNAPSHOT = """SELECT session_id, version, reducer, state, created_at FROM {s}.snapshots
    WHERE session_id = %s"""
WRITE_SNAPSHOT = """INSERT INTO {s}.snapshots VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (session_id) DO UPDATE SET version = excluded.version,
    reducer = excluded.reducer, state = excluded.state, created_at = excluded.created_at
    WHERE excluded.version > snapshots.version"""
NOTIFY = "SELECT pg_notify(%s, %s)"
# Migrating: one migrator at a time, across processes and hosts (the lock is the
# channel's hash); then the schema and its version table, the version, each step.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {s}"
CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer)"
SCHEMA_VERSION = "SELECT max(version) FROM {s}.schema_version"
RECORD_VERSION = "INSERT INTO {s}.schema_version VALUES (%s)"
# Opening read-only: which of the schema and its tables exist, without touching them.
STORE_TABLES = """SELECT to_regnamespace(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL,
    to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL"""
EVENTS_BY_ID = """SELECT session_id, seq, id, type, payload::text, timestamp, metadata::text,
    {nanos} FROM {s}.events WHERE session_id = %s AND id = ANY(%s)"""


def check_options(schema: object, partitions: object) -> None:
    """Raise InvalidArgumentError unless ``schema`` and ``partitions`` are acceptable."""
    if not isinstance(schema, str) or _SCHEMA.fullmatch(schema) is None:
        raise InvalidArgumentError(
            f"schema must be 1-41 characters of a-z 0-9 _, not starting with a digit: {schema!r}"
        )
    if type(partitions) is not int or not 0 <= partitions <= 1024:
        raise InvalidArgumentError(f"partitions must be an int from 0 to 1024: {partitions!r}")


# The version whose migration added ``events.nanos``: reads of an older schema, which a
# read-only store does not migrate, select 0 in its place (``{nanos}`` in the statements).
NANOS_SINCE = 3


def migrations(partitions: int) -> list[list[str]]:
    """The schema's migrations, in order; ``{s}`` stands for the schema's name."""
    events = """CREATE TABLE {s}.events (
            session_id text NOT NULL,
            seq integer NOT NULL,
            position bigserial,
            id text NOT NULL,
            type text NOT NULL,
            payload json NOT NULL,
            timestamp timestamptz NOT NULL,
            metadata json NOT NULL,
            PRIMARY KEY (session_id, seq),
            UNIQUE (session_id, id)
        )"""
    if partitions:
        events += " PARTITION BY HASH (session_id)"
    first = [
        """CREATE TABLE {s}.sessions (
            id text PRIMARY KEY,
            name text NOT NULL,
            labels jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            parent_id text,
            forked_at_seq integer,
            last_seq integer NOT NULL DEFAULT 0,
            updated_at timestamptz,
            created_order bigserial
        )""",
        "CREATE INDEX sessions_newest ON {s}.sessions (created_at DESC, created_order DESC)",
        "CREATE INDEX sessions_labels ON {s}.sessions USING gin (labels jsonb_path_ops)",
        events,
        *(
            f"CREATE TABLE {{s}}.events_{n} PARTITION OF {{s}}.events "
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {n})"
            for n in range(partitions)
        ),
        "CREATE INDEX events_position ON {s}.events (position)",
        """CREATE TABLE {s}.snapshots (
            session_id text PRIMARY KEY,
            version integer NOT NULL,
            reducer text NOT NULL,
            state json NOT NULL,
            created_at timestamptz NOT NULL
        )""",
    ]
    # 3: the nanoseconds of a time beyond its microsecond (timestamptz keeps microseconds),
    # as another program wrote it; the store's own times have none.
    nanoseconds = ["ALTER TABLE {s}.events ADD COLUMN nanos smallint NOT NULL DEFAULT 0"]
    return [first, [APPEND_FUNCTION], nanoseconds]


# The append in one round trip: the sequencing rules of agentstore.core.sequencing, in SQL,
# under the session's row lock. Known ids come back marked and write nothing; a stale
# expected seq raises SQLSTATE AS001 with the last seq in its detail.
APPEND_FUNCTION = """CREATE FUNCTION {s}.append_events(
        p_session text, p_expected bigint, p_ids text[], p_types text[],
        p_payloads json[], p_metadata json[], p_channel text)
    RETURNS TABLE (o_index integer, o_seq integer, o_at timestamptz, o_known boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_last integer;
        v_time timestamptz;
        v_found integer;
        v_now timestamptz;
        v_new integer;
    BEGIN
        SELECT s.last_seq, coalesce(s.updated_at, s.created_at) INTO v_last, v_time
            FROM {s}.sessions s WHERE s.id = p_session FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'session not found' USING ERRCODE = 'AS002';
        END IF;
        SELECT count(*) INTO v_found FROM {s}.events e
            WHERE e.session_id = p_session AND e.id = ANY(p_ids);
        v_new := cardinality(p_ids) - v_found;
        IF v_new > 0 AND p_expected IS NOT NULL AND p_expected <> v_last THEN
            RAISE EXCEPTION 'stale expected seq' USING ERRCODE = 'AS001', DETAIL = v_last;
        END IF;
        v_now := greatest(date_trunc('microseconds', clock_timestamp()), v_time);
        RETURN QUERY WITH given AS (
            SELECT u.ord::integer AS g_index, u.id AS g_id, u.kind, u.payload, u.meta,
                (k.id IS NOT NULL) AS g_known
            FROM unnest(p_ids, p_types, p_payloads, p_metadata)
                WITH ORDINALITY AS u(id, kind, payload, meta, ord)
            LEFT JOIN {s}.events k ON k.session_id = p_session AND k.id = u.id
        ), numbered AS (
            SELECT g.*, CASE WHEN g.g_known THEN NULL
                ELSE v_last + (count(*) FILTER (WHERE NOT g.g_known)
                               OVER (ORDER BY g.g_index))::integer END AS g_seq
            FROM given g
        ), inserted AS (
            INSERT INTO {s}.events (session_id, seq, id, type, payload, timestamp, metadata)
            SELECT p_session, n.g_seq, n.g_id, n.kind, n.payload, v_now, n.meta
            FROM numbered n WHERE NOT n.g_known
            RETURNING 1
        )
        SELECT n.g_index, n.g_seq, v_now, n.g_known FROM numbered n ORDER BY n.g_index;
        IF v_new > 0 THEN
            UPDATE {s}.sessions SET last_seq = v_last + v_new, updated_at = v_now
                WHERE id = p_session;
            PERFORM pg_notify(
                p_channel, (v_last + 1) || ' ' || (v_last + v_new) || ' ' || p_session);
        END IF;
    END $$"""
