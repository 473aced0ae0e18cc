"""The ingest itself: stalled when no message has come for ``ingest_stall_s`` while devices
should be talking, or when the live feed runs more than ``ingest_lag_s`` behind. Judged on the
wall clock (the only rule that is): it is about the pipeline, not the city."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.types import AlertType

from . import Condition, level


@dataclass
class FeedState:
    last_arrival: float | None = None  # wall clock: when the latest feed entry was read
    lag_s: float = 0.0  # how far behind the newest entry was committed when it was read
    expecting: bool = False  # some device is expected to talk (a camera reporting, a unit on duty)


def on_tick(st: FeedState, wall: float, stall_s: float, lag_s: float) -> list[Condition]:
    quiet = st.last_arrival is not None and wall - st.last_arrival > stall_s and st.expecting
    behind = st.lag_s > lag_s
    since = (st.last_arrival + stall_s) if quiet else wall
    return [level(AlertType.INGEST_STALLED, "ingest", quiet or behind, since, wall, {},
                  {"quiet_s": None if st.last_arrival is None else round(wall - st.last_arrival, 1),
                   "lag_s": round(st.lag_s, 1)})]
