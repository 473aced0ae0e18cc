"""Alert types, one StrEnum: what rules raise, what the simulators promise in their ground truth;
their default severities, and what an alert's subject is."""

from __future__ import annotations

from enum import StrEnum


class AlertType(StrEnum):
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_FLAPPING = "camera_flapping"
    CAMERA_LOW_FPS = "camera_low_fps"
    CAMERA_NOT_RECORDING = "camera_not_recording"
    CAMERA_STORAGE_FAULT = "camera_storage_fault"
    IMAGE_BLUR = "image_blur"
    IMAGE_DARK = "image_dark"
    IMAGE_OVEREXPOSED = "image_overexposed"
    IMAGE_FROZEN = "image_frozen"
    IMAGE_OCCLUDED = "image_occluded"
    IMAGE_COLOUR_CAST = "image_colour_cast"
    IMAGE_NOISE = "image_noise"
    IMAGE_SIGNAL_LOSS = "image_signal_loss"
    IMAGE_SCENE_CHANGE = "image_scene_change"
    IMAGE_STRIPE = "image_stripe"
    IMAGE_PTZ_DRIFT = "image_ptz_drift"
    UNIT_SILENT = "unit_silent"
    UNIT_OUT_OF_AREA = "unit_out_of_area"
    TEAM_UNDER_STRENGTH = "team_under_strength"
    COVERAGE_GAP = "coverage_gap"
    BLIND_SPOT = "blind_spot"
    CHECKPOINT_UNDERSTAFFED = "checkpoint_understaffed"
    INDICATOR_BELOW_TARGET = "indicator_below_target"
    INGEST_STALLED = "ingest_stalled"


class Severity(StrEnum):
    """Ordered from the most to the least urgent."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def raised(self) -> "Severity":
        """One step more urgent (critical stays critical)."""
        return list(Severity)[max(0, self.rank - 1)]


T, S = AlertType, Severity
DEFAULT_SEVERITY: dict[AlertType, Severity] = {
    T.CAMERA_OFFLINE: S.MAJOR, T.CAMERA_FLAPPING: S.MINOR, T.CAMERA_LOW_FPS: S.WARNING,
    T.CAMERA_NOT_RECORDING: S.MAJOR, T.CAMERA_STORAGE_FAULT: S.MAJOR,
    **{t: S.MINOR for t in T if t.startswith("image_")},
    T.IMAGE_SIGNAL_LOSS: S.MAJOR,
    T.UNIT_SILENT: S.MAJOR, T.UNIT_OUT_OF_AREA: S.MINOR, T.TEAM_UNDER_STRENGTH: S.MINOR,
    T.COVERAGE_GAP: S.MAJOR, T.BLIND_SPOT: S.CRITICAL, T.CHECKPOINT_UNDERSTAFFED: S.MAJOR,
    T.INDICATOR_BELOW_TARGET: S.MINOR, T.INGEST_STALLED: S.CRITICAL,
}

SUBJECT_KIND: dict[AlertType, str] = {
    **{t: "camera" for t in T if t.startswith(("camera_", "image_"))},
    T.UNIT_SILENT: "unit", T.UNIT_OUT_OF_AREA: "unit", T.TEAM_UNDER_STRENGTH: "team",
    T.COVERAGE_GAP: "cell", T.BLIND_SPOT: "cell", T.CHECKPOINT_UNDERSTAFFED: "checkpoint",
    T.INDICATOR_BELOW_TARGET: "area", T.INGEST_STALLED: "ingest",
}
del T, S
