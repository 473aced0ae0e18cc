"""Set every threshold of the image diagnosis from a calibration set, and write them to
``alerts/vqd_thresholds.json`` (committed: the diagnosis reads it).

The calibration set: the simulators' city of seed 3 (its cameras at 03:00, 09:00 and 15:00, every
fault the simulators inject at three severities, references two hours earlier, histories of the half hour before),
and photographs that ``bench/vqd.py`` never judges (matplotlib's and scikit-image's sample images:
a portrait, a microscope slide, a page of text, cells, a colour chart), made into cameras with the
simulators' fault functions. None of ``bench/vqd.py``'s evaluation sets (another city, other
photographs, other fault functions and severities, OSD overlays) is used here.

Every snapshot is measured once; then each threshold in turn is moved over a range around its
value and set where the calibration set's lowest F1 of any class (then the mean F1) is best — at
the middle of the range of values that do equally well, so that it lies as far from both sides
as this set allows (halfway between the lowest and the highest). Two passes. ``pip install .[bench]`` for scikit-image.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vqd import (Measured, Sample, f1_by_class, framed, in_light, jpeg, measured, photographs, score, sensor,  # noqa: E402
                 shaken, simulated)

from alerts.image import THRESHOLDS_FILE, Thresholds, snapshot_light, pick_reference  # noqa: E402
from simulators.fleet import IMAGE_FAULTS, apply_image_fault, stamp  # noqa: E402

PHOTOS = ["grace_hopper.jpg", "ihc.png", "page.png", "cell.png", "text.png", "color.png"]
SEVERITIES = (0.5, 0.75, 1.0)  # of the simulators' faults
SHARES = {"blank_share", "stripe_change_coherence", "overexposed_share", "occluded_share", "frozen_still", "covered_share", "kept_share",
          "kept_light", "dark_ratio", "partly_kept", "mostly_kept"}  # (at most 1)


def photo_cameras(photos, with_references: bool = True) -> Iterator[Sample]:
    """Each photograph as cameras in day, infrared and night light, with the simulators' faults and OSD."""
    t0 = 1_796_000_000.0
    for k, (name, photo) in enumerate(photos):
        other = photos[(k + 1) % len(photos)][1]
        for light in ("day", "infrared", "night"):
            view = in_light(framed(photo), light)
            at = t0 + 3600 * k

            def shot(img, seed, ts=at):
                return jpeg(stamp(sensor(img, seed), ts, name))

            ref = shot(shaken(view, k + 40), k + 50, at - 7200)
            refs = {snapshot_light(ref): ref}
            history = tuple((shot(view, 100 * k + j, at - 300 * (j + 2)), shot(shaken(view, j), 100 * k + j + 1,
                                                                                 at - 300 * (j + 1))) for j in range(6))
            still = sensor(view, k + 7)
            prev = jpeg(stamp(still, at - 300, name))

            def sample(expected, current, previous=prev):
                if not with_references:
                    return Sample(expected, current, previous, None, ())
                return Sample(expected, current, previous, pick_reference(refs, snapshot_light(current), light == "day"),
                              history)

            yield sample(None, shot(view, k + 8))
            yield sample(None, shot(shaken(view, k), k + 9))
            for g in (0.75, 1.3):  # the light changed since
                yield sample(None, shot(np.clip(view * g, 0, 255).astype(np.uint8), k + 10))
            for f in IMAGE_FAULTS:
                if f == "frozen":
                    yield sample(f, jpeg(stamp(still, at, name)))
                elif f == "scene_change":
                    yield sample(f, shot(in_light(framed(other), light), k))
                elif f == "ptz_drift":
                    yield sample(f, shot(in_light(framed(photo, 0.12 * (-1) ** k, 0.0), light), k))
                elif not (f == "colour_cast" and light == "infrared"):
                    for sev in SEVERITIES:
                        faulty = apply_image_fault(sensor(view, k + 11), f, name, t0 + k + (light == "night"), sev)
                        yield sample(f, jpeg(stamp(faulty, at, name)))


def f1s(items: list[Measured], th: Thresholds) -> list[float]:
    return [v[2] for v in f1_by_class(*score(items, th)[:3]).values()]


def objective(items: list[Measured], alone: list[Measured], th: Thresholds) -> tuple[float, float, float]:
    """(the lowest F1 of any class, the mean F1) with references and histories; then the mean F1
    of the same cameras' first snapshots, judged on their own (which sets the rules for those)."""
    f1 = f1s(items, th)
    return min(f1), sum(f1) / len(f1), sum(f1s(alone, th)) / len(f1)


def calibrate(items: list[Measured], alone: list[Measured], th: Thresholds, passes: int = 2) -> Thresholds:
    for p in range(passes):
        for f in fields(Thresholds):
            now = getattr(th, f.name)
            grid = sorted({float(v) for v in np.geomspace(max(abs(now), 1e-3) / 4, max(abs(now), 1e-3) * 4, 41)}
                          | {now})
            if f.name in SHARES:
                grid = [v for v in grid if v <= 1.0]
            results = [(objective(items, alone, replace(th, **{f.name: v})), v) for v in grid]
            best = max(r for r, _ in results)
            tied = [v for r, v in results if r == best]
            if len(tied) == len(grid):
                continue  # (a threshold nothing in the set depends on stays as it is)
            middle = replace(th, **{f.name: (min(tied) + max(tied)) / 2})
            # the middle of the values that do best (or, if the middle itself does worse, the middle one of them)
            th = middle if objective(items, alone, middle) == best else replace(th, **{f.name: tied[len(tied) // 2]})
        lowest, mean, on_its_own = objective(items, alone, th)
        print(f"  pass {p + 1}: lowest F1 {lowest:.3f}, mean {mean:.3f}; on their own, mean {on_its_own:.3f}",
              file=sys.stderr)
    return th


def main() -> None:
    t = time.perf_counter()
    photos = photographs(PHOTOS)
    items = measured(simulated(3, 60, SEVERITIES), "simulated city, seed 3")
    items += measured(photo_cameras(photos), "calibration photographs")
    alone = measured(photo_cameras(photos, with_references=False), "calibration photographs, on their own")
    th = calibrate(items, alone, Thresholds())
    write(items, alone, th)
    print(f"{time.perf_counter() - t:.0f} s")


def write(items: list[Measured], alone: list[Measured], th: Thresholds) -> None:
    lowest, mean, _ = objective(items, alone, th)
    per_class = {f: round(v[2], 3) for f, v in f1_by_class(*score(items, th)[:3]).items()}
    out = {"set": f"simulated city seed 3 (60 cells) and photographs {', '.join(PHOTOS)}: {len(items)} snapshots "
                  f"with references and histories, {len(alone)} without",
           "f1_on_the_calibration_set": per_class,
           "thresholds": {k: round(v, 4) for k, v in asdict(th).items()}}
    THRESHOLDS_FILE.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(items)} snapshots; lowest F1 on the calibration set {lowest:.3f} (mean {mean:.3f}); "
          f"written to {THRESHOLDS_FILE.name}")
    print(f"vqd_calibration_min_f1={lowest:.3f}")


if __name__ == "__main__":
    main()
