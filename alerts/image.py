"""Video-quality diagnosis (VQD) of one camera snapshot, with OpenCV.

``diagnose(current, previous, reference)`` measures the snapshot (and, when given, its change
from the camera's previous snapshot and its likeness to the camera's reference view) and names
the faults it finds, each an ``image_*`` alert type:

- ``signal_loss``: a blank screen (blue, black, one colour) or colour bars — no picture at all;
- ``dark``: even the brightest part of the picture is dim (a night scene with street lights is
  not dark: its lights are bright);
- ``overexposed``: most of the picture is blown out to white;
- ``occluded``: most of the picture is covered by one featureless dark or flat patch;
- ``blur``: almost no fine detail for the picture's contrast;
- ``noise``: strong pixel-level noise (estimated from the median absolute deviation of the
  finest detail);
- ``colour_cast``: the average colour is far from neutral (greyscale infrared frames are neutral);
- ``frozen``: nothing in the picture has changed since the previous snapshot (beyond what
  re-encoding does); a live street camera sees something move between snapshots (traffic,
  people, light) — a view where nothing at all moves looks frozen to two snapshots;
- ``scene_change``: the picture's structure no longer matches the reference view (the camera
  was turned or moved); judged on edge maps, so day, night and exposure do not matter.

Scores are returned with the faults so that a maintainer sees why. The thresholds were set on
the simulators' images and checked on images they have not seen (``bench/vqd.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

W, H = 320, 240  # everything is measured at this size: the snapshot's resolution does not matter


@dataclass(frozen=True)
class Thresholds:
    blank_spread: float = 2.0  # grey levels between the 1st and 99th percentile of a blank screen
    bars_row_std: float = 4.0  # colour bars: columns constant from top to bottom …
    bars_col_std: float = 30.0  # … and very different from each other
    dark_p99: float = 45.0
    overexposed_share: float = 0.45  # of pixels at 245 or more; or washed out: no dark pixels at all …
    washed_out_p1: float = 110.0
    washed_out_mean: float = 180.0  # … and bright on average
    occluded_share: float = 0.5  # of 16×16 blocks flat (std < occluded_block_std) and dim (mean < 100) …
    occluded_rest_std: float = 5.0  # … while the rest of the picture has texture (else it is just dark) …
    occluder_spread: float = 12.0  # … and those flat blocks are of one shade (one thing covers the lens)
    occluded_block_std: float = 3.0
    blur_sharpness: float = 0.08  # Laplacian variance / (grey variance), on a 3×3-median-filtered frame
    noise_sigma: float = 9.0
    colour_cast: float = 28.0  # chroma of the mean colour in CIELAB (0 = neutral)
    frozen_level: float = 10.0  # a pixel changed since the previous snapshot (after a 5×5 blur) by more …
    frozen_share: float = 0.002  # … on less than this share of the picture: nothing moved (re-encoding moves less)
    scene_similarity: float = 0.75  # correlation of edge maps with the reference view


@dataclass(frozen=True)
class Diagnosis:
    faults: frozenset[str]
    scores: dict[str, float] = field(default_factory=dict)


def _decode(data: bytes, native: bool = False):
    """The image at W×H (and, with native, as decoded: for the noise, which scaling averages
    away). A large JPEG is decoded at half size straight from its DCT (a third of the work), a
    small one in full."""
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2)
    if img is not None and (img.shape[1] < W or img.shape[0] < H):
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    small = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    return (small, img) if native else small


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _edges(grey: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    mag = cv2.resize(mag, (W // 4, H // 4), interpolation=cv2.INTER_AREA)
    return (mag - mag.mean()) / (mag.std() + 1e-6)


def _blocks(a: np.ndarray) -> np.ndarray:
    """16×16 blocks, one per row."""
    return a.reshape(H // 16, 16, W // 16, 16).swapaxes(1, 2).reshape(-1, 256)


def noise_sigma(img: np.ndarray) -> float:
    """The pixel noise: the robust spread (MAD) of what a 3×3 median takes away."""
    grey = _grey(img)
    detail = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32)
    return float(1.4826 * np.median(np.abs(detail - np.median(detail))))


def measure(img: np.ndarray, native: np.ndarray | None = None) -> dict[str, float]:
    grey = _grey(img)
    g = grey.astype(np.float32)
    std = float(g.std())
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    a, b = float(lab[:, 1].mean() - 128), float(lab[:, 2].mean() - 128)
    noise = noise_sigma(img if native is None else native)
    smooth = cv2.medianBlur(grey, 5)
    lap = cv2.Laplacian(smooth, cv2.CV_32F)
    sharp = float(lap.var() / (smooth.astype(np.float32).var() + 1.0))
    blocks = _blocks(g)
    flat = (blocks.std(axis=1) < Thresholds.occluded_block_std) & (blocks.mean(axis=1) < 100)
    if flat.any():  # one thing covering the lens is one shade: only the flat blocks of the commonest shade
        means = blocks.mean(axis=1)
        flat &= np.abs(means - np.median(means[flat])) < Thresholds.occluder_spread
    rest_lap, rest_px = _blocks(lap)[~flat], _blocks(smooth.astype(np.float32))[~flat]
    rest_sharp = float(rest_lap.var() / (rest_px.var() + 1.0)) if (~flat).any() else 0.0
    colour = img.astype(np.float32)
    return {
        "mean": float(g.mean()), "std": std, "p99": float(np.percentile(g, 99)),
        "p1": float(np.percentile(g, 1)), "spread": float(np.percentile(g, 99) - np.percentile(g, 1)),
        "rest_std": float(blocks[~flat].std(axis=1).mean()) if (~flat).any() else 0.0, "rest_sharpness": rest_sharp,
        "bright_share": float((g >= 245).mean()), "sharpness": sharp, "noise": noise,
        "colour_cast": float(np.hypot(a, b)), "flat_share": float(flat.mean()),
        "row_std": float(colour.std(axis=0).mean()), "col_std": float(colour.mean(axis=0).std(axis=0).mean()),
    }


def diagnose(current: bytes, previous: bytes | None = None, reference: bytes | None = None,
             th: Thresholds = Thresholds()) -> Diagnosis:
    img, native = _decode(current, native=True)
    s = measure(img, native)
    faults: set[str] = set()
    blank = s["spread"] <= th.blank_spread
    bars = s["row_std"] < th.bars_row_std and s["col_std"] > th.bars_col_std
    if s["bright_share"] > th.overexposed_share or (s["p1"] > th.washed_out_p1 and s["mean"] > th.washed_out_mean):
        faults.add("image_overexposed")
    elif blank or bars:
        return Diagnosis(frozenset({"image_signal_loss"}), {k: round(v, 3) for k, v in s.items()})
    elif (s["flat_share"] > th.occluded_share and s["rest_std"] > th.occluded_rest_std
          and s["rest_sharpness"] >= th.blur_sharpness):
        faults.add("image_occluded")
    elif s["p99"] < th.dark_p99:
        faults.add("image_dark")
    elif s["sharpness"] < th.blur_sharpness and s["noise"] <= th.noise_sigma:
        faults.add("image_blur")
    elif s["noise"] > th.noise_sigma:
        faults.add("image_noise")
    if not faults and s["colour_cast"] > th.colour_cast:
        faults.add("image_colour_cast")
    grey = _grey(img)
    if previous is not None and not faults & {"image_dark", "image_overexposed"}:  # no picture to see move
        prev = _grey(_decode(previous))
        diff = cv2.absdiff(cv2.GaussianBlur(grey, (5, 5), 0), cv2.GaussianBlur(prev, (5, 5), 0))
        s["change"] = float((diff > th.frozen_level).mean())
        if s["change"] < th.frozen_share:
            faults.add("image_frozen")
    if reference is not None and not faults:
        ref = _grey(_decode(reference))
        sim = float((_edges(grey) * _edges(ref)).mean())
        s["similarity"] = sim
        if sim < th.scene_similarity:
            faults.add("image_scene_change")
    return Diagnosis(frozenset(faults), {k: round(v, 3) for k, v in s.items()})
