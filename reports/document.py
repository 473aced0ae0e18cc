"""A report as one document model, written out in each format people ask for.

A ``Report`` holds what every report states (its period, grid versions, data completeness and a
short methods section), headline figures against their targets, tables and, for HTML and PDF,
charts as inline SVG. JSON carries everything but the charts; CSV one table (the first, or the
one named); XLSX one sheet per table; HTML a printable page; PDF that page through WeasyPrint.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import jinja2

FORMATS = ("json", "csv", "xlsx", "html", "pdf")


@dataclass
class Table:
    name: str  # a short key: districts, streets …
    title: str
    columns: Sequence[tuple[str, str]]  # (key, heading)
    rows: list[dict[str, Any]]
    percent: frozenset[str] = frozenset()  # columns that are shares (shown as %)


@dataclass
class Headline:
    label: str
    value: float | None
    target: float | None = None  # shares; None: no target
    note: str = ""
    upper: float | None = None  # the value were every unknown met (None: nothing unknown)

    @property
    def meets(self) -> bool | None:
        """Against the target: met, not met even with every unknown met, else unknown (None)."""
        if self.value is None or self.target is None:
            return None
        if self.value >= self.target:
            return True
        return None if self.upper is not None and self.upper >= self.target else False

    @classmethod
    def attainment(cls, label: str, verdicts: Sequence[bool | None], target: float | None) -> "Headline":
        """The share of areas (or cameras, teams …) meeting their standard, each met, not met or
        unknown: the share known met, and what it would be were the unknown ones met."""
        n, met, unknown = len(verdicts), sum(v is True for v in verdicts), sum(v is None for v in verdicts)
        return cls(label, met / n if n else None, target,
                   f"{met} of {n}" + (f", {unknown} unknown" if unknown else ""),
                   (met + unknown) / n if n and unknown else None)


@dataclass
class Report:
    kind: str
    title: str
    period: dict[str, Any]  # label, from, to (RFC 3339), timezone
    about: dict[str, Any]  # grid versions, data completeness, generated at …
    headlines: list[Headline]
    tables: list[Table]
    methods: list[str]
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, inline SVG): HTML and PDF only
    notes: list[str] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "period": self.period, "about": self.about,
                "headlines": [{"label": h.label, "value": h.value, "target": h.target, "meets": h.meets,
                               "note": h.note} for h in self.headlines],
                **{t.name: t.rows for t in self.tables}, "methods": self.methods, "notes": self.notes}


def render(report: Report, fmt: str, table: str | None = None) -> bytes:
    if fmt == "json":
        return json.dumps(report.data(), ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        return _csv(_table(report, table))
    if fmt == "xlsx":
        return _xlsx(report)
    if fmt == "html":
        return html(report).encode()
    if fmt == "pdf":
        return pdf(report)
    raise ValueError(f"no format {fmt!r}: one of {', '.join(FORMATS)}")


def _table(report: Report, name: str | None) -> Table:
    if name is None:
        return report.tables[0]
    for t in report.tables:
        if t.name == name:
            return t
    raise ValueError(f"no table {name!r} in this report: {', '.join(t.name for t in report.tables)}")


def _csv(t: Table) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([k for k, _ in t.columns])
    for r in t.rows:
        w.writerow(["" if r.get(k) is None else r.get(k) for k, _ in t.columns])
    return ("\ufeff" + out.getvalue()).encode()  # (a BOM: spreadsheets then read the Chinese names right)


def _xlsx(report: Report) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    pct, bold = book.add_format({"num_format": "0.0%"}), book.add_format({"bold": True})
    about = book.add_worksheet("about")
    rows = [("report", report.title), ("period", report.period.get("label")), ("from", report.period.get("from")),
            ("to", report.period.get("to")), *((k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                                                 else v) for k, v in report.about.items())]
    rows += [(h.label, h.value) for h in report.headlines]
    for i, (k, v) in enumerate(rows):
        about.write(i, 0, k, bold)
        about.write(i, 1, v, pct if isinstance(v, float) and 0 <= v <= 1 else None)
    about.write(len(rows) + 1, 0, "methods", bold)
    for i, m in enumerate(report.methods):
        about.write(len(rows) + 2 + i, 0, m)
    about.set_column(0, 0, 28)
    about.set_column(1, 1, 60)
    for t in report.tables:
        sheet = book.add_worksheet(t.name[:31])
        for j, (_, heading) in enumerate(t.columns):
            sheet.write(0, j, heading, bold)
        for i, r in enumerate(t.rows, start=1):
            for j, (k, _) in enumerate(t.columns):
                v = r.get(k)
                sheet.write(i, j, v, pct if k in t.percent and v is not None else None)
        sheet.freeze_panes(1, 1)
        sheet.autofilter(0, 0, len(t.rows), len(t.columns) - 1)
        sheet.set_column(0, len(t.columns) - 1, 14)
    book.close()
    return out.getvalue()


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.1%}"


_ENV.filters["pct"] = _pct


def html(report: Report) -> str:
    return _ENV.get_template("report.html.j2").render(r=report, markup=jinja2.utils.markupsafe.Markup)


def pdf(report: Report) -> bytes:
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # (its steps, one line each: not news)
    try:
        import weasyprint
    except OSError as e:  # the system's Pango is missing
        raise RuntimeError(f"PDF needs WeasyPrint's system libraries (Pango): {e}") from None
    return weasyprint.HTML(string=html(report)).write_pdf()
