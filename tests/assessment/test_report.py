"""The reports' figures against small scenarios worked out by hand: stored days written here
directly (what the daily assessment stores), the report assembled from them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from assessment.defence import Assessor
from assessment.report import assessment
from assessment.standards import Standards

from ..conftest import SHOTS

Z = ZoneInfo("Asia/Shanghai")
DAY = 86_400.0
D20 = datetime(2026, 11, 20, tzinfo=Z).timestamp()
CELLS = [f"D{d}S{s}G{g}" for d in (1, 2) for s in (1, 2) for g in (1, 2, 3, 4)]


def store_day(conn: psycopg.Connection, day: str, start: float, statuses: dict[str, tuple[str, str]],
              cameras: dict[str, dict] | None = None, checkpoints: dict[str, dict] | None = None) -> None:
    """One stored day of the demo city: cell → (composite status, patrol status); the rest not covered."""
    version = conn.execute("SELECT max(version) FROM pingan.registry_version").fetchone()[0]
    with conn.cursor() as cur:
        for cell in CELLS:
            status, patrol = statuses.get(cell, ("not_covered", "not_covered"))
            detail = {"cameras": (cameras or {}).get(cell, {}), "checkpoints": (checkpoints or {}).get(cell, {}),
                      "unknown_because": []}
            cur.execute(
                "INSERT INTO pingan.coverage_daily (day, part_from, part_to, cell_id, version, status, patrol, cameras, "
                "checkpoints, visits, longest_gap_s, detail, standard) VALUES (%s, to_timestamp(%s), to_timestamp(%s), "
                "%s, %s, %s, %s, NULL, NULL, 0, 0, %s, %s)",
                (day, start, start + DAY, cell, version, status, patrol, json.dumps(detail), Standards().digest()))
    conn.commit()


def two_days(db_url: str) -> None:
    """20 November: in D1S1, G1 and G2 covered, G3 unknown, G4 not covered; D1S2 all patrolled, but
    G1 fails on its camera (composite not covered); D2 nothing. 21 November: D1 all covered; D2S1G1
    unknown, the rest of D2 not covered."""
    c, u, n = "covered", "unknown", "not_covered"
    day1 = {"D1S1G1": (c, c), "D1S1G2": (c, c), "D1S1G3": (u, u), "D1S1G4": (n, n),
            "D1S2G1": (n, c), "D1S2G2": (c, c), "D1S2G3": (c, c), "D1S2G4": (c, c)}
    day2 = {**{x: (c, c) for x in CELLS if x.startswith("D1")}, "D2S1G1": (u, u)}
    with psycopg.connect(db_url) as conn:
        # cam01 in D1S1G1: up 20 h, down 2 h, unknown 2 h (1 outage) on the 20th; up all the 21st.
        # cp-east in D2S1G1: 600 minutes required; 300 staffed, 60 unknown on the 20th; all staffed the 21st
        store_day(conn, "2026-11-20", D20, day1, cameras={"D1S1G1": {"cam01": [72_000, 7_200, 7_200, 1]}},
                  checkpoints={"D2S1G1": {"cp-east": [600, 300, 60]}})
        store_day(conn, "2026-11-21", D20 + DAY, day2, cameras={"D1S1G1": {"cam01": [86_400, 0, 0, 0]}},
                  checkpoints={"D2S1G1": {"cp-east": [600, 600, 0]}})
        conn.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) VALUES (to_timestamp(%s), 'u01', 32.03, "
                     "118.75)", (D20 + 3600,))  # (something stored in the period: else there is nothing to assess)


def test_the_assessment_adds_up_the_stored_days(db_url):
    two_days(db_url)
    with psycopg.connect(db_url) as conn:
        a = Assessor(conn, Standards(), store=False, keep_rows=True)
        result = a.period(D20, D20 + 2 * DAY)
        assert result.stored_parts == 2 and not result.computed  # nothing recomputed
        got = {f.area_id: f for f in assessment(a, result)}
    assert {f.level for f in got.values()} == {"district", "street"} and len(got) == 6
    # D1, 16 cell-days: composite covered 6 + 8 = 14 less D1S2G1 on the 20th = 13; unknown 1 (D1S1G3); not 2
    d1 = got["D1"]
    assert (d1.coverage.met, d1.coverage.unknown, d1.coverage.not_met) == pytest.approx((13 / 16, 1 / 16, 2 / 16))
    assert not d1.meets  # 81.25% < 90%
    # … its patrol: D1S2G1 was patrolled: 14 of 16
    assert (d1.patrol.met, d1.patrol.unknown, d1.patrol.not_met) == pytest.approx((14 / 16, 1 / 16, 1 / 16))
    assert d1.patrol.of == 16 * DAY
    # cam01: up 72,000 + 86,400 = 158,400 s of 172,800; down 7,200; unknown 7,200; one outage
    assert (d1.cameras.met, d1.cameras.unknown, d1.cameras.not_met) == pytest.approx(
        (158_400 / 172_800, 7_200 / 172_800, 7_200 / 172_800))
    assert d1.outages == 1 and d1.checkpoints is None
    # D2: covered never; unknown D2S1G1 on the 21st: 1 of 16; cp-east staffed 900 of 1,200 minutes, 60 unknown
    d2 = got["D2"]
    assert (d2.coverage.met, d2.coverage.unknown, d2.coverage.not_met) == pytest.approx((0, 1 / 16, 15 / 16))
    assert d2.cameras is None
    assert (d2.checkpoints.met, d2.checkpoints.unknown, d2.checkpoints.not_met) == pytest.approx((0.75, 0.05, 0.20))
    # streets: D1S1 6 of 8 covered, 1 unknown; D1S2 7 of 8 (patrol 8 of 8); D2S1 1 of 8 unknown
    assert (got["D1S1"].coverage.met, got["D1S1"].coverage.unknown) == pytest.approx((6 / 8, 1 / 8))
    assert (got["D1S2"].coverage.met, got["D1S2"].patrol.met) == pytest.approx((7 / 8, 1.0))
    assert (got["D2S1"].coverage.met, got["D2S1"].coverage.unknown) == pytest.approx((0.0, 1 / 8))
    assert got["D1S2"].meets is False and got["D2S2"].coverage.not_met == pytest.approx(1.0)


def report(db_url: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    return subprocess.run([sys.executable, "-m", "pingan.cli", "report", *args], env={**clean, "PINGAN_DATABASE_URL": db_url},
                          capture_output=True, timeout=300, cwd=cwd)


def test_the_assessment_report_in_each_format(db_url, tmp_path):
    two_days(db_url)
    period = ("--from", "2026-11-20", "--to", "2026-11-22")
    r = report(db_url, "assessment", *period, "--format", "json")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    doc = json.loads(r.stdout)
    d1 = next(x for x in doc["districts"] if x["area_id"] == "D1")
    assert (d1["coverage"], d1["coverage_unknown"], d1["patrol"], d1["meets"]) == pytest.approx((13 / 16, 1 / 16, 14 / 16, False))
    assert [x["area_id"] for x in doc["streets"]] == ["D1S1", "D1S2", "D2S1", "D2S2"]
    head = {h["label"].split(" ")[0].split("/")[0]: h for h in doc["headlines"]}
    # the city: 13 of 32 cell-days covered; no district and no street at 90%
    assert head["defence-system"]["value"] == pytest.approx(13 / 32) and head["defence-system"]["meets"] is False
    assert head["districts"]["value"] == 0 and head["streets"]["value"] == 0
    assert doc["period"]["from"] == "2026-11-20T00:00:00+08:00" and doc["period"]["to"] == "2026-11-22T00:00:00+08:00"
    assert doc["about"]["parts from stored days"] == 2 and len(doc["methods"]) >= 5
    # one area and what is within it
    r = report(db_url, "assessment", *period, "--area", "D2", "--format", "json")
    doc = json.loads(r.stdout)
    assert [x["area_id"] for x in doc["districts"]] == ["D2"] and [x["area_id"] for x in doc["streets"]] == ["D2S1", "D2S2"]
    # CSV for spreadsheets (with a BOM), the streets' table
    r = report(db_url, "assessment", *period, "--format", "csv", "--table", "streets")
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8-sig"))))
    assert [x["area_id"] for x in rows] == ["D1S1", "D1S2", "D2S1", "D2S2"]
    assert float(rows[0]["coverage"]) == pytest.approx(0.75) and rows[0]["meets"] == "False"
    # XLSX: a sheet per table and one about the report
    r = report(db_url, "assessment", *period, "--format", "xlsx", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    (xlsx,) = tmp_path.glob("*.xlsx")
    with zipfile.ZipFile(xlsx) as z:
        book = z.read("xl/workbook.xml").decode()
    assert all(f'name="{s}"' in book for s in ("about", "districts", "streets"))
    # a period not given, or given twice: said
    r = report(db_url, "assessment", "--format", "json")
    assert r.returncode == 2 and b"say which period" in r.stderr
    r = report(db_url, "assessment", "--period", "2026-Q5")
    assert r.returncode == 2 and b"'2026-Q5' is not a period" in r.stderr


def test_the_html_and_pdf_assessment_are_drawn(db_url, tmp_path, browser):
    """Charts drawn and the names readable: the HTML in Chromium and the PDF through pdftoppm, saved
    as PNG under tests/output for a person to look at."""
    two_days(db_url)
    with psycopg.connect(db_url) as conn:  # the districts under their Chinese names
        version, doc = conn.execute("SELECT version, document FROM pingan.registry_version ORDER BY version DESC "
                                    "LIMIT 1").fetchone()
        for f in doc["grid"]["features"]:
            f["properties"]["name"] = {"D1": "东城区", "D2": "西城区"}.get(f["properties"]["id"], f["properties"]["name"])
        conn.execute("UPDATE pingan.registry_version SET document = %s WHERE version = %s", (Jsonb(doc), version))
    period = ("--from", "2026-11-20", "--to", "2026-11-22")
    for fmt in ("html", "pdf"):
        r = report(db_url, "assessment", *period, "--format", fmt, "--out", str(tmp_path / f"assessment.{fmt}"))
        assert r.returncode == 0, r.stderr.decode()[-2000:]
    page = (tmp_path / "assessment.html").read_text()
    assert page.count("<svg") >= 3 and "东城区" in page and "西城区" in page  # bars, map, trend
    assert "How each figure is computed" in page and "81.2%" in page  # D1's coverage, 13 of 16
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab = browser.new_page()
    tab.goto((tmp_path / "assessment.html").as_uri())
    tab.screenshot(path=str(SHOTS / "assessment.png"), full_page=True)
    # the district names are drawn in a CJK font: two-byte glyphs' width, not the boxes of a missing font
    width = tab.evaluate("() => { const c = document.createElement('canvas').getContext('2d'); "
                         "c.font = '16px \"WenQuanYi Zen Hei\"'; return c.measureText('东城区').width }")
    assert width >= 45
    assert (SHOTS / "assessment.png").stat().st_size > 50_000
    pdf = tmp_path / "assessment.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(SHOTS / "assessment-pdf")],
                   check=True, timeout=120)
    pages = sorted(SHOTS.glob("assessment-pdf*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 10_000 for p in pages)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYi" in fonts  # the Chinese names set in a CJK font, embedded
