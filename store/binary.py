"""Binary COPY out of PostgreSQL straight into NumPy arrays, with no Python object per row.

A query whose columns are all fixed-width and never NULL (int4, int8, float8, bool,
timestamptz) comes back in PostgreSQL's binary COPY format as rows of one fixed size: a 16-bit
field count, then per field a 32-bit length and the big-endian value. So each block the server
sends is viewed as a structured NumPy array, and the columns are copied out of it.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import psycopg
from psycopg import sql

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_EPOCH = 946_684_800.0  # 2000-01-01 in Unix seconds: timestamptz counts microseconds from it

# PostgreSQL type → (wire dtype, output dtype)
TYPES: Mapping[str, tuple[str, str]] = {
    "int4": (">i4", "i4"),
    "int8": (">i8", "i8"),
    "float8": (">f8", "f8"),
    "bool": ("u1", "bool"),
    "timestamptz": (">i8", "f8"),  # converted to epoch seconds
}


def _row_dtype(columns: Sequence[tuple[str, str]]) -> np.dtype:
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    for name, pg in columns:
        fields += [(f"_len_{name}", ">i4"), (name, TYPES[pg][0])]
    return np.dtype(fields)


def copy_arrays(conn: psycopg.Connection, query: sql.Composable | str, params: Mapping | Sequence | None,
                columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Run `query` (its columns in the order and of the PostgreSQL types given, none NULL)
    through binary COPY and return one array per column. timestamptz comes back as epoch
    seconds (float64)."""
    dtype = _row_dtype(columns)
    size = dtype.itemsize
    parts: dict[str, list[np.ndarray]] = {name: [] for name, _ in columns}
    carry = b""
    header_done = False
    copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(query) if isinstance(query, str) else query)
    with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        for block in _blocks(copy):
            data = carry + block
            if not header_done:
                if len(data) < 19 or len(data) < 19 + int.from_bytes(data[15:19], "big"):
                    carry = data
                    continue
                if not data.startswith(_SIGNATURE):
                    raise ValueError("not a binary COPY stream")
                data = data[19 + int.from_bytes(data[15:19], "big"):]
                header_done = True
            n = len(data) // size
            if n:
                rows = np.frombuffer(data, dtype=dtype, count=n)
                if (rows["_n"] != len(columns)).any():
                    raise ValueError("binary COPY rows of another shape (a NULL value, or a column type "
                                     "other than the one declared)")
                for name, pg in columns:
                    parts[name].append(rows[name].astype(TYPES[pg][1]))
            carry = data[n * size:]
    if carry not in (b"", b"\xff\xff"):
        raise ValueError(f"binary COPY ended with {len(carry)} unparsed bytes (a NULL value?)")
    out: dict[str, np.ndarray] = {}
    for name, pg in columns:
        col = np.concatenate(parts.pop(name)) if parts[name] else np.zeros(0, TYPES[pg][1])
        if pg == "timestamptz":
            col = col / 1e6 + _PG_EPOCH
        out[name] = col
    return out


def _blocks(copy, at_least: int = 1 << 22) -> Iterable[bytes]:
    """The stream in pieces of a few MB (fewer, larger arrays than the server's blocks)."""
    buf = bytearray()
    while True:
        block = copy.read()
        if not block:
            break
        buf += block
        if len(buf) >= at_least:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def discard(conn: psycopg.Connection, query: str, params: Mapping | Sequence | None) -> int:
    """Binary COPY of `query` read and thrown away: the floor any reader of it stands on.
    Returns the bytes received."""
    total = 0
    copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(sql.SQL(query))
    with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        while block := copy.read():
            total += len(block)
    return total
