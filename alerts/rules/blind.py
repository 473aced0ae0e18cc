"""Blind spots: a key cell in a coverage gap while every key-location camera in it is down or
blind (offline, flapping, no signal, covered, frozen, dark, blown out, turned or drifted away) — no
patrol and no eyes at once. It outranks both (critical), and holds while both do."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from alerts.types import AlertType

from . import Condition

T = AlertType
BLINDING = frozenset({T.CAMERA_OFFLINE, T.CAMERA_FLAPPING, T.IMAGE_SIGNAL_LOSS, T.IMAGE_OCCLUDED, T.IMAGE_FROZEN,
                      T.IMAGE_DARK, T.IMAGE_OVEREXPOSED, T.IMAGE_SCENE_CHANGE, T.IMAGE_PTZ_DRIFT})


def blind_spots(open_alerts: Iterable[tuple[AlertType, str]], key_cameras: Mapping[str, Sequence[str]], now: float,
                scope: Mapping[str, Mapping[str, str]] = {}) -> list[Condition]:
    """key_cameras: key cell → the key-location cameras in it (cells without any are never blind spots)."""
    open_ = set(open_alerts)
    blind = {subject for t, subject in open_ if t in BLINDING}
    out = []
    for cell, cams in key_cameras.items():
        if not cams:
            continue
        active = (T.COVERAGE_GAP, cell) in open_ and all(c in blind for c in cams)
        out.append(Condition(T.BLIND_SPOT, cell, active, now, scope.get(cell, {}),
                             {"cameras": list(cams)} if active else {}))
    return out
