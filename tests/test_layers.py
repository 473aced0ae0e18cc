"""The layers' arrows point down: records and settings below everything, the store below the
ingest, the ingest below the composition root; the product never imports the simulators (the
composition root's simulate verbs excepted), and the benchmarks never import the tests."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> dict[str, set[str]]:
    """module path → the top-level packages it imports (absolute imports only)."""
    gc.collect()  # (no finalizer inside the parses below: see test_schema's fixture)
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = names
    return out


def test_every_arrow_points_down():
    forbidden = {
        "geofence": {"store", "ingest", "assessment", "pingan", "simulators", "alerts", "api", "reports", "tests"},
        "store": {"ingest", "assessment", "pingan", "simulators", "api", "reports", "tests"},
        "ingest": {"assessment", "pingan", "simulators", "api", "reports", "tests"},
        "assessment": {"ingest", "pingan", "simulators", "api", "reports", "tests"},
        "alerts": {"pingan", "simulators", "api", "reports", "tests"},
        "reports": {"ingest", "alerts", "pingan", "simulators", "api", "tests"},
        "api": {"pingan", "simulators", "tests"},
        "simulators": {"tests"},
        "bench": {"tests"},
    }
    wrong = [(module, sorted(names & banned)) for package, banned in forbidden.items()
             for module, names in imports(package).items() if names & banned]
    assert wrong == []


def test_the_product_never_imports_the_simulators():
    # the composition root wires the simulate verbs (`pingan run --simulate`, `pingan simulate`): only cli.py
    wrong = [m for m, names in imports("pingan").items() if "simulators" in names and m != "pingan/cli.py"]
    assert wrong == []
