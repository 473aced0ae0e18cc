"""The ``[alerts]`` section: how long a condition must hold to open (``for_s``) and be clear to
resolve (``clear_for_s``), severities, thresholds, escalation, delivery; with overrides per
camera category, cell priority and unit kind. Typed, bounded, unknown keys rejected."""

from __future__ import annotations

from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from geofence.schedule import ScheduleError, clock_delta

from .types import DEFAULT_SEVERITY, AlertType, Severity


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FOR_S: dict[AlertType, float] = {
    AlertType.CAMERA_OFFLINE: 120, AlertType.CAMERA_LOW_FPS: 60, AlertType.CAMERA_NOT_RECORDING: 60,
    AlertType.CAMERA_STORAGE_FAULT: 60, AlertType.CHECKPOINT_UNDERSTAFFED: 300, AlertType.UNIT_OUT_OF_AREA: 300,
    AlertType.UNIT_SILENT: 60,  # a buffered batch arriving after a short outage opens nothing
}
CLEAR_FOR_S: dict[AlertType, float] = {
    AlertType.CAMERA_OFFLINE: 60, AlertType.CAMERA_FLAPPING: 600, AlertType.CAMERA_LOW_FPS: 120,
    AlertType.CAMERA_NOT_RECORDING: 120, AlertType.CAMERA_STORAGE_FAULT: 120, AlertType.CHECKPOINT_UNDERSTAFFED: 120,
}


class Override(_Section):
    """What changes for one camera category, cell priority or unit kind."""

    severity: dict[AlertType, Severity] = Field(default_factory=dict)
    for_s: dict[AlertType, float] = Field(default_factory=dict)
    clear_for_s: dict[AlertType, float] = Field(default_factory=dict)


class Webhook(_Section):
    url: str = Field(pattern=r"^https?://", description="Where alerts are POSTed as JSON")
    secret_env: str | None = Field(None, description="Environment variable holding the HMAC-SHA256 key; the "
                                                     "signature is sent in X-Pingan-Signature: sha256=<hex>")
    types: tuple[AlertType, ...] = Field((), description="Only these alert types (empty: all)")
    timeout_s: float = Field(5, gt=0, le=60)
    retries: int = Field(5, ge=0, le=20, description="Retries with exponential back-off (1 s, 2 s, 4 s …)")


class AlertSettings(_Section):
    severity: dict[AlertType, Severity] = Field(default_factory=dict, description="Severity per type (over the defaults)")
    for_s: dict[AlertType, float] = Field(default_factory=dict,
                                          description="Seconds a condition must hold before the alert opens")
    clear_for_s: dict[AlertType, float] = Field(default_factory=dict,
                                                description="Seconds a condition must be clear before it resolves")
    category: dict[str, Override] = Field(default_factory=dict, description="Overrides per camera category")
    priority: dict[str, Override] = Field(default_factory=dict, description="Overrides per cell priority (key, normal)")
    kind: dict[str, Override] = Field(default_factory=dict, description="Overrides per unit kind (foot, bike, car)")
    low_fps_ratio: float = Field(0.5, gt=0, le=1, description="fps below this share of the camera's expected fps")
    flapping_transitions: int = Field(4, ge=2, le=100, description="Status changes within flapping_window_s that "
                                                                    "make a camera flapping (not offline/online)")
    flapping_window_s: float = Field(600, gt=0, le=86_400)
    image_confirm: int = Field(2, ge=1, le=20, description="Consecutive snapshots with a fault before it opens")
    escalate_after_s: float = Field(900, gt=0, description="A critical alert unacknowledged this long is escalated")
    sweep_every_s: float = Field(2.0, gt=0, le=600, description="How often absence (silence, gaps) is swept for")
    coverage_every_s: float = Field(30, gt=0, le=3600, description="How often (in event time) coverage gaps and "
                                                                   "checkpoint staffing are judged")
    indicator_days: int = Field(1, ge=1, le=31, description="The closed city days over which each street's and "
                                "district's defence-system coverage is judged against its 90% target, as each day "
                                "closes, from the days the assessment stores (a replayed period: once, at its end)")
    indicator_wait_s: float = Field(7200, ge=0, le=86_400, description="How long (event time) after a day closes the "
                                    "indicator waits for the sweeper to store it before assessing it itself")
    team_shifts: tuple[str, ...] = Field(("00:00", "08:00", "16:00", "24:00"),
                                         description="Shift boundaries of the day (city time) for team strength")
    lateness_s: float = Field(60, ge=0, le=3600, description="Coverage and staffing are judged this far behind the "
                                                            "newest data, so that late fixes are counted")
    ingest_stall_s: float = Field(120, gt=0, description="No message for this long while devices should talk")
    ingest_lag_s: float = Field(60, gt=0, description="… or the feed this far behind")
    group_window_s: float = Field(20, ge=0, le=600, description="Camera alerts of one group (group_by) opening "
                                                               "within this are notified as one (0: each alone)")
    group_by: tuple[Literal["type", "street", "district", "category"], ...] = Field(
        ("type", "street"), description="What the camera alerts notified as one group share (empty: no grouping)")
    mqtt: bool = Field(True, description="Publish alerts to pingan/v1/alerts/{type}/{subject} (QoS 1)")
    webhooks: tuple[Webhook, ...] = ()

    @field_validator("category", "priority", "kind")
    @classmethod
    def _keys(cls, v: dict[str, Override], info) -> dict[str, Override]:
        known = {"category": {"main_street", "busy_junction", "key_department", "key_site", "perimeter_junction",
                              "other"}, "priority": {"key", "normal"}, "kind": {"foot", "bike", "car"}}[info.field_name]
        bad = sorted(set(v) - known)
        if bad:
            raise ValueError(f"unknown {info.field_name} {bad} (known: {', '.join(sorted(known))})")
        return v

    @field_validator("team_shifts")
    @classmethod
    def _quarters(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for text in v:
            try:
                delta = clock_delta(text)
            except ScheduleError as e:
                raise ValueError(str(e)) from None
            if delta.total_seconds() % 900:
                raise ValueError(f"shift boundary {text!r} is not on a quarter hour (team strength is kept per quarter hour)")
        return v

    # -- what applies to one subject ------------------------------------------------------------
    def _overrides(self, scope: Mapping[str, str]) -> list[Override]:
        out = []
        for field, table in (("category", self.category), ("priority", self.priority), ("kind", self.kind)):
            if scope.get(field) in table:
                out.append(table[scope[field]])
        return out

    def severity_of(self, t: AlertType, scope: Mapping[str, str] = {}) -> Severity:
        found = self.severity.get(t, DEFAULT_SEVERITY[t])
        for o in self._overrides(scope):
            found = o.severity.get(t, found)
        return found

    def hold_for(self, t: AlertType, scope: Mapping[str, str] = {}) -> float:
        found = self.for_s.get(t, FOR_S.get(t, 0.0))
        for o in self._overrides(scope):
            found = o.for_s.get(t, found)
        return found

    def clear_for(self, t: AlertType, scope: Mapping[str, str] = {}) -> float:
        found = self.clear_for_s.get(t, CLEAR_FOR_S.get(t, 0.0))
        for o in self._overrides(scope):
            found = o.clear_for_s.get(t, found)
        return found
