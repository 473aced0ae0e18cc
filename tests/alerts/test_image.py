"""Image diagnostics on pictures whose answer is plain by construction (and the command line)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from alerts.image import diagnose, pick_reference, snapshot_light
from ingest.decode import exif_time
from simulators.fleet import with_exif_time


def scene(seed: int = 1, w: int = 704, h: int = 576) -> np.ndarray:
    """A street-like picture: sky, blocks of buildings with windows, a road, sensor grain."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (200, 170, 140)
    img[h // 2:] = (80, 80, 80)
    x = 0
    while x < w:
        bw, bh = int(rng.integers(60, 140)), int(rng.integers(80, 220))
        cv2.rectangle(img, (x, h // 2 - bh), (x + bw, h // 2 + 20), tuple(int(v) for v in rng.integers(40, 200, 3)), -1)
        for wy in range(h // 2 - bh + 10, h // 2, 24):
            for wx in range(x + 8, x + bw - 12, 20):
                cv2.rectangle(img, (wx, wy), (wx + 8, wy + 12), (230, 230, 170), -1)
        x += bw + 6
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, q: int = 85) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()


def jpeg_decoded(img: np.ndarray, q: int = 85) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg(img, q), np.uint8), cv2.IMREAD_COLOR)


def clock(img: np.ndarray, text: str) -> np.ndarray:
    """The camera's OSD clock written over the top left corner."""
    out = img.copy()
    cv2.putText(out, text, (16, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return out


def faults(img, previous=None, reference=None) -> set[str]:
    return set(diagnose(jpeg(img), None if previous is None else jpeg(previous),
                        None if reference is None else jpeg(reference)).faults)


def test_plain_cases():
    s = scene()
    # the same street a moment later: a car has come by, and the sensor's grain is new
    later = s.copy()
    cv2.rectangle(later, (300, 470), (380, 500), (230, 230, 230), -1)
    later = np.clip(later + np.random.default_rng(2).normal(0, 3, s.shape), 0, 255).astype(np.uint8)
    assert faults(s, later, s) == set()
    grey = cv2.cvtColor(cv2.cvtColor(s, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert faults(grey) == set()  # a greyscale (infrared) frame is healthy: no colour, no cast
    blue = np.zeros_like(s)
    blue[:] = (255, 0, 0)
    assert faults(blue) == {"image_signal_loss"}
    assert faults(np.zeros_like(s)) == {"image_signal_loss"}
    bars = np.zeros_like(s)
    for k, colour in enumerate([(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255),
                                (0, 0, 255), (255, 0, 0), (0, 0, 0)]):
        bars[:, k * 88:(k + 1) * 88] = colour
    assert faults(bars) == {"image_signal_loss"}
    assert faults(cv2.GaussianBlur(s, (31, 31), 12)) == {"image_blur"}
    assert faults((s * 0.05).astype(np.uint8)) == {"image_dark"}
    assert faults(np.clip(s.astype(int) * 3 + 150, 0, 255).astype(np.uint8)) == {"image_overexposed"}
    covered = s.copy()
    covered[int(576 * 0.3):] = 12  # something dark over the lower 70 %: sky and rooftops still in view
    assert faults(covered) == {"image_occluded"}
    green = s.astype(int)
    green[:, :, 1] += 100
    assert faults(np.clip(green, 0, 255).astype(np.uint8)) == {"image_colour_cast"}
    noisy = np.clip(s + np.random.default_rng(3).normal(0, 50, s.shape), 0, 255).astype(np.uint8)
    assert faults(noisy) == {"image_noise"}
    # frozen: the same frame sent again, whether re-encoded or not; a static scene is not frozen
    assert diagnose(jpeg(s), jpeg(s)).faults == {"image_frozen"}
    assert diagnose(jpeg(jpeg_decoded(s)), jpeg(s)).faults == {"image_frozen"}
    static = [np.clip(scene(seed=1).astype(int) + np.random.default_rng(k).normal(0, 1.5, s.shape), 0, 255)
              .astype(np.uint8) for k in (4, 5)]  # nothing moved; only the sensor's noise differs
    assert diagnose(jpeg(static[0]), jpeg(static[1])).faults == frozenset()
    # the camera turned: another view against the reference; the same view darker is no change
    turned = scene(seed=9)
    assert faults(turned, np.clip(turned.astype(int) + 40, 0, 255).astype(np.uint8), s) == {"image_scene_change"}
    assert faults((s * 0.6).astype(np.uint8), later, s) == set()


def night(img: np.ndarray, seed: int = 0) -> np.ndarray:
    """The street at night: a tenth of the light, its lit windows (the brightest parts) still lit,
    and the sensor's grain of that moment."""
    lit = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 200
    out = img * 0.1
    out[lit] = img[lit]
    return np.clip(out + np.random.default_rng(seed).normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)


def test_against_the_reference_in_the_same_light():
    s = scene()
    for x in range(40, 704, 90):  # street lamps along the road
        cv2.circle(s, (x, 470 + x % 60), 9, (240, 240, 225), -1)
    dark_street, its_reference = night(s, 1), night(s, 2)
    assert snapshot_light(jpeg(dark_street)) == "night" and snapshot_light(jpeg(s)) == "colour"
    grey = cv2.cvtColor(cv2.cvtColor(s, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert snapshot_light(jpeg(grey)) == "grey"
    # a night street with its lamps lit is healthy, on its own and against the camera's night view
    assert faults(dark_street) == set()
    assert faults(dark_street, None, its_reference) == set()
    covered = dark_street.copy()
    covered[: int(576 * 0.75)] = 15  # a bag over the upper three quarters: the windows gone, the lamps on the road as they were
    assert faults(covered, None, its_reference) == {"image_occluded"}
    dimmed = (dark_street * 0.08).astype(np.uint8)  # the whole picture, windows too, a twelfth as bright
    assert faults(dimmed, None, its_reference) == {"image_dark"}
    assert faults(cv2.GaussianBlur(dark_street, (31, 31), 12), None, its_reference) == {"image_blur"}
    # a tinted view is no cast against its own reference; a cast is a change of colour
    warm = np.clip(s.astype(int) + (-40, 10, 90), 0, 255).astype(np.uint8)
    assert faults(warm) == {"image_colour_cast"}  # (on its own: strongly tinted)
    assert faults(warm, None, warm) == set()
    green = warm.astype(int)
    green[:, :, 1] += 90
    assert faults(np.clip(green, 0, 255).astype(np.uint8), None, warm) == {"image_colour_cast"}


def test_which_reference_a_snapshot_is_judged_against():
    refs = {"colour": b"day", "night": b"night", "grey": b"infrared"}
    assert pick_reference(refs, "colour", daylight=True) == b"day"
    assert pick_reference(refs, "grey", daylight=False) == b"infrared"
    assert pick_reference(refs, "night", daylight=False) == b"night"
    assert pick_reference(refs, "night", daylight=True) == b"day"  # dim at noon: a dark picture
    assert pick_reference({"grey": b"infrared"}, "night", daylight=False) == b"infrared"
    assert pick_reference({}, "colour", daylight=True) is None


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="not a decodable image"):
        diagnose(b"\xff\xd8 not really")


def test_snapshot_time_from_its_exif():
    stamped = with_exif_time(jpeg(scene()), 1_796_000_000.0)
    assert exif_time(stamped) == 1_796_000_000.0
    assert exif_time(jpeg(scene())) is None
    assert diagnose(stamped).faults == frozenset()


def test_the_command_line(tmp_path):
    (tmp_path / "ok.jpg").write_bytes(jpeg(scene()))
    (tmp_path / "dark.jpg").write_bytes(jpeg((scene() * 0.05).astype(np.uint8)))
    run = [sys.executable, "-m", "pingan.cli", "diagnose"]
    ok = subprocess.run([*run, str(tmp_path / "ok.jpg")], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "healthy" in ok.stdout
    dark = subprocess.run([*run, str(tmp_path / "dark.jpg"), "--json"], capture_output=True, text=True, timeout=60)
    assert dark.returncode == 1 and json.loads(dark.stdout)["faults"] == ["image_dark"]
    assert json.loads(dark.stdout)["scores"]["p99"] < 45
    missing = subprocess.run([*run, str(tmp_path / "nope.jpg")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "nope.jpg" in missing.stderr


def test_what_real_cameras_show():
    """Faults the way cameras show them: a recorder's "no video" screen with its text, a frozen
    picture whose OSD clock ticks on, interference bars, a camera that drifted off its preset,
    and healthy pictures a sloppy rule would call faulty."""
    s = scene()
    for colour in ((160, 40, 0), (0, 0, 0), (96, 96, 96)):  # blue, black, grey, each with the recorder's message
        screen = np.zeros_like(s)
        screen[:] = colour
        cv2.putText(screen, "NO VIDEO", (220, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3)
        assert faults(clock(screen, "2026-12-04 09:00:05")) == {"image_signal_loss"}
    # a dark street is a picture, not a black screen: its noise is still there
    dim = np.clip(s * 0.04 + np.random.default_rng(6).normal(0, 2, s.shape), 0, 255).astype(np.uint8)
    assert faults(dim) == {"image_dark"}
    frame = np.clip(s + np.random.default_rng(7).normal(0, 2, s.shape), 0, 255).astype(np.uint8)
    assert diagnose(jpeg(clock(frame, "09:05:00")), jpeg(clock(frame, "09:00:00"))).faults == {"image_frozen"}
    rows = np.arange(576)[:, None, None]
    barred = np.clip(s + 25 * np.sin(2 * np.pi * rows / 40.0), 0, 255).astype(np.uint8)
    assert faults(barred, None, s) == {"image_stripe"}
    wide = cv2.resize(scene(seed=3, w=880, h=576), (880, 576))
    preset, drifted = wide[:, 88:792], wide[:, 0:704]  # the same street, the view panned by an eighth
    assert faults(drifted, None, preset) == {"image_ptz_drift"}
    assert faults(preset, None, preset) == set()
    # the light changed (a cloud passed): the same view, brighter, is healthy against its reference
    assert faults(np.clip(s * 1.3, 0, 255).astype(np.uint8), None, s) == set()


def test_a_camera_is_judged_against_its_own_normal():
    """A camera whose healthy pictures are always this noisy (an old sensor at night) is not noisy
    against its own normal; the same picture from a camera with a clean normal is."""
    from alerts.image import History

    grainy = np.clip(scene() + np.random.default_rng(8).normal(0, 14, (576, 704, 3)), 0, 255).astype(np.uint8)
    d = diagnose(jpeg(grainy))
    assert d.faults == {"image_noise"}
    history = History()
    for k in range(history.least):
        history.add("colour", d.scores)
    assert diagnose(jpeg(grainy), normal=history.normal("colour")).faults == frozenset()
    assert diagnose(jpeg(grainy), normal={"noise": 1.0}).faults == {"image_noise"}
    # and a camera whose healthy pairs are always this still (nothing moves, strong denoising) is never called frozen
    assert diagnose(jpeg(scene()), jpeg(scene()), normal={"still": 1.0}).faults == frozenset()


def test_thresholds_come_from_the_calibration(tmp_path):
    """Every threshold the diagnosis uses is in the committed calibration output, which names the
    set it was set on (not the evaluation sets)."""
    from dataclasses import fields

    from alerts.image import THRESHOLDS_FILE, Thresholds

    written = json.loads(THRESHOLDS_FILE.read_text())
    assert {f.name for f in fields(Thresholds)} == set(written["thresholds"])
    assert "seed 3" in written["set"] and "seed 11" not in written["set"]
    assert Thresholds.load() != Thresholds()  # (the placeholders are not what runs)
    with pytest.raises(FileNotFoundError, match="calibrated image thresholds are missing"):
        Thresholds.load(tmp_path / "vqd_thresholds.json")  # (never the placeholders instead)
