"""The ``[api]`` section: where the HTTP API and dashboard listen, and their limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field("127.0.0.1", description="Address the HTTP API and dashboard listen on")
    port: int = Field(8080, ge=0, le=65_535, description="Port (0: any free port)")
    max_body_bytes: int = Field(65_536, ge=1024, le=16 * 1024 * 1024, description="Larger request bodies: 413")
    rate_per_s: int = Field(50, ge=1, le=100_000, description="Requests per second per token (Redis, shared by "
                                                               "every API process); more: 429")
    live_queue: int = Field(1000, ge=10, le=1_000_000, description="Live-feed messages a WebSocket client may fall "
                                                                 "behind before it is dropped (close code 4008)")
    live_batch_s: float = Field(0.05, ge=0, le=5, description="The live feed reads the streams at most this often: "
                                                            "what came meanwhile goes to each client as one frame")
    units_fresh_s: float = Field(0.5, ge=0, le=60, description="The live units are read from Redis at most this "
                                                             "often, however many clients ask")
    stale_after_s: float = Field(300, gt=0, description="A unit with no fix for this long is shown stale")
