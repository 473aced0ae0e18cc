"""The defence-system coverage indicator of streets and districts against its target.

An area is below target when its covered share of the window would stay under the target even
if all of its unknown share had been covered: what is unknown (a silent unit, the ingest down) is
not a shortfall of the area's own — that is ``unit_silent`` or ``ingest_stalled`` — and is never
counted as covered either. The shares are the assessment's own (``assessment.defence``), so the
alert says what ``pingan coverage`` says for the same window.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from alerts.types import AlertType
from geofence.coverage import LevelCoverage

from . import Condition


def judge(areas: Iterable[LevelCoverage], target: float, start: float, at: float,
          scope: Mapping[str, Mapping[str, str]] = {}) -> list[Condition]:
    """One condition per area: below `target` over the window [start, at) or not (as at `at`)."""
    out = []
    for a in areas:
        below = a.covered + a.unknown < target
        out.append(Condition(AlertType.INDICATOR_BELOW_TARGET, a.area_id, below, at, scope.get(a.area_id, {}),
                             {"level": str(a.level), "covered": round(a.covered, 4), "unknown": round(a.unknown, 4),
                              "not_covered": round(a.not_covered, 4), "target": target, "from": start, "to": at}
                             if below else {}))
    return out
