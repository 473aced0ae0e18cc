"""`pingan import`: a past stretch declared received, as the assessment and the alert rules then
read it (pingan.ingest_uptime); what it refuses, with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from store.queries import read_observed

from ..conftest import query


def pingan(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PINGAN_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "pingan.cli", "import", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_a_past_stretch_is_declared_received_once_its_data_is_in(db_url):
    import psycopg

    now = time.time()
    # nothing stored two to one hours ago: refused, unless the stretch really was quiet
    bad = pingan(db_url, "--from", "-2h", "--to", "-1h", "--name", "backlog u01")
    assert bad.returncode == 2 and "nothing is stored" in bad.stderr and "--allow-empty" in bad.stderr
    query(db_url, "INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) VALUES (to_timestamp(%s), 'u01', 32.03, "
                  "118.75)", (now - 5400,))
    ok = pingan(db_url, "--from", "-2h", "--to", "-1h", "--name", "backlog u01")
    assert ok.returncode == 0 and "received:" in ok.stdout and "1.00 h" in ok.stdout, ok.stderr
    with psycopg.connect(db_url) as conn:
        seen = read_observed(conn, now - 3 * 3600, now)
    assert len(seen) == 1 and abs(seen[0][0] - (now - 7200)) < 5 and abs(seen[0][1] - (now - 3600)) < 5
    assert query(db_url, "SELECT worker_id, source FROM pingan.ingest_uptime") == [("import:backlog u01", "import")]
    listed = pingan(db_url)
    assert listed.returncode == 0 and "import  backlog u01" in listed.stdout
    # refusals, each with its reason
    for args, said in ((("--from", "-1h", "--to", "+1h", "--name", "x"), "in the future"),
                       (("--from", "-1h", "--to", "-2h", "--name", "x"), "after --from"),
                       (("--from", "-2h", "--to", "-1h"), "--name"),
                       (("--from", "-2h", "--name", "x"), "both --from and --to"),
                       (("--from", "soon", "--to", "-1h", "--name", "x"), "'soon' is not a time")):
        r = pingan(db_url, *args)
        assert r.returncode == 2 and said in r.stderr, (args, r.stderr)


def test_judging_a_period_not_received_says_how_to_declare_it(db_url):
    """`pingan alerts --period` on history nobody received would judge nothing (all unknown) in
    silence: it says how much was received, and the `pingan import` line that declares the rest."""
    import psycopg

    from pingan.imports import unreceived
    from store.results import declare_received

    now = time.time()
    a, b = now - 7200, now - 3600
    with psycopg.connect(db_url) as conn:
        said = unreceived(conn, a, b, "Asia/Shanghai")
        assert said is not None and said.startswith("0% of") and "pingan import --from 20" in said
        declare_received(conn, "history", [(a, a + 1800)])
        assert unreceived(conn, a, b, "Asia/Shanghai").startswith("50% of")
        declare_received(conn, "history", [(a, b)])
        assert unreceived(conn, a, b, "Asia/Shanghai") is None
