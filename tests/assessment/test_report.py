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

from ..conftest import SHOTS, observed

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
                "%s, %s, %s, %s, %s, %s, 0, 0, %s, %s)",  # (a cell with key cameras or checkpoints has their status)
                (day, start, start + DAY, cell, version, status, patrol, "covered" if detail["cameras"] else None,
                 "covered" if detail["checkpoints"] else None, json.dumps(detail), Standards().digest()))
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
    # … its headlines its own (never the city's 40.6%): D2 covered 0 of 16 cell-days, neither street at 90%
    assert [(h["label"], h["value"]) for h in doc["headlines"]] == [
        ("defence-system coverage 防控体系覆盖率 (District 2)", 0.0), ("districts meeting 90% 区达标率", 0.0),
        ("streets/townships meeting 90% 街镇达标率", 0.0)]
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


# -- the ranking --------------------------------------------------------------------------------------
def fill(conn: psycopg.Connection, first: str, after: str, streets: dict[str, str]) -> None:
    """Stored days [first, after): every cell of each street in the status given for it (composite
    and patrol alike), and one fix (the period has data)."""
    version = conn.execute("SELECT max(version) FROM pingan.registry_version").fetchone()[0]
    cells = [c for c in CELLS]
    status = [streets[c[:4]] for c in cells]
    conn.execute(
        "INSERT INTO pingan.coverage_daily (day, part_from, part_to, cell_id, version, status, patrol, visits, "
        "longest_gap_s, detail, standard) SELECT d::date, d AT TIME ZONE 'Asia/Shanghai', "
        "(d + interval '1 day') AT TIME ZONE 'Asia/Shanghai', c.cell, %s, c.status, c.status, 0, 0, "
        "'{\"cameras\": {}, \"checkpoints\": {}}', %s FROM generate_series(%s::timestamp, %s::timestamp - "
        "interval '1 day', interval '1 day') d, unnest(%s::text[], %s::text[]) AS c(cell, status)",
        (version, Standards().digest(), first, after, cells, status))
    conn.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) VALUES ((%s::timestamp + interval '1 hour') "
                 "AT TIME ZONE 'Asia/Shanghai', 'u01', 32.03, 118.75)", (first,))
    conn.commit()


def test_the_year_is_ranked_from_its_quarters_with_a_tie_an_unknown_day_and_a_veto(db_url):
    c, u, n = "covered", "unknown", "not_covered"
    with psycopg.connect(db_url) as conn:
        fill(conn, "2025-01-01", "2025-04-01", {"D1S1": c, "D1S2": c, "D2S1": c, "D2S2": n})  # Q1: 3 streets tie at 100
        fill(conn, "2025-04-01", "2025-07-01", {"D1S1": c, "D1S2": u, "D2S1": n, "D2S2": n})  # Q2
        fill(conn, "2025-07-01", "2025-10-01", {"D1S1": c, "D1S2": n, "D2S1": c, "D2S2": u})  # Q3: D1 = D2 = 50
        fill(conn, "2025-10-01", "2026-01-01", {"D1S1": c, "D1S2": c, "D2S1": n, "D2S2": n})  # Q4 …
        # … but on 5 November nothing was received in D1: unknown that day
        conn.execute("UPDATE pingan.coverage_daily SET status = 'unknown', patrol = 'unknown' WHERE day = '2025-11-05' "
                     "AND cell_id LIKE 'D1%%'")
        # D2 was ranked last in 2023 and 2024 (kept rankings), D1 in 2022
        conn.cursor().executemany("INSERT INTO pingan.ranking (period, level, area_id, score, rank, last, standard) VALUES "
                         "(%s, 'district', %s, 0, 2, true, 'x')", [("2023", "D2"), ("2024", "D2"), ("2022", "D1")])
        conn.commit()
    r = report(db_url, "ranking", "--period", "2025", "--format", "json")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    doc = json.loads(r.stdout)
    year = {x["area_id"]: x for x in doc["district_2025"]}
    # D1: Q1 100, Q2 50 (D1S2 unknown, counted not covered), Q3 50, Q4 91 of 92 days = 98.913…
    d1 = (100 + 50 + 50 + 100 * 91 / 92) / 4
    assert year["D1"]["score"] == pytest.approx(round(d1, 2)) and year["D1"]["rank"] == 1
    # D2: Q1 50, Q2 0, Q3 50, Q4 0: last, the third year running (2023, 2024 kept): the veto
    assert year["D2"]["score"] == pytest.approx(25.0)
    assert (year["D2"]["rank"], year["D2"]["yellow_card"], year["D2"]["years_last"], year["D2"]["veto"]) == (2, True, 3, True)
    assert (year["D1"]["yellow_card"], year["D1"]["years_last"], year["D1"]["veto"]) == (False, 0, False)
    assert any("一票否决" in note and "District 2" in note for note in doc["notes"])
    # Q3: D1 and D2 both 50; D1 first on the smaller unknown share (D2S2 unknown all quarter) — but D2 is
    # not surely last: with its unknown half covered it would score 100. No yellow card; D2 meets 90%
    # neither surely nor surely not (50 + 50)
    q3 = {x["area_id"]: x for x in doc["district_2025-Q3"]}
    assert (q3["D1"]["score"], q3["D2"]["score"], q3["D1"]["rank"], q3["D2"]["rank"]) == (50, 50, 1, 2)
    assert q3["D2"]["unknown"] == pytest.approx(0.5) and not q3["D2"]["yellow_card"]
    assert (q3["D1"]["meets"], q3["D2"]["meets"]) == (False, None)
    # Q1, streets: three at 100 share rank 1; D2S2 fourth and last
    q1 = {x["area_id"]: (x["rank"], x["yellow_card"]) for x in doc["street_2025-Q1"]}
    assert q1 == {"D1S1": (1, False), "D1S2": (1, False), "D2S1": (1, False), "D2S2": (4, True)}
    # attainment: no district met 90% over the year (D1 74.7); streets: D1S1 at 99.7 only, 1 of 4
    head = {h["label"]: h for h in doc["headlines"]}
    assert head["districts meeting 90% (2025) 达标率"]["value"] == 0
    assert head["streets meeting 90% (2025) 达标率"]["value"] == pytest.approx(0.25)
    # the closed year and its quarters are kept: a later year counts from them
    with psycopg.connect(db_url) as conn:
        kept = conn.execute("SELECT period, area_id, rank, last FROM pingan.ranking WHERE level = 'district' AND "
                            "period LIKE '2025%%' ORDER BY 1, 2").fetchall()
    assert kept == [("2025", "D1", 1, False), ("2025", "D2", 2, True), ("2025-Q1", "D1", 1, False),
                    ("2025-Q1", "D2", 2, True), ("2025-Q2", "D1", 1, False), ("2025-Q2", "D2", 2, True),
                    ("2025-Q3", "D1", 1, False), ("2025-Q3", "D2", 2, False), ("2025-Q4", "D1", 1, False),
                    ("2025-Q4", "D2", 2, True)]
    # the document: a chart per ranking (the yellow card on yellow), the quarters' trend, the rows flagged
    r = report(db_url, "ranking", "--period", "2025", "--format", "html", "--out", str(SHOTS / "ranking-2025.html"))
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    page = (SHOTS / "ranking-2025.html").read_text()
    # (the year's ranking of each level and the quarters' trend drawn; a row flagged for each surely last of each
    # ranking: districts Q1, Q2, Q4 and the year; streets D2S2 in Q1 and the year, D2S1 and D2S2 in Q4 — in Q2
    # and Q3 the last street, D1S2 and D2S2 in turn, was unknown all quarter: no card)
    assert page.count("<svg") == 3 and page.count('flag">') == 8 and "#ffd33d" in page
    q2 = {x["area_id"]: (x["rank"], x["yellow_card"]) for x in doc["street_2025-Q2"]}
    assert q2 == {"D1S1": (1, False), "D2S1": (2, False), "D2S2": (2, False), "D1S2": (4, False)}


# -- camera uptime -------------------------------------------------------------------------------------
def test_the_uptime_report_of_two_cameras_worked_by_hand(db_url):
    """20 November, the ingest receiving all day. cam01 (heartbeat 60 s, 3 missed = an outage) beats
    every minute but is silent 10:00 → 12:00 and 15:00 → 15:30; cam02 beats all day. cam02's picture
    was blurred 08:00–09:30 and dark from 22:00 the day before to 01:00; cam01's blurred from 23:00, still."""
    h = 3600
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        beats = [t for t in range(0, 86_400, 60) if not (10 * h < t < 12 * h or 15 * h < t < 15.5 * h)]
        cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) SELECT to_timestamp(%s + t), 'cam01', true "
                    "FROM unnest(%s::int[]) t", (D20, beats))
        cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) SELECT to_timestamp(%s + 60 * i), 'cam02', "
                    "true FROM generate_series(0, 1439) i", (D20,))
        for k, (cam, kind, since, until) in enumerate((("cam02", "image_blur", 8 * h, 9.5 * h),
                                                       ("cam02", "image_dark", -2 * h, 1 * h),
                                                       ("cam01", "image_blur", 23 * h, None))):
            cur.execute("INSERT INTO pingan.alert (alert_id, type, subject, severity, state, since, opened_at, "
                        "resolved_at) VALUES (%s, %s, %s, 'minor', %s, to_timestamp(%s), to_timestamp(%s), "
                        "to_timestamp(%s))", (f"00000000-0000-4000-8000-00000000000{k}", kind, cam,
                                              "open" if until is None else "resolved", D20 + since, D20 + since,
                                              None if until is None else D20 + until))
    observed(db_url, D20 - DAY, D20 + 2 * DAY)
    r = report(db_url, "uptime", "--period", "2026-11-20", "--format", "json")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    doc = json.loads(r.stdout)
    cams = {c["camera_id"]: c for c in doc["cameras"]}
    # cam01: down from the first missed beat (10:01, 15:01) until heard again (12:00, 15:30): 7,140 + 1,740 s
    down = 7_140 + 1_740
    c1 = cams["cam01"]
    assert c1["availability"] == pytest.approx((86_400 - down) / 86_400) and c1["unknown"] == 0
    assert c1["outages"] == 2 and c1["mttr_h"] == round(down / 2 / h, 2)
    assert c1["longest_outage_h"] == round(7_140 / h, 2)  # 10:01 → 12:00, over two stored hours
    assert c1["image_faults"] == "blur 1" and c1["image_fault_h"] == 1.0  # 23:00 → midnight
    assert doc["cameras"][0]["camera_id"] == "cam01"  # the worst first
    c2 = cams["cam02"]
    assert c2["availability"] == 1.0 and c2["outages"] == 0 and c2["mttr_h"] is None
    assert c2["image_faults"] == "blur 1, dark 1" and c2["image_fault_h"] == 2.5  # 1.5 h + 1 h of the 20th
    # cam01 is a main-street camera, a key location: 89.7% < 95%; cam02 (busy junction) at 100%
    assert c1["key"] and c1["meets_sla"] is False and c2["meets_sla"] is True
    # the cameras never heard from are unknown all day, listed last
    assert all(c["availability"] is None and c["unknown"] == 1.0 for c in doc["cameras"][2:])
    assert all(c["meets_sla"] is None for c in doc["cameras"][2:])  # unknown: neither met nor failed
    assert doc["about"]["cameras heard"] == "2 of 12 registered (10 silent)"
    assert doc["about"]["ingest receiving"] == "100.0% of the period"


# -- patrol ---------------------------------------------------------------------------------------------
def test_the_patrol_report_of_a_unit_worked_by_hand(db_url):
    """20 November, the ingest receiving all day. u01 (a car, team D1S1) parks in D1S1G1 08:00–08:10
    (a fix every 10 s), is silent until 09:00, parks in D1S1G2 09:00–09:05, then drives 0.005° north
    (still in G2) in 100 s. Its teammates u05 and ot-alice never send a fix."""
    rows = [(8 * 3600 + t, 118.75, 32.0275) for t in range(0, 601, 10)]
    rows += [(9 * 3600 + t, 118.77, 32.0275) for t in range(0, 301, 10)]
    rows += [(9 * 3600 + 300 + 10 * k, 118.77, 32.0275 + 0.0005 * k) for k in range(1, 11)]
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO pingan.patrol_ping (ts, unit_id, lon, lat) VALUES (to_timestamp(%s), 'u01', %s, %s)",
                        [(D20 + t, lon, lat) for t, lon, lat in rows])
    observed(db_url, D20 - DAY, D20 + 2 * DAY)
    r = report(db_url, "patrol", "--period", "2026-11-20", "--format", "json")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    doc = json.loads(r.stdout)
    u01 = next(u for u in doc["units"] if u["unit_id"] == "u01")
    # visits: G1 08:00–08:10 (10 min), G2 09:00–09:06:40 (6 min 40 s, the drive included: it stays in G2)
    assert (u01["fixes"], u01["visits"], u01["cells"]) == (len(rows), 2, 2)
    assert u01["patrol_min"] == pytest.approx(10 + 400 / 60, abs=0.1)
    minutes = {c["cell_id"]: c["minutes"] for c in doc["cells"] if c["unit_id"] == "u01"}
    assert minutes == pytest.approx({"D1S1G1": 10.0, "D1S1G2": 6.7}, abs=0.05)
    # the track: 0.005° of latitude at 32° N is 554.6 m (111,000 m a degree, near enough: 1%)
    assert u01["km"] == pytest.approx(0.5546, rel=0.01)
    # one silent stretch, 08:10 → 09:00
    assert (u01["silent"], u01["silent_min"]) == (1, 50.0)
    alice = next(u for u in doc["units"] if u["unit_id"] == "ot-alice")
    assert (alice["fixes"], alice["visits"], alice["km"]) == (0, 0, 0)
    team = next(t for t in doc["teams"] if t["team_id"] == "D1S1")
    # D1S1's four cells: G1, G2 visited; G3, G4 never. Every one went past its revisit interval
    # (G1 and G2: from midnight to 08:00 / 09:00 is past 240 min; G3 and G4 never visited)
    assert (team["units"], team["cells"], team["visited"], team["never_visited"]) == (3, 4, 2, 2)
    assert team["never_visited_cells"] == ["D1S1G3", "D1S1G4"] and team["revisit_exceeded"] == 4
    assert doc["about"]["units heard"] == "1 of 9 registered (8 silent)"  # the demo's 8 and ot-alice
    other = next(t for t in doc["teams"] if t["team_id"] == "D2S1")
    assert (other["visited"], other["km"], other["visits"]) == (0, 0, 0)


# -- team strength and response reach ------------------------------------------------------------------
def test_team_strength_and_response_reach_worked_by_hand(db_url):
    """20 November; the ingest receiving from 05:00. Team D1S1: u01 (a car) 08:00–16:00, a fix a
    minute with officers a1–a5 until noon and a6–a10 after; u05 16:00–18:00 with b1–b3. Shifts
    00–08, 08–16, 16–24; a team needs 10 members."""
    two_days(db_url)  # (the coverage the report is about; its one fix is at 01:00, before the ingest received)
    h = 3600
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM pingan.patrol_ping")
        rows = [(D20 + t, "u01", [f"a{k}" for k in (range(1, 6) if t < 12 * h else range(6, 11))])
                for t in range(8 * h, 16 * h, 60)]
        rows += [(D20 + t, "u05", ["b1", "b2", "b3"]) for t in range(16 * h, 18 * h, 60)]
        cur.executemany("INSERT INTO pingan.patrol_ping (ts, unit_id, lon, lat, officers) VALUES (to_timestamp(%s), %s, "
                        "118.75, 32.0275, %s)", rows)
    observed(db_url, D20 + 5 * h, D20 + 2 * DAY)
    args = ("assessment", "--from", "2026-11-20", "--to", "2026-11-21", "--reach-minutes", "60", "--format", "json")
    r = report(db_url, *args)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    doc = json.loads(r.stdout)
    teams = {t["team_id"]: t for t in doc["teams"]}
    # D1S1: 00–08 received 3 h of 8: unknown; 08–16: a1–a10, 10 members, met; 16–24: b1–b3, not met
    assert (teams["D1S1"]["shifts"], teams["D1S1"]["unknown"], teams["D1S1"]["met"]) == (3, 1, 1)
    assert teams["D1S1"]["share_met"] == 0.5 and teams["D1S1"]["fewest"] == 3
    assert (teams["D2S1"]["met"], teams["D2S1"]["share_met"], teams["D2S1"]["fewest"]) == (0, 0.0, 0)
    # reach, 60 min by car: the whole demo city from anywhere in it. Samples on the hour: 00:00–04:00
    # unknown (5); 05:00–23:00 known (19), a unit on duty at 08:00 … 18:00 (a fix within 5 min): 11
    reach = {x["district_id"]: x for x in doc["reach"]}
    for d in ("D1", "D2"):
        assert (reach[d]["reach"], reach[d]["unknown"], reach[d]["samples"]) == pytest.approx((11 / 19, 5 / 24, 19))
    # the closed day is kept: with u05's fixes gone the figures stand (else D1S1's last shift would
    # have none aboard, and two samples fewer would reach), read from the store
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pingan.team_shift").fetchone()[0] == 4 * 3
        conn.execute("DELETE FROM pingan.patrol_ping WHERE unit_id = 'u05'")
    again = json.loads(report(db_url, *args).stdout)
    assert again["teams"] == doc["teams"] and again["reach"] == doc["reach"]
