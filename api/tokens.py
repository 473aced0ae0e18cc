"""Bearer tokens: ``pa_<id>_<secret>``, stored as the SHA-256 of the secret, each with a role and
the districts it may see. What each role may do is in ``ALLOWED``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

ROLES = ("command", "maintenance", "auditor", "admin")
# what a role may do beyond reading what its districts hold
ALLOWED: dict[str, frozenset[str]] = {
    "command": frozenset({"alerts:write", "silences:write"}),
    "maintenance": frozenset({"alerts:write:camera", "silences:write"}),
    "auditor": frozenset(),
    "admin": frozenset({"alerts:write", "silences:write", "tokens"}),
}


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's owner, role and districts (empty: the whole city)."""

    token_id: str
    owner: str
    role: str
    districts: frozenset[str]

    def may(self, action: str) -> bool:
        return action in ALLOWED[self.role]

    def sees(self, district: str | None) -> bool:
        return not self.districts or district in self.districts


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create(conn: psycopg.Connection, owner: str, role: str, districts: list[str], by: str) -> str:
    """A new token; its text is returned once and never stored."""
    if role not in ROLES:
        raise TokenError(f"role {role!r} is not one of {', '.join(ROLES)}")
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    conn.execute("INSERT INTO pingan.api_token (token_id, owner, role, districts, secret_hash, created_by) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", (token_id, owner, role, sorted(set(districts)), _hash(secret), by))
    return f"pa_{token_id}_{secret}"


def listing(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT token_id, owner, role, districts, created_at, created_by, revoked_at, last_used_at "
                           "FROM pingan.api_token ORDER BY created_at").fetchall()


def revoke(conn: psycopg.Connection, token_id: str) -> bool:
    return conn.execute("UPDATE pingan.api_token SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL",
                        (token_id,)).rowcount == 1


def parse(text: str) -> tuple[str, str]:
    """(token id, secret) of a token's text; TokenError when it is not one."""
    parts = text.split("_", 2)
    if len(parts) != 3 or parts[0] != "pa" or not parts[1] or not parts[2]:
        raise TokenError("not a Pingan token (pa_<id>_<secret>)")
    return parts[1], parts[2]


def verify(row: dict[str, Any] | None, secret: str) -> Principal:
    """The principal of a stored token row, if the secret is its own and it is not revoked."""
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(secret)):
        raise TokenError("unknown token")
    if row["revoked_at"] is not None:
        raise TokenError("revoked token")
    return Principal(row["token_id"], row["owner"], row["role"], frozenset(row["districts"] or ()))


def lookup(conn: psycopg.Connection, text: str) -> Principal:
    token_id, secret = parse(text)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT token_id, owner, role, districts, secret_hash, revoked_at FROM pingan.api_token "
                          "WHERE token_id = %s", (token_id,)).fetchone()
    return verify(row, secret)
