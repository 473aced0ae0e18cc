"""PostgreSQL/TimescaleDB: migrations, batched idempotent writes, registry tables."""

from __future__ import annotations

import contextlib

import psycopg


def close_quietly(conn: psycopg.Connection | None) -> None:
    """Close a connection that may already be broken (closing one may fail too)."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()
