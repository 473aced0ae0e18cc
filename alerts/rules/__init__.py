"""The alert rules: pure functions of (state, event or tick, settings) → conditions, one module
per family. A condition says whether something is wrong with one subject at one moment (event
time); the lifecycle (``alerts.lifecycle``) turns conditions that hold long enough into alerts.
Nothing here does I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from alerts.types import AlertType


@dataclass(frozen=True)
class Condition:
    type: AlertType
    subject: str
    active: bool
    at: float  # active: since when it holds; inactive: when it was seen clear (event time, epoch seconds)
    scope: Mapping[str, str] = field(default_factory=dict)  # category, priority, kind, cell, street, district
    detail: Mapping[str, Any] = field(default_factory=dict)


def level(t: AlertType, subject: str, active: bool, since: float, now: float, scope: Mapping[str, str],
          detail: Mapping[str, Any] | None = None) -> Condition:
    """A condition for a level that holds (since `since`) or is clear (at `now`)."""
    return Condition(t, subject, active, since if active else now, scope, detail or {})


NOTHING_MISSED = (-math.inf, -math.inf)  # no stretch nobody was receiving


def silence_from(last: float, limit: float, missed: tuple[float, float] = NOTHING_MISSED) -> float:
    """Where the silence of a device last heard at `last` is counted from, given `missed`, the
    latest stretch in which the ingest was not receiving that has ended: from `last`, unless the
    stretch came after it while the silence was still within `limit` — then afresh from the end
    of the stretch (its messages may have been lost there: unknown is never failure). A silence
    already past the limit when the stretch began stays what it was."""
    a, b = missed
    if last >= b or last + limit < a:
        return last
    return b
