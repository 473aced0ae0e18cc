"""A scratch database for a benchmark: on PINGAN_DATABASE_URL's server, else the embedded one."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def scratch_database(name: str) -> tuple[str, str]:
    """(admin url, url of a fresh database `name`)."""
    url = os.environ.get("PINGAN_DATABASE_URL")
    if url is None:
        from pingan.config import Settings
        from pingan.services import embedded_database

        url = embedded_database(Settings().database.data_dir)
    admin = make_conninfo(url, dbname=conninfo_to_dict(url).get("dbname") or "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin, make_conninfo(url, dbname=name)


def drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
