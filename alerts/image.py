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
from functools import lru_cache

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
    # against a reference view in the same light:
    textured_block_std: float = 4.0  # a 16×16 block of the reference with detail …
    covered_share: float = 0.45  # occluded: this share of the picture's blocks now flat where it had detail
    # or another shade …
    kept_likeness: float = 0.5  # (correlation of a block's pixels with the reference's)
    kept_light: float = 0.35  # (and their light at least this share of the reference's)
    kept_share: float = 0.05  # … while some of its detail is as it was (a dimmed picture keeps none: dark)
    dark_ratio: float = 0.23  # dark: the brightest part under this share of the reference's
    brighter_p1: float = 80.0  # overexposed: the darkest part this much brighter than the reference's …
    brighter_mean: float = 50.0  # … and the whole picture this much brighter
    blur_rise: float = 0.11  # blur: the blur effect this much above the reference's
    colour_shift: float = 35.0  # colour cast: the mean colour moved this far (CIELAB a, b) from the reference's


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
        "noise": noise_sigma(img if native is None else native), "colour_cast": float(np.hypot(a, b)), "a": a, "b": b,
        "flat_share": float(flat.mean()),
        "flat_mean": float(means[flat].mean()) if flat.any() else 0.0,
        "rest_mean": float(means[rest].mean()) if rest.any() else 0.0,
        "rest_std": float(blocks[rest].std(axis=1).mean()) if rest.any() else 0.0,
        "row_std": float(colour.std(axis=0).mean()), "col_std": float(colour.mean(axis=0).std(axis=0).mean()),
    }


def light_mode(img: np.ndarray) -> str:
    """The light a picture was taken in — ``night`` (dim), ``grey`` (an infrared frame: no colour)
    or ``colour`` — so that each is compared with a reference view taken in the same light."""
    img = cv2.resize(img, (W // 4, H // 4), interpolation=cv2.INTER_AREA)  # (the light is in the large)
    if img.min(axis=2).mean() < 25:  # (the dimmest channel: a colour cast does not light a night scene)
        return "night"
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32)
    return "grey" if float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean()) < 2.0 else "colour"


def snapshot_light(data: bytes) -> str:
    """The light mode of a snapshot (see ``light_mode``), for choosing its reference."""
    return light_mode(_decode(data))


_PREFERENCE = {"colour": ("colour", "grey", "night"), "grey": ("grey", "colour", "night"),
               "night": ("night", "grey", "colour")}


def pick_reference(references: dict[str, bytes], light: str, daylight: bool) -> bytes | None:
    """Which of a camera's reference views (one per light mode) a snapshot in `light` is judged
    against: the one in the same light — except that a dim picture in broad daylight is judged
    against the day view (it is a dark picture, not a night one)."""
    order = ("colour", "grey", "night") if light == "night" and daylight else _PREFERENCE[light]
    return next((references[m] for m in order if m in references), None)


@dataclass(frozen=True)
class _Reference:
    grey: np.ndarray
    edges: np.ndarray
    block_mean: np.ndarray
    block_std: np.ndarray
    block_unit: np.ndarray  # each block centred and scaled to unit length: its pattern, whatever the light
    scores: dict[str, float]
    mode: str


@lru_cache(maxsize=256)  # a camera's reference is diagnosed against many times
def _reference(data: bytes) -> _Reference:
    img = _decode(data)
    grey = _grey(img)
    blocks = _blocks(grey.astype(np.float32))
    return _Reference(grey, _edges(grey), blocks.mean(axis=1), blocks.std(axis=1), _unit(blocks), measure(img),
                      light_mode(img))


def _unit(blocks: np.ndarray) -> np.ndarray:
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    return centred / (np.linalg.norm(centred, axis=1, keepdims=True) + 1e-6)


def _absolute(s: dict[str, float], th: Thresholds) -> set[str]:
    """The faults a snapshot shows on its own, with no same-light reference to compare with."""
    if s["flat_share"] > th.occluded_share and s["rest_std"] > th.occluded_rest_std and s["flat_mean"] < s["rest_mean"]:
        return {"image_occluded"}
    if s["p99"] < th.dark_p99:
        return {"image_dark"}
    if s["noise"] > th.noise_sigma:
        return {"image_noise"}
    if s["blur"] > th.blur_effect:
        return {"image_blur"}
    if s["colour_cast"] > th.colour_cast:
        return {"image_colour_cast"}
    return set()


def _relative(img: np.ndarray, s: dict[str, float], ref: _Reference, th: Thresholds) -> set[str]:
    """The faults a snapshot shows against the camera's healthy view in the same light: what the
    camera lost, whatever the scene is like (a night street, a soft lens, a tinted facade)."""
    r = ref.scores
    blocks = _blocks(_grey(img).astype(np.float32))
    mean, std = blocks.mean(axis=1), blocks.std(axis=1)
    if s["noise"] > th.noise_sigma:
        return {"image_noise"}
    s["colour_shift"] = float(np.hypot(s["a"] - r["a"], s["b"] - r["b"]))
    if s["colour_shift"] > th.colour_shift and s["colour_cast"] > r["colour_cast"]:
        return {"image_colour_cast"}  # (a grey occluder moves the colour too, but towards grey)
    textured = ref.block_std >= th.textured_block_std
    # covered: a block now flat that had detail, or had another shade
    covered = (std < th.occluded_block_std) & (textured | (np.abs(mean - ref.block_mean) > 6))
    # kept: a block with the detail it had, in any light, and about as bright (an occluder leaves
    # the rest of the view as it was; a dimmed picture keeps its pattern but not its light)
    kept = textured & (std >= th.textured_block_std) & ((_unit(blocks) * ref.block_unit).sum(axis=1) >= th.kept_likeness)
    s["covered_share"] = float(covered.mean())
    s["kept_share"] = float(kept.sum() / max(1, textured.sum()))
    s["kept_light"] = float(np.median((mean[kept] + 1) / (ref.block_mean[kept] + 1))) if kept.any() else 0.0
    if (s["covered_share"] >= th.covered_share and s["kept_share"] >= th.kept_share
            and s["kept_light"] >= th.kept_light and s["flat_share"] >= th.occluded_share):
        return {"image_occluded"}
    s["p99_ratio"] = (s["p99"] + 1) / (r["p99"] + 1)
    if s["p99_ratio"] < th.dark_ratio:
        return {"image_dark"}
    s["blur_rise"] = s["blur"] - r["blur"]
    s["similarity"] = float((_edges(_grey(img)) * ref.edges).mean())
    if s["similarity"] < th.scene_similarity and s["blur_rise"] <= th.blur_rise:
        return {"image_scene_change"}  # another view: its detail is its own
    if s["blur_rise"] > th.blur_rise:
        return {"image_blur"}
    return set()


def diagnose(current: bytes, previous: bytes | None = None, reference: bytes | None = None,
             th: Thresholds = Thresholds()) -> Diagnosis:
    """The faults of a snapshot. Given the camera's reference view taken in the same light (see
    ``light_mode``), the picture is judged against it; else on its own."""
    img, native = _decode(current, native=True)
    s = measure(img, native)
    done = lambda f: Diagnosis(frozenset(f), {k: round(v, 3) for k, v in s.items()})  # noqa: E731
    ref = _reference(reference) if reference is not None else None
    blank = s["spread"] <= th.blank_spread and (s["p99"] == 0 or s["mean"] >= th.dark_p99 / 3)
    bars = s["row_std"] < th.bars_row_std and s["col_std"] > th.bars_col_std
    washed_out = s["p1"] > th.washed_out_p1 and s["mean"] > th.washed_out_mean and s["colour_cast"] <= th.colour_cast
    if ref is not None:  # (brighter than its reference in any light: a night picture never is)
        r = ref.scores
        washed_out |= (s["p1"] > max(th.washed_out_p1, r["p1"] + th.brighter_p1)
                       and s["mean"] > r["mean"] + th.brighter_mean)
    faults: set[str] = set()
    if s["bright_share"] > th.overexposed_share or washed_out:  # (a bright, strongly tinted picture is a cast)
        faults.add("image_overexposed")
    elif blank or bars:
        return done({"image_signal_loss"})
    grey = _grey(img)
    if previous is not None and not faults:
        prev = _grey(_decode(previous))
        diff = cv2.absdiff(cv2.GaussianBlur(grey, (5, 5), 0), cv2.GaussianBlur(prev, (5, 5), 0))
        s["change"] = float((diff > max(3.0, th.frozen_level * s["spread"])).mean())
    # a night picture is judged against a night reference only (against a day view it is all dark)
    comparable = ref is not None and (ref.mode == "night" or light_mode(img) != "night")
    if not faults:
        faults = _relative(img, s, ref, th) if comparable else _absolute(s, th)
    if "change" in s and s["change"] < th.frozen_share and not faults & {"image_dark", "image_overexposed"}:
        faults.add("image_frozen")  # (no picture to see move)
    if ref is not None and not faults and "similarity" not in s:
        s["similarity"] = float((_edges(grey) * ref.edges).mean())
        if s["similarity"] < th.scene_similarity:
            faults.add("image_scene_change")
    return done(faults)
