"""Alert types, one StrEnum: what rules raise, what the simulators promise in their ground truth."""

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
    UNIT_SILENT = "unit_silent"
    COVERAGE_GAP = "coverage_gap"
    CHECKPOINT_UNDERSTAFFED = "checkpoint_understaffed"
