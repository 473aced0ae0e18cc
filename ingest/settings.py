"""The ingest's settings sections (``[mqtt]``, ``[ingest]``): typed, bounded, unknown keys
rejected. The composition root (``pingan.config``) puts them together with the others."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    url: str | None = Field(
        None, description="mqtt://user:pass@host:1883 or mqtts://…; unset runs an in-process broker"
    )
    client_id: str = Field("pingan-ingest-1", min_length=1, max_length=64,
                           description="Persistent session id; unique per worker")
    share_group: str = Field("pingan-ingest", pattern=r"^[A-Za-z0-9_.-]*$",
                             description="Shared-subscription group the workers split the load in; empty: a "
                                         "plain subscription (one worker), which a broker restart never loses")
    frigate: Literal["stats", "all", "off"] = Field(
        "stats", description="Frigate topics: frigate/stats; all of frigate/# (the rest dead-lettered); or none")
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT protocol; 3.1.1 has no shared subscriptions (single worker)")
    session_expiry_s: int = Field(86_400, ge=60, le=2**32 - 1,
                                  description="How long the broker keeps the session of a stopped worker")
    receive_maximum: int = Field(4000, ge=10, le=65_535,
                                 description="Unacked messages the broker may have in flight to a worker")
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_min_s: float = Field(0.2, gt=0, le=60)
    reconnect_max_s: float = Field(1.0, gt=0, le=3600, description="Longest wait between reconnects: a shared "
                                   "subscription a restarted broker lost is missing until the worker is back")
    embedded_port: int = Field(18830, ge=1024, le=65_535, description="Port of the in-process broker")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError("expected mqtt://[user:pass@]host[:port] or mqtts://…")
        return v

    @model_validator(mode="after")
    def _backoff(self) -> "MqttSettings":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class IngestSettings(_Section):
    batch_max_rows: int = Field(2000, ge=1, le=100_000, description="Rows per COPY batch")
    batch_max_wait_s: float = Field(0.25, gt=0, le=60, description="Longest a message waits for its batch")
    max_payload_bytes: int = Field(65_536, ge=256, description="JSON payloads larger are rejected undecoded")
    snapshot_max_bytes: int = Field(1_048_576, ge=1024, description="JPEG snapshots larger are rejected")
    snapshot_dir: Path | None = Field(None, description="Store snapshot bytes as files here instead of in the table")
    max_future_s: float = Field(300, ge=0, description="Fixes timestamped further ahead are rejected")
    max_age_s: float = Field(7 * 86_400, gt=0, description="Fixes older than this are rejected")
    max_accuracy_m: float = Field(150, gt=0, description="Fixes with worse reported accuracy are rejected")
    max_speed_mps: float = Field(70, gt=0, description="Implied speed since the unit's previous fix above this is rejected")
    duplicate_window: int = Field(512, ge=1, le=100_000, description="Recent fixes per device remembered for duplicate detection")
    auto_register: bool = Field(
        False, description="Register unknown devices instead of rejecting them (the live demo turns it on)")
    dead_letter_payload_bytes: int = Field(2048, ge=0, le=1_048_576)
    db_retry_max_s: float = Field(10, gt=0, le=600, description="Longest back-off between database retries")
    max_pending_messages: int = Field(
        8000, ge=10, le=1_000_000,
        description="Unacknowledged messages a worker holds at most; past it the broker connection is not read")
    feed_maxlen: int = Field(100_000, ge=100, description="Batches the live feed (Redis stream pingan:feed) keeps, "
                                                          "approximately; the alert service reads it")
    heartbeat_s: float = Field(10, ge=1, le=300,
                               description="How often a worker records that it is receiving (pingan.ingest_uptime)")


class WorkerSettings(Protocol):
    """What an ingest worker reads of the settings."""

    mqtt: MqttSettings
    ingest: IngestSettings
