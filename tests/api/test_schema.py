"""Schemathesis over the served OpenAPI document: generated requests to every operation, with a
token for the whole city, against the real PostgreSQL and Redis. No response may be a server
error; every response must conform to the document (status, content type, headers, schema);
requests the document calls invalid must be refused. (A request valid by the document may still
be refused where parameters constrain each other — `from` after `to` — so that check is off;
the WebSocket is tested in test_live.py.)"""

from __future__ import annotations

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api import tokens
from api.app import ApiConfig
from api.openapi import DOCUMENT
from api.server import ApiServer
from api.settings import ApiSettings
from assessment.standards import Standards

from ..conftest import REDIS_URL

schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/v1/live")


@pytest.fixture
def served(db_url, redis_client):
    with psycopg.connect(db_url) as conn:
        token = tokens.create(conn, "schemathesis", "admin", [], "test")
    server = ApiServer(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(port=0, rate_per_s=100_000))).start()
    yield server.url, {"Authorization": f"Bearer {token}"}
    server.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_fails_or_breaks_its_contract(case, served):
    url, headers = served
    case.call_and_validate(base_url=url, headers=headers, excluded_checks=[positive_data_acceptance])
