"""Schemathesis over the served OpenAPI document: generated requests to every operation, with a
token for the whole city, against the real PostgreSQL and Redis. No response may be a server
error; every response must conform to the document (status, content type, headers, schema);
requests the document calls invalid must be refused. (A request valid by the document may still
be refused where parameters constrain each other — `from` after `to` — so that check is off;
the WebSocket is tested in test_live.py.)"""

from __future__ import annotations

import gc
import hashlib
import secrets

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api.app import ApiConfig
from api.openapi import DOCUMENT
from api.server import ApiServer
from api.settings import ApiSettings
from assessment.standards import Standards

from ..conftest import REDIS_URL

schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/v1/live")


# the test's token, known before any test runs (schemathesis applies its auth while collecting);
# each test's fresh database gets it, stored as the API stores tokens: the SHA-256 of the secret
TOKEN_ID, SECRET = secrets.token_hex(4), secrets.token_urlsafe(32)


@schema.auth(refresh_interval=None)
class Bearer:
    """The token through schemathesis's own auth, so that a negative case that drops the
    Authorization header (the document requires it) goes without it and must get 401."""

    def get(self, case, ctx):
        return f"pa_{TOKEN_ID}_{SECRET}"

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def served(db_url, redis_client):
    # what earlier tests left for the garbage collector is collected now, not in the middle of
    # Hypothesis parsing a lambda's source: a finalizer's warning formatted there re-enters
    # CPython 3.11's parser, which then fails with SystemError
    gc.collect()
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO pingan.api_token (token_id, owner, role, secret_hash, created_by) VALUES "
                     "(%s, 'schemathesis', 'admin', %s, 'test')", (TOKEN_ID, hashlib.sha256(SECRET.encode()).digest()))
    server = ApiServer(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(port=0, rate_per_s=100_000))).start()
    yield server.url
    server.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_fails_or_breaks_its_contract(case, served):
    response = case.call_and_validate(base_url=served, excluded_checks=[positive_data_acceptance])
    ANSWERED.setdefault(case.operation.label, set()).add(response.status_code)


ANSWERED: dict[str, set[int]] = {}  # operation → the statuses it answered with


def test_the_token_got_past_the_door_of_every_operation():
    """(Else every case above could have been a 401, conforming and proving nothing.)"""
    assert len(ANSWERED) >= 15, sorted(ANSWERED)
    assert [op for op, statuses in ANSWERED.items() if statuses <= {401}] == []
