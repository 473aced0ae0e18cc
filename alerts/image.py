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
    blank_spread: float = 2.0  # grey levels between the 1st and 99th percentile of a blank screen (a black
    # one is black: a picture with a level or two of signal left is dark)
    bars_row_std: float = 4.0  # colour bars: columns constant from top to bottom …
    bars_col_std: float = 30.0  # … and very different from each other
    dark_p99: float = 45.0
    overexposed_share: float = 0.45  # of pixels at 245 or more; or washed out: no dark pixels at all …
    washed_out_p1: float = 100.0
    washed_out_mean: float = 140.0  # … and bright on average
    occluded_share: float = 0.5  # of 16×16 blocks flat (std < occluded_block_std) and dim (mean < 100) …
    occluded_rest_std: float = 5.0  # … while the rest of the picture has texture (else it is just dark) …
    occluder_spread: float = 12.0  # … and those flat blocks are of one shade (one thing covers the lens)
    occluded_block_std: float = 3.0
    blur_effect: float = 0.25  # Crété-Roffet blur effect: 0 sharp … 1 no detail a blur could remove
    noise_sigma: float = 9.0
    colour_cast: float = 28.0  # chroma of the mean colour in CIELAB (0 = neutral)
    frozen_level: float = 0.05  # a pixel changed since the previous snapshot (after a 5×5 blur) by more than
    # this share of the picture's grey-level spread (at least 3 levels) …
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


def blur_effect(grey: np.ndarray, h: int = 11) -> float:
    """The Crété-Roffet blur effect: how much of the picture's detail a further blur would remove
    (0: all of it, a sharp picture; near 1: none, it is blurred already). Independent of the
    picture's contrast and content, unlike a Laplacian threshold."""
    g = grey.astype(np.float32)
    out = []
    for axis, ksize in ((0, (1, h)), (1, (h, 1))):  # vertical differences against a vertical blur, and across
        blurred = cv2.blur(g, ksize)  # (ksize is width × height)
        d = np.abs(np.diff(g, axis=axis))
        db = np.abs(np.diff(blurred, axis=axis))
        total = float(d.sum())
        out.append(1.0 if total == 0 else 1.0 - float(np.maximum(0.0, d - db).sum()) / total)
    return max(out)


def measure(img: np.ndarray, native: np.ndarray | None = None) -> dict[str, float]:
    grey = _grey(img)
    g = grey.astype(np.float32)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    a, b = float(lab[:, 1].mean() - 128), float(lab[:, 2].mean() - 128)
    blocks = _blocks(g)
    means = blocks.mean(axis=1)
    flat = (blocks.std(axis=1) < Thresholds.occluded_block_std) & (means < 100)
    if flat.any():  # one thing covering the lens is one shade: only the flat blocks of the commonest shade
        flat &= np.abs(means - np.median(means[flat])) < Thresholds.occluder_spread
    rest = ~flat
    colour = img.astype(np.float32)
    p1, p99 = np.percentile(g, [1, 99])
    return {
        "mean": float(g.mean()), "std": float(g.std()), "p99": float(p99), "p1": float(p1), "spread": float(p99 - p1),
        "bright_share": float((g >= 245).mean()), "blur": blur_effect(grey),
        "noise": noise_sigma(img if native is None else native), "colour_cast": float(np.hypot(a, b)),
        "flat_share": float(flat.mean()),
        "flat_mean": float(means[flat].mean()) if flat.any() else 0.0,
        "rest_mean": float(means[rest].mean()) if rest.any() else 0.0,
        "rest_std": float(blocks[rest].std(axis=1).mean()) if rest.any() else 0.0,
        "row_std": float(colour.std(axis=0).mean()), "col_std": float(colour.mean(axis=0).std(axis=0).mean()),
    }


def diagnose(current: bytes, previous: bytes | None = None, reference: bytes | None = None,
             th: Thresholds = Thresholds()) -> Diagnosis:
    img, native = _decode(current, native=True)
    s = measure(img, native)
    faults: set[str] = set()
    blank = s["spread"] <= th.blank_spread and (s["p99"] == 0 or s["mean"] >= th.dark_p99 / 3)
    bars = s["row_std"] < th.bars_row_std and s["col_std"] > th.bars_col_std
    washed_out = s["p1"] > th.washed_out_p1 and s["mean"] > th.washed_out_mean and s["colour_cast"] <= th.colour_cast
    if s["bright_share"] > th.overexposed_share or washed_out:  # (a bright, strongly tinted picture is a cast)
        faults.add("image_overexposed")
    elif blank or bars:
        return Diagnosis(frozenset({"image_signal_loss"}), {k: round(v, 3) for k, v in s.items()})
    elif (s["flat_share"] > th.occluded_share and s["rest_std"] > th.occluded_rest_std
          and s["flat_mean"] < s["rest_mean"]):
        faults.add("image_occluded")
    elif s["p99"] < th.dark_p99:
        faults.add("image_dark")
    elif s["noise"] > th.noise_sigma:
        faults.add("image_noise")
    elif s["blur"] > th.blur_effect:
        faults.add("image_blur")
    if not faults and s["colour_cast"] > th.colour_cast:
        faults.add("image_colour_cast")
    grey = _grey(img)
    if previous is not None and not faults & {"image_dark", "image_overexposed"}:  # no picture to see move
        prev = _grey(_decode(previous))
        diff = cv2.absdiff(cv2.GaussianBlur(grey, (5, 5), 0), cv2.GaussianBlur(prev, (5, 5), 0))
        s["change"] = float((diff > max(3.0, th.frozen_level * s["spread"])).mean())
        if s["change"] < th.frozen_share:
            faults.add("image_frozen")
    if reference is not None and not faults:
        ref = _grey(_decode(reference))
        sim = float((_edges(grey) * _edges(ref)).mean())
        s["similarity"] = sim
        if sim < th.scene_similarity:
            faults.add("image_scene_change")
    return Diagnosis(frozenset(faults), {k: round(v, 3) for k, v in s.items()})
