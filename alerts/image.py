"""Video-quality diagnosis (VQD) of one camera snapshot, with OpenCV.

``diagnose(current, previous, reference, normal)`` measures the snapshot — on its own, against
the camera's previous snapshot, against its reference view in the same light and against its own
normal (``History``: the range of its recent healthy snapshots) — and names the faults it finds,
each an ``image_*`` alert type:

- ``signal_loss``: a blank screen (blue, black, one colour; a recorder's "no video" text on it
  does not make it a picture) or colour bars;
- ``dark``: even the brightest part of the picture is dim (a night street with lamps is not);
- ``overexposed``: most of the picture blown out to white, or washed out;
- ``occluded``: one featureless patch over most of the view while the rest is as it was;
- ``blur``: the fine detail gone (the Crété-Roffet blur effect, against the camera's own);
- ``noise``: strong pixel noise (beyond the camera's own normal in that light);
- ``colour_cast``: the colour moved far from neutral, or from the reference's;
- ``stripe``: interference — bars added across the whole width since the reference view, in
  step (or slanted alike) from edge to edge (a street's rows of windows are not added);
- ``frozen``: the same frame again: outside a small overlay (a ticking clock), every block of the
  picture is what it was to a grey level or two, as no live sensor's noise allows (a static scene
  still changes by its noise; a camera whose healthy pairs look that still cannot be judged frozen);
- ``ptz_drift``: the reference view, moved — the camera panned or tilted with no preset asked;
- ``scene_change``: the picture's structure no longer matches the reference view at any shift.

Measuring (``measure``, threshold-free and the costly part) is separate from judging (``judge``,
cheap), so that ``bench/calibrate_vqd.py`` sets every threshold in ``Thresholds`` from a
calibration set, written to ``vqd_thresholds.json`` beside this module; the evaluation sets in
``bench/vqd.py`` never set one. The scores are returned with the faults so a maintainer sees why.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

W, H = 320, 240  # everything is measured at this size: the snapshot's resolution does not matter
# measuring, not judging (fixed, not calibrated):
FLAT_STD = 3.0  # a 16×16 block this flat has no detail
TEXTURED_STD = 4.0  # a block with detail
OCCLUDER_SPREAD = 12.0  # the flat blocks of one occluder are within this many levels of each other
STILL_LEVELS = 2  # a block is unchanged when no pixel moved by more than this (re-encoding the same frame)
STRIPS = 8  # the picture's width in strips, for interference in step across it
OSD_BAND = 16  # rows at the top and the bottom where cameras write their OSD (clock, name): left out of what
# judges the view's parts (its blocks, its lit parts), which the OSD's text would otherwise keep lit and textured
KEPT_LIKENESS = 0.5  # a block keeps the reference's detail: its pixels correlate this well with the reference's
THRESHOLDS_FILE = Path(__file__).with_name("vqd_thresholds.json")


@dataclass(frozen=True)
class Thresholds:
    """Where a score becomes a fault. Defaults are placeholders; ``load()`` reads the calibrated
    values (``bench/calibrate_vqd.py``)."""
    blank_share: float = 0.9  # signal loss: this share of the picture at exactly one grey level …
    blank_level: float = 15.0  # … which is black (0 or 1) or at least this (a dark picture is not a screen) …
    blank_near: float = 0.05  # … with at most this share of the picture a few levels from it (a picture's noise)
    bars_row_std: float = 4.0  # colour bars: columns constant from top to bottom …
    bars_col_std: float = 30.0  # … and very different from each other
    dark_p99: float = 45.0  # (of the picture's brightest parts, after a 5×5 median: an OSD's text is not lit)
    overexposed_share: float = 0.45  # of pixels at 245 or more; or washed out: no dark pixels at all …
    washed_out_p1: float = 100.0
    washed_out_mean: float = 140.0  # … and bright on average
    occluded_share: float = 0.5  # of 16×16 blocks flat, dim and of one shade …
    occluded_rest_std: float = 5.0  # … while the rest of the picture has texture (else it is just dark)
    blur_effect: float = 0.25  # Crété-Roffet blur effect: 0 sharp … 1 no detail a blur could remove
    noise_sigma: float = 9.0
    noise_ratio: float = 1.8  # … and this many times the camera's normal noise in that light
    colour_cast: float = 28.0  # chroma of the mean colour in CIELAB (0 = neutral)
    # stripes, against a reference only (a street's rows of windows are bars too, until compared):
    stripe_change_coherence: float = 0.8  # what changed from the reference: its strongest row frequency this
    # much alike in every strip …
    stripe_change_amplitude: float = 6.0  # … and at least this many grey levels
    frozen_still: float = 0.97  # share of blocks unchanged since the previous snapshot …
    frozen_margin: float = 0.02  # … and above the camera's normal by this much
    scene_similarity: float = 0.5  # correlation of edge maps with the reference view
    layout_similarity: float = 0.7  # … and of the picture in the large (a blurred view keeps it; another view not)
    other_view_layout: float = 0.4  # a picture keeping less of its reference's layout than this is another view,
    # not the reference darkened, noised or striped
    ptz_shift: float = 0.04  # the view moved by this share of the picture or more …
    ptz_response: float = 0.15  # … and matches the reference at that shift (phase correlation's peak)
    covered_share: float = 0.45  # occluded against a reference: this share of the blocks with detail now flat …
    kept_light: float = 0.35  # (the blocks that kept their detail at least this share of the reference's light)
    kept_share: float = 0.05  # … while some of its detail is as it was (a dimmed picture keeps none: dark)
    mostly_kept: float = 0.7  # a view unlike its reference with this share of its detail as it was is itself
    # (in other light); with this share of what is not covered, occluded:
    partly_kept: float = 0.25
    dark_ratio: float = 0.23  # dark: the brightest part under this share of the reference's
    brighter_p1: float = 80.0  # overexposed: the darkest part this much brighter than the reference's
    blur_rise: float = 0.11  # blur: the blur effect this much above the reference's (or the normal)
    balance_shift: float = 0.3  # colour cast: the ratios of the colour channels moved this far (log) from the reference's

    @classmethod
    def load(cls, path: Path = THRESHOLDS_FILE) -> Thresholds:
        """The calibrated thresholds (a missing file is an installation fault, not a reason to
        diagnose with placeholders)."""
        if not path.exists():
            raise FileNotFoundError(f"{path}: the calibrated image thresholds are missing "
                                    "(written by bench/calibrate_vqd.py, shipped with the package)")
        values = json.loads(path.read_text())["thresholds"]
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in values.items() if k in known})


@lru_cache(maxsize=1)
def calibrated() -> Thresholds:
    return Thresholds.load()


@dataclass(frozen=True)
class Diagnosis:
    faults: frozenset[str]
    scores: dict[str, float] = field(default_factory=dict)


# -- measuring -----------------------------------------------------------------------------------
@lru_cache(maxsize=8)  # a snapshot is decoded once: for its light, its diagnosis, and as the next one's previous
def _decode(data: bytes) -> np.ndarray:
    """The image as decoded for measuring (read-only: it is shared): a large JPEG at half size
    straight from its DCT (a third of the work), a small one in full."""
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2)
    if img is not None and (img.shape[1] < W or img.shape[0] < H):
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    img.flags.writeable = False
    return img


def _small(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _view(a: np.ndarray) -> np.ndarray:
    """The picture between its OSD bands."""
    return a[OSD_BAND:H - OSD_BAND]


def _edges(grey: np.ndarray) -> np.ndarray:
    """The view's edges (between the OSD bands), in the large, standardised."""
    g = cv2.GaussianBlur(_view(grey), (5, 5), 0).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    mag = cv2.resize(mag, (W // 4, (H - 2 * OSD_BAND) // 4), interpolation=cv2.INTER_AREA)
    return (mag - mag.mean()) / (mag.std() + 1e-6)


def _blocks(a: np.ndarray, size: int = 16) -> np.ndarray:
    """size×size blocks, one per row (the picture cut to whole blocks)."""
    h, w = a.shape[0] // size * size, a.shape[1] // size * size
    return a[:h, :w].reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size * size)


def _unit(blocks: np.ndarray) -> np.ndarray:
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    return centred / (np.linalg.norm(centred, axis=1, keepdims=True) + 1e-6)


def noise_sigma(img: np.ndarray) -> float:
    """The pixel noise (Immerkær's estimator, made robust with a median): the response to a mask
    that cancels every plane and edge of the picture is 6σ of Gaussian noise."""
    g = _grey(img).astype(np.float32)
    mask = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    response = np.abs(cv2.filter2D(g, -1, mask, borderType=cv2.BORDER_REFLECT)[1:-1:2, 1:-1])  # (every other row will do)
    return float(np.median(response) / (0.6745 * 6))


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


def blank(grey: np.ndarray) -> tuple[float, float, float]:
    """(the share of the picture at exactly its commonest grey level, that level, the share within
    a few levels of it). A screen with no picture is one value to the level, whatever a recorder
    writes on it (its text is far from it); a picture, even a black night, carries its sensor's
    noise: levels near its commonest."""
    counts = np.bincount(grey.ravel(), minlength=256)
    level = int(counts.argmax())
    near = counts[max(0, level - 8):level + 9].sum() - counts[level]
    return float(counts[level] / grey.size), float(level), float(near / grey.size)


def stripes(grey: np.ndarray) -> tuple[float, float]:  # (grey: or the difference of two pictures)
    """Interference bars: (how alike the row profile's strongest frequency is from each strip of
    the width to the next — 1 when every strip has it, in step or shifted alike from strip to
    strip as slanted bars are; that frequency's amplitude in grey levels). A scene's horizontal
    lines (a kerb, rows of windows) are not alike across the whole width, and a scene's profile
    falls off with frequency (the strongest is taken after whitening for that); the amplitude is
    what stands above the nearby frequencies. Periods of 4 to 60 rows at the measuring size."""
    rows = np.asarray(grey, np.float32).reshape(H, STRIPS, W // STRIPS).mean(axis=2)
    rows -= rows.mean(axis=0)
    full = np.fft.rfft(rows * np.hanning(H)[:, None], axis=0)
    lo, hi = H // 60, H // 4
    spec = full[lo:hi + 1]
    cross = spec[:, :-1] * np.conj(spec[:, 1:])  # each strip against the next
    alike = np.abs(cross.sum(axis=1))
    k = int((alike * np.arange(lo, hi + 1) ** 2).argmax())
    coherence = alike[k] / (np.abs(cross[k]).sum() + 1e-6)
    magnitude = np.abs(full).mean(axis=1)
    at = lo + k  # (a bar's frequency stands out from its neighbours on both sides; an edge's, a horizon's, does not)
    # (the level expected there from both sides, on a log scale: a scene's profile falls off steeply)
    expected = np.sqrt(np.median(magnitude[max(1, at - 6):at - 1]) * np.median(magnitude[at + 2:at + 7]))
    excess = magnitude[at] - expected
    return float(coherence), float(4 * max(0.0, excess) / H)  # (the Hann window halves the amplitude)


def _scores(img: np.ndarray, native: np.ndarray) -> dict[str, float]:
    """What a picture shows on its own."""
    grey = _grey(img)
    g = grey.astype(np.float32)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    a, b = float(lab[:, 1].mean() - 128), float(lab[:, 2].mean() - 128)
    blocks = _blocks(_view(g))
    means = blocks.mean(axis=1)
    flat = (blocks.std(axis=1) < FLAT_STD) & (means < 100)
    if flat.any():  # one thing covering the lens is one shade: only the flat blocks of the commonest shade
        flat &= np.abs(means - np.median(means[flat])) < OCCLUDER_SPREAD
    rest = ~flat
    coarse = cv2.resize(img, (W // 4, H // 4), interpolation=cv2.INTER_AREA).astype(np.float32)
    p1, p99 = _percentiles(grey, 1, 99)
    (lit,) = _percentiles(_view(cv2.medianBlur(grey, 5)), 99)  # (the brightest parts, not the OSD's thin text)
    pixels = img[::2, ::2].reshape(-1, 3).astype(np.float32)
    usable = (pixels.max(axis=1) < 240) & (pixels.min(axis=1) > 12)  # (a clipped pixel's colour is not its light's)
    logs = np.log(pixels[usable] if usable.sum() > 100 else pixels + 1.0)
    blank_share, blank_level, blank_near = blank(_grey(native))
    return {
        "mean": float(g.mean()), "std": float(g.std()), "p99": float(p99), "p1": float(p1), "spread": float(p99 - p1),
        "lit": lit, "b_g": float(np.median(logs[:, 0] - logs[:, 1])), "r_g": float(np.median(logs[:, 2] - logs[:, 1])),
        "bright_share": float((g >= 245).mean()), "blur": blur_effect(_view(grey)), "noise": noise_sigma(native),
        "colour_cast": float(np.hypot(a, b)), "a": a, "b": b,
        "blank_share": blank_share, "blank_level": blank_level,
        "blank_near": blank_near,
        "flat_share": float(flat.mean()),
        "flat_mean": float(means[flat].mean()) if flat.any() else 0.0,
        "rest_mean": float(means[rest].mean()) if rest.any() else 0.0,
        "rest_std": float(blocks[rest].std(axis=1).mean()) if rest.any() else 0.0,
        # colour bars: each column one colour from top to bottom (the robust spread: text written over them is not)
        "row_std": float(np.median(1.4826 * np.abs(coarse - np.median(coarse, axis=0)).mean(axis=2).mean(axis=0))),
        "col_std": float(coarse.mean(axis=0).std(axis=0).mean()),
    }


def _percentiles(grey: np.ndarray, *qs: float) -> list[float]:
    """Percentiles of a grey picture (from its histogram: the picture is 8-bit)."""
    cumulative = np.cumsum(np.bincount(grey.ravel(), minlength=256)) / grey.size
    return [float(np.searchsorted(cumulative, q / 100)) for q in qs]


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
    return light_mode(_small(_decode(data)))


_PREFERENCE = {"colour": ("colour", "grey", "night"), "grey": ("grey", "colour", "night"),
               "night": ("night", "grey", "colour")}


def pick_reference(references: dict[str, bytes], light: str, daylight: bool) -> bytes | None:
    """Which of a camera's reference views (one per light mode) a snapshot in `light` is judged
    against: the one in the same light — except that a dim picture in broad daylight is judged
    against the day view (it is a dark picture, not a night one)."""
    order = ("colour", "grey", "night") if light == "night" and daylight else _PREFERENCE[light]
    return next((references[m] for m in order if m in references), None)


def _layout(grey: np.ndarray) -> np.ndarray:
    """The picture in the large (20×15, standardised): where its bright and dark parts are, which a
    blur does not move and another view does."""
    g = cv2.resize(_view(grey), (W // 16, (H - 2 * OSD_BAND) // 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (g - g.mean()) / (g.std() + 1e-6)


@dataclass(frozen=True)
class _Reference:
    grey: np.ndarray
    edges: np.ndarray
    layout: np.ndarray
    block_mean: np.ndarray
    block_std: np.ndarray
    block_unit: np.ndarray  # each block centred and scaled to unit length: its pattern, whatever the light
    scores: dict[str, float]
    mode: str


@lru_cache(maxsize=256)  # a camera's reference is diagnosed against many times
def _reference(data: bytes) -> _Reference:
    native = _decode(data)
    img = _small(native)
    grey = _grey(img)
    blocks = _blocks(_view(grey).astype(np.float32))
    return _Reference(grey, _edges(grey), _layout(grey), blocks.mean(axis=1), blocks.std(axis=1), _unit(blocks),
                      _scores(img, native), light_mode(img))


def _against(img: np.ndarray, s: dict[str, float], ref: _Reference) -> None:
    """What the picture lost or changed against the camera's view in the same light."""
    r = ref.scores
    grey = _grey(img)
    blocks = _blocks(_view(grey).astype(np.float32))
    mean, std = blocks.mean(axis=1), blocks.std(axis=1)
    textured = ref.block_std >= TEXTURED_STD
    # covered: a block now flat that had detail, or had another shade
    # the view's detail gone flat, and its light with it (a blur keeps each block's light) …
    # (and not blown out: that is the light, not a thing)
    covered = (std < FLAT_STD) & textured & (np.abs(mean - ref.block_mean) > OCCLUDER_SPREAD) & (mean < 230)
    if covered.any():  # … under one shade: one thing over the lens (a blur leaves flat blocks of every shade)
        covered &= np.abs(mean - np.median(mean[covered])) < OCCLUDER_SPREAD
    # kept: a block with the detail it had, in any light (an occluder leaves the rest of the view as
    # it was; a dimmed picture keeps its pattern but not its light)
    kept = textured & (std >= TEXTURED_STD) & ((_unit(blocks) * ref.block_unit).sum(axis=1) >= KEPT_LIKENESS)
    s["covered_share"] = float(covered.sum() / max(1, textured.sum()))  # (of the blocks that had detail)
    s["kept_share"] = float(kept.sum() / max(1, textured.sum()))
    s["kept_light"] = float(np.median((mean[kept] + 1) / (ref.block_mean[kept] + 1))) if kept.any() else 0.0
    s["lit_ratio"] = (s["lit"] + 1) / (r["lit"] + 1)
    # white balance: how far the ratio of the colour channels moved (a change of light moves none)
    s["balance_shift"] = float(np.hypot(s["b_g"] - r["b_g"], s["r_g"] - r["r_g"]))
    s["ref_blur"] = r["blur"]
    s["similarity"] = float((_edges(grey) * ref.edges).mean())
    s["layout"] = float((_layout(grey) * ref.layout).mean())
    # what changed from the reference, its light matched: bars added to the picture are all of it
    g, rg = grey.astype(np.float32), ref.grey.astype(np.float32)
    s["stripe_change"], s["stripe_change_amplitude"] = stripes(g - rg * (g.mean() + 1) / (rg.mean() + 1))
    (dx, dy), response = cv2.phaseCorrelate(_view(ref.grey).astype(np.float32), _view(grey).astype(np.float32),
                                            _hann())
    s["shift"] = float(np.hypot(dx / W, dy / H))
    s["shift_response"] = float(response)


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return cv2.createHanningWindow((W, H - 2 * OSD_BAND), cv2.CV_32F)


def still_share(current: np.ndarray, previous: np.ndarray) -> float:
    """The share of 16×16 blocks in which no pixel changed by more than STILL_LEVELS: the same
    frame sent again (re-encoded or not) leaves nearly all; a live sensor's noise leaves few."""
    if current.shape != previous.shape:
        return 0.0
    d = cv2.absdiff(_grey(current), _grey(previous))
    return float((_blocks(d).max(axis=1) <= STILL_LEVELS).mean())


def measure(current: bytes, previous: bytes | None = None, reference: bytes | None = None) -> dict:
    """Every score of a snapshot (the costly part of a diagnosis; thresholds play no part)."""
    native = _decode(current)
    img = _small(native)
    s: dict = _scores(img, native)
    s["light"] = light_mode(img)
    if previous is not None:
        s["still"] = still_share(native, _decode(previous))
    if reference is not None:
        ref = _reference(reference)
        # a night picture is judged against a night or infrared reference only (against a day view it is all dark)
        s["comparable"] = ref.mode in ("night", "grey") or s["light"] != "night"
        s["ref_p1"] = ref.scores["p1"]
        if s["comparable"]:
            _against(img, s, ref)
    return s


# -- judging -------------------------------------------------------------------------------------
class History:
    """A camera's normal in each light: the scores of its recent healthy snapshots (how still its
    healthy pairs are, how noisy, how sharp), so that it is judged against itself where it can be."""

    KEYS = ("still", "noise", "blur")

    def __init__(self, size: int = 32, least: int = 6):
        self.size, self.least = size, least
        self._by_light: dict[str, deque[dict[str, float]]] = {}

    def add(self, light: str, scores: dict[str, float]) -> None:
        kept = self._by_light.setdefault(light, deque(maxlen=self.size))
        kept.append({k: scores[k] for k in self.KEYS if k in scores})

    def normal(self, light: str) -> dict[str, float] | None:
        """The camera's normal in `light` (the stillest of its healthy pairs; its median noise and
        blur), or None before it has `least` healthy snapshots in that light."""
        kept = self._by_light.get(light, ())
        if len(kept) < self.least:
            return None
        out = {}
        for k in self.KEYS:
            values = [h[k] for h in kept if k in h]
            if len(values) >= self.least:
                out[k] = float(np.max(values) if k == "still" else np.median(values))
        return out


def _on_its_own(s: dict, th: Thresholds, normal: dict[str, float]) -> str | None:
    """A fault the snapshot shows on its own, with no same-light reference to compare with."""
    if s["lit"] < th.dark_p99:  # (an occluder leaves the rest of the view lit)
        return "image_dark"
    if s["flat_share"] > th.occluded_share and s["rest_std"] > th.occluded_rest_std and s["flat_mean"] < s["rest_mean"]:
        return "image_occluded"
    if "blur" in normal and s["blur"] - normal["blur"] > th.blur_rise or "blur" not in normal and s["blur"] > th.blur_effect:
        return "image_blur"
    if s["colour_cast"] > th.colour_cast:
        return "image_colour_cast"
    return None


def _against_reference(s: dict, th: Thresholds, normal: dict[str, float]) -> str | None:
    """A fault the snapshot shows against the camera's healthy view in the same light: what the
    camera lost, whatever the scene is like (a night street, a soft lens, a tinted facade)."""
    kept_share, kept_light = s["kept_share"], s["kept_light"]
    similar = s["similarity"] >= th.scene_similarity
    if s["balance_shift"] > th.balance_shift and s["layout"] >= th.layout_similarity and s["lit_ratio"] >= th.dark_ratio:
        return "image_colour_cast"  # (the view as it was, in other colours)
    if s["covered_share"] >= th.covered_share and kept_share >= th.kept_share and kept_light >= th.kept_light:
        return "image_occluded"
    other_view = s["layout"] < th.other_view_layout
    if s["lit_ratio"] < th.dark_ratio and not other_view:
        return "image_dark"
    if (s["stripe_change"] > th.stripe_change_coherence and s["stripe_change_amplitude"] > th.stripe_change_amplitude
            and not other_view):
        return "image_stripe"
    blurred = s["blur"] - normal.get("blur", s["ref_blur"]) > th.blur_rise
    if not similar:
        if s["shift"] >= th.ptz_shift and s["shift_response"] >= th.ptz_response:
            return "image_ptz_drift"
        if not (blurred and s["layout"] >= th.layout_similarity):
            # another view: neither its detail nor its large parts are the reference's — unless most of
            # it is as it was (the light changed), or a good part (something stands in front of the rest)
            if kept_share >= th.mostly_kept:
                return "image_blur" if blurred else None
            rest_kept = kept_share / max(1.0 - s["covered_share"], 0.05)  # of what is not covered, kept as it was
            return "image_occluded" if rest_kept >= th.partly_kept else "image_scene_change"
    return "image_blur" if blurred else None


def judge(s: dict, th: Thresholds, normal: dict[str, float] | None = None) -> set[str]:
    """The faults the scores show (cheap: the calibration runs it many times over)."""
    normal = normal or {}
    referenced = "similarity" in s
    faults: set[str] = set()
    washed_out = s["p1"] > th.washed_out_p1 and s["mean"] > th.washed_out_mean and s["colour_cast"] <= th.colour_cast
    if "ref_p1" in s:  # (brighter than its reference in any light: a night picture never is)
        # its blacks lifted, a haze of light over it, its colours as they were (a cast lifts one channel's)
        washed_out |= s["p1"] > s["ref_p1"] + th.brighter_p1 and s.get("balance_shift", 0.0) <= th.balance_shift
    blank = (s["blank_share"] >= th.blank_share and s["blank_near"] <= th.blank_near
             and (s["blank_level"] <= 1 or s["blank_level"] >= th.blank_level))
    bars = s["row_std"] < th.bars_row_std and s["col_std"] > th.bars_col_std
    if blank or bars:  # (a screen all white is a picture blown out)
        return {"image_overexposed" if s["blank_level"] >= 250 else "image_signal_loss"}
    if s["bright_share"] > th.overexposed_share or washed_out:  # (a bright, strongly tinted picture is a cast)
        return {"image_overexposed"}
    other_view = referenced and s["layout"] < th.other_view_layout  # (its noise is that view's texture)
    if (s["noise"] > th.noise_sigma and ("noise" not in normal or s["noise"] > th.noise_ratio * normal["noise"])
            and not other_view):
        faults.add("image_noise")
    else:
        found = _against_reference(s, th, normal) if referenced else _on_its_own(s, th, normal)
        if found:
            faults.add(found)
    still = "still" in s and s["still"] >= th.frozen_still and s["still"] > normal.get("still", 0.0) + th.frozen_margin
    if still and not faults & {"image_dark", "image_overexposed"}:
        faults.add("image_frozen")  # (a dark picture has nothing to see move)
    return faults


def shown(s: dict) -> dict[str, float]:
    """The scores as a maintainer sees them (rounded)."""
    return {k: round(float(v), 3) for k, v in s.items() if isinstance(v, (int, float))}


def diagnose(current: bytes, previous: bytes | None = None, reference: bytes | None = None,
             normal: dict[str, float] | None = None, th: Thresholds | None = None) -> Diagnosis:
    """The faults of a snapshot, given what the camera has: its previous snapshot, its reference
    view (the one for the snapshot's light: ``pick_reference``) and its normal (``History``)."""
    s = measure(current, previous, reference)
    return Diagnosis(frozenset(judge(s, th or calibrated(), normal)), shown(s))
