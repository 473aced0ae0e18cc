"""Structured logs: one JSON object per line, with the topic and device as fields."""

from __future__ import annotations

import json
import logging

from pingan.logs import JsonFormatter
from store.records import Message
from tests.ingest.test_decode_properties import NOW, make_pipeline


def test_rejects_are_logged_as_json_with_topic_device_and_reason():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("ingest.pipeline")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        make_pipeline(False).process(Message("pingan/v1/patrol/u1/gps", b'{"ts": 1, "lat": 0, "lon": 0}', NOW))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    (line,) = [JsonFormatter().format(r) for r in records]
    doc = json.loads(line)
    assert doc["level"] == "debug" and doc["logger"] == "ingest.pipeline"
    assert (doc["topic"], doc["device"], doc["reason"]) == ("pingan/v1/patrol/u1/gps", "u1", "stale_timestamp")
    assert doc["ts"].endswith("Z") and "stale_timestamp" in doc["msg"]
