"""PostgreSQL/TimescaleDB: migrations, batched idempotent writes, registry tables."""

from __future__ import annotations

import psycopg


def close_quietly(conn: psycopg.Connection | None) -> None:
    """Close a connection that may already be broken (closing one may fail too)."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # a broken connection's close: nothing left to do
            pass
