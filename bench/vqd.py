"""Image diagnostics (VQD), judged on images the thresholds were not set on.

The thresholds in ``alerts/image.py`` were set on the simulators' city of seed 3 (60 cells),
except three of the rules against a night reference (below). Here they are judged on:

- **unseen simulated** snapshots: another city (seed 11, 200 cells), at 03:00, 09:00 and 15:00
  (night, morning, afternoon light), every fault the simulators inject plus healthy ones, each
  against the camera's snapshot of two hours before as its reference;
- **real photographs** shipped by scikit-image (street, people, objects, textures, a cat, the
  night sky, greyscale photographs), scaled to 704×576 (D1/4CIF, a common CCTV snapshot size).
  Each photograph is two cameras: one that turns to infrared at night (a greyscale frame) and one
  with low-light colour at night (gamma 2.2 and a fifth of the light, its brightest 3% kept lit,
  as street lights and windows are). Each has a reference view per light it works in — another
  frame of the same view — and each snapshot is judged against the one the alert service picks
  (``pick_reference``: the snapshot's own light, the day view for a dim picture in daylight).
  Healthy, and with every fault applied by the simulators' fault functions; frozen: the same
  frame re-encoded at another JPEG quality, while a live camera's next frame differs by sensor
  noise and a shift of a pixel or two; scene change: another photograph in the same light.
  scikit-image is needed for this set only (not a dependency of Pingan: `pip install .[bench]`);
- the same real photographs **with no reference yet** (a camera's first snapshots in a light),
  judged on their own: printed, not in the score.

Per set and class: precision, recall and F1; ms per diagnosis of a 704×576 JPEG
(with its previous and reference snapshots, as the service calls it). Last line:
``vqd_min_f1=<the lowest F1 of any class in the scored sets>`` (target ≥ 0.95; diagnosis ≤ 20 ms).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.image import diagnose, pick_reference, snapshot_light  # noqa: E402
from simulators.city import generate_city  # noqa: E402
from simulators.fleet import IMAGE_FAULTS, apply_image_fault, snapshot  # noqa: E402

REAL = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "moon.png", "motorcycle_left.png",
        "motorcycle_right.png", "rocket.jpg", "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png"]
T0 = 1_796_000_000.0  # a day in November 2026; hours below are Beijing time


def jpeg(img: np.ndarray, quality: int = 80) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def simulated(seed: int, cells: int):
    """(expected fault or None, current, previous, reference) for every camera, hour and fault."""
    city = generate_city(cells, seed)
    for cam in city.cameras:
        for hour in (3, 9, 15):
            t = T0 - T0 % 86_400 + (hour - 8) * 3600 + 86_400
            prev, ref = snapshot(cam, t - 300), snapshot(cam, t - 7200)
            yield None, snapshot(cam, t), prev, ref
            for f in IMAGE_FAULTS:
                cur = snapshot(cam, t, f, frozen_at=t - 300 if f == "frozen" else None)
                yield f, cur, prev, ref


def real_photos():
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in REAL:
        img = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        out.append((name, cv2.resize(img, (704, 576), interpolation=cv2.INTER_AREA)))
    return out


def variants(img: np.ndarray) -> dict[str, np.ndarray]:
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    # night: the scene's light falls to a fifth (gamma 2.2), its lights — its brightest parts — stay lit
    lit = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) >= np.percentile(img, 97)
    night = (255 * (img / 255.0) ** 2.2 * 0.2 + 0.5).astype(np.uint8)
    night[lit] = img[lit]
    return {"day": img, "infrared": grey, "night": night}


def live_next(img: np.ndarray, k: int) -> np.ndarray:
    """The same view a moment later: sensor noise, a pixel or two of shake."""
    rng = np.random.default_rng(k)
    m = np.float32([[1, 0, int(rng.integers(1, 3))], [0, 1, int(rng.integers(0, 2))]])
    moved = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
    return np.clip(moved + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def real(photos, with_references: bool = True):
    """Each photograph as two cameras, as the alert service sees them: one with infrared at night
    (reference views by day and in infrared), one with low-light colour at night (by day and at
    night); each snapshot judged against the reference the service picks for its light and hour.
    A reference is another frame of the same view (another moment)."""
    for k, (name, photo) in enumerate(photos):
        other = variants(photos[(k + 1) % len(photos)][1])
        views = variants(photo)
        for lights in (("day", "infrared"), ("night",)):
            refs = {snapshot_light(r): r for r in (jpeg(live_next(views[lt], k + 50)) for lt in ("day", *lights))}
            for label in lights:
                img, live = views[label], jpeg(live_next(views[label], k))
                for f, cur, prev in [(None, jpeg(img), live), *faulty(img, other[label], live, name, k)]:
                    ref = pick_reference(refs, snapshot_light(cur), label == "day") if with_references else None
                    yield f, cur, prev, ref


def faulty(img, other, live, name, k):
    """(fault, snapshot, previous snapshot) for every fault of a view."""
    for f in IMAGE_FAULTS:
        if f == "frozen":
            yield f, jpeg(img, 75), jpeg(img, 90)
        elif f == "scene_change":
            yield f, jpeg(other), jpeg(live_next(other, k))
        else:
            yield f, jpeg(apply_image_fault(img, f, name, T0 + k)), live


def score(samples, times: list[float]) -> tuple[Counter, Counter, Counter, list]:
    tp, fp, fn = Counter(), Counter(), Counter()
    wrong = []
    for expected, cur, prev, ref in samples:
        t = time.perf_counter()
        got = {f[6:] for f in diagnose(cur, prev, ref).faults}
        times.append(time.perf_counter() - t)
        want = {expected} if expected else set()
        for f in got & want:
            tp[f] += 1
        for f in got - want:
            fp[f] += 1
        for f in want - got:
            fn[f] += 1
        if got != want:
            wrong.append((expected, sorted(got)))
    return tp, fp, fn, wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=200, help="cells of the unseen simulated city")
    args = ap.parse_args()
    print(f"cv2 {cv2.__version__}, {os.cpu_count()} cores; thresholds set on the simulators' seed 3")
    times: list[float] = []
    f1s = {}
    photos = real_photos()
    sets = [("unseen simulated (seed 11)", simulated(11, args.cells)),
            ("real photographs (day, infrared, night)", real(photos)),
            ("real photographs, no reference yet (not in the score)", real(photos, with_references=False))]
    for name, samples in sets:
        tp, fp, fn, wrong = score(samples, times)
        print(f"{name}: {sum(tp.values())} faults found, {sum(fp.values())} false, {sum(fn.values())} missed")
        for expected, got in Counter(map(str, wrong)).most_common(6):
            print(f"    {got}× expected/got {expected}")
        print(f"    {'class':<14} {'precision':>9} {'recall':>7} {'F1':>6}")
        for f in IMAGE_FAULTS:
            p = tp[f] / (tp[f] + fp[f]) if tp[f] + fp[f] else 1.0
            r = tp[f] / (tp[f] + fn[f]) if tp[f] + fn[f] else 1.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            if "not in the score" not in name:
                f1s[(name, f)] = f1
            print(f"    {f:<14} {p:>9.3f} {r:>7.3f} {f1:>6.3f}")
    # speed: a 704×576 snapshot with its previous and reference, as the service diagnoses it
    photo = real_photos()[6][1]
    cur, prev, ref = jpeg(photo), jpeg(live_next(photo, 1)), jpeg(photo)
    runs = []
    for _ in range(200):
        t = time.perf_counter()
        diagnose(cur, prev, ref)
        runs.append(time.perf_counter() - t)
    print(f"diagnosis of a 704×576 JPEG with previous and reference: median {1000 * np.median(runs):.1f} ms, "
          f"p95 {1000 * np.percentile(runs, 95):.1f} ms (target ≤ 20 ms)")
    print(f"vqd_min_f1={min(f1s.values()):.3f}")


if __name__ == "__main__":
    main()
