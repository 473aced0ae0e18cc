"""The assessment as the service keeps it: every few minutes, store what has closed — each
closed hour of every camera's uptime, each closed day of every cell's coverage — and compute
again what late data made stale, so reports over quarters and years read stored results."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta
from typing import Callable

import psycopg

from store.registry import versions_between
from store.results import HOUR_S, stored_days

from . import strength
from .defence import Assessor, CoverageError
from .periods import city_days, local_date, midnight
from .standards import Standards
from .uptime import SETTLE_S, camera_uptime

log = logging.getLogger(__name__)


class Sweeper:
    """Runs `sweep` on a timer in a thread of its own; errors are logged, never fatal."""

    def __init__(self, connect: Callable[[], psycopg.Connection], standards: Standards, *, timescale: bool,
                 every_s: float = 600.0, first_after_s: float = 60.0, hours_back: int = 6, days_back: int = 7,
                 clock: Callable[[], float] = time.time, rules: strength.Rules | None = None):
        self.connect = connect
        self.rules = rules  # team strength and response reach, stored per closed day too (when given)
        self.std = standards
        self.timescale = timescale
        self.every_s = every_s
        self.first_after_s = first_after_s
        self.hours_back = hours_back
        self.days_back = days_back
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assessment-sweeper", daemon=True)

    def start(self) -> "Sweeper":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        wait = self.first_after_s
        while not self._stop.wait(wait):
            wait = self.every_s
            try:
                with self.connect() as conn:
                    self.sweep(conn)
            except (psycopg.Error, CoverageError, ValueError) as e:
                log.warning("assessment sweep postponed: %s", e)

    def sweep(self, conn: psycopg.Connection) -> tuple[int, int]:
        """Store the closed hours of the last `hours_back` and the closed days of the last
        `days_back` that are missing or stale. Returns (hours swept, days computed)."""
        now = self.clock()
        tz = self.std.timezone
        assessor = Assessor(conn, self.std, timescale=self.timescale, clock=lambda: now)
        closed = math.floor((now - SETTLE_S) / HOUR_S) * HOUR_S
        since = closed - self.hours_back * HOUR_S
        hours = 0
        for version, _, _ in versions_between(conn, since, closed):
            cameras = assessor.city(version).cameras
            camera_uptime(conn, cameras, self.std, since, closed, now, timescale=self.timescale)
            hours = int((closed - since) / HOUR_S)
        days = 0
        today = local_date(now, tz)
        for d, d0, d1 in city_days(midnight(today - timedelta(days=self.days_back), tz), midnight(today, tz), tz):
            if d1 > now - SETTLE_S:
                continue
            versions = versions_between(conn, d0, d1)
            if len(versions) != 1:
                continue  # a day split by a new version is stored when read, part by part
            cells = len(assessor.city(versions[0][0]).grid.leaves)
            if any(s.cells == cells and s.version == versions[0][0] for s in stored_days(conn, d0, d1, self.std.digest())):
                continue
            try:
                assessor.period(d0, d1)  # a closed day: stored as a by-product
                days += 1
            except CoverageError as e:
                log.debug("day %s not assessed: %s", d, e)
        if self.rules is not None:  # (the days already kept are read, not computed again)
            strength.period(conn, self.std, self.rules, midnight(today - timedelta(days=self.days_back), tz),
                            midnight(today, tz), now, assessor.city)
        if hours or days:
            log.info("assessment sweep: camera uptime of the last %d closed hours stored; %d day(s) assessed",
                     hours, days)
        return hours, days
