"""Image faults: a fault the diagnosis finds on ``image_confirm`` consecutive snapshots of a
camera opens; a snapshot without it clears it. Older or repeated snapshots change nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from alerts.types import AlertType

from . import Condition

IMAGE_TYPES = tuple(t for t in AlertType if t.startswith("image_"))


@dataclass
class ImageState:
    camera_id: str
    scope: Mapping[str, str] = field(default_factory=dict)
    last_ts: float = -math.inf
    streak: dict[AlertType, int] = field(default_factory=dict)
    first: dict[AlertType, float] = field(default_factory=dict)  # the first snapshot of the streak


def on_diagnosis(st: ImageState, ts: float, faults: Iterable[str], confirm: int,
                 scores: Mapping[str, float] | None = None) -> list[Condition]:
    if ts <= st.last_ts:
        return []
    st.last_ts = ts
    found = {AlertType(f) for f in faults}
    out = []
    for t in IMAGE_TYPES:
        if t in found:
            if not st.streak.get(t):
                st.first[t] = ts
            st.streak[t] = st.streak.get(t, 0) + 1
        else:
            st.streak[t] = 0
        if t in found and st.streak[t] < confirm:
            continue  # seen, not yet confirmed: no evidence either way
        active = st.streak[t] >= confirm
        out.append(Condition(t, st.camera_id, active, st.first[t] if active else ts, st.scope,
                             {"snapshots": st.streak[t], **({"scores": dict(scores)} if scores and active else {})}))
    return out
