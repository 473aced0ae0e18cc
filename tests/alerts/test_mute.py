"""Silences and inhibition as operators know them from Alertmanager, as timelines worked by hand:
the alert is always recorded; whether each notification (open, escalate, resolve) goes out is
asked at the moment it would go out."""

from __future__ import annotations

from alerts.lifecycle import Lifecycle, Silence
from alerts.mute import Muter
from alerts.rules import Condition
from alerts.settings import AlertSettings
from alerts.types import AlertType

T = AlertType
T0 = 1_795_000_000.0


class Pipeline:
    """Conditions › lifecycle › mute, as the service runs them; what was notified and what muted."""

    def __init__(self, muter: Muter = Muter(), silences=(), **settings):
        ids = iter(range(1, 1000))
        self.life = Lifecycle(AlertSettings(**settings), new_id=lambda: f"a{next(ids)}")
        self.muter, self.silences = muter, list(silences)
        self.sent: list[tuple[str, str, str, float]] = []
        self.muted: list[tuple[str, str, str, float, str]] = []

    def at(self, t: float, *conds: Condition) -> None:
        for c in self.life.apply(conds, T0 + t) + self.life.tick(T0 + t):
            why = self.muter.why(c.alert, T0 + t, self.life.open, self.silences)
            row = (str(c.action), str(c.alert.type), c.alert.subject, t)
            if why is None:
                self.sent.append(row)
            else:
                self.muted.append((*row, why.note))


def offline(cam: str, active: bool, since: float, street: str = "S1") -> Condition:
    return Condition(T.CAMERA_OFFLINE, cam, active, T0 + since, {"street": street, "category": "main_street"})


def test_a_silence_mutes_what_it_covers_while_it_runs_whenever_the_alert_opened():
    # camera_offline: hold 0, clear 0; escalated every 600 s while unacknowledged
    window = Silence("s1", "area", "S1", T0 + 1000, T0 + 2000, "maint-wang", "street works")
    p = Pipeline(silences=[window], for_s={"camera_offline": 0}, clear_for_s={"camera_offline": 0},
                 escalate_after_s=600)
    # cam1 opens at 100 s, before the silence: notified; escalated at 700 s: notified; at 1300 s,
    # inside the silence: muted; at 1900 s: muted; at 2500 s, after it: notified; resolved at 2600 s
    p.at(100, offline("cam1", True, 100))
    for t in range(200, 2600, 100):
        p.at(t)
    p.at(2600, offline("cam1", False, 2600))
    assert [(a, t) for a, _, s, t in p.sent if s == "cam1"] == [
        ("open", 100), ("escalate", 700), ("escalate", 2500), ("resolve", 2600)]
    assert [(a, t) for a, _, s, t, _ in p.muted if s == "cam1"] == [("escalate", 1300), ("escalate", 1900)]
    assert all("silenced by s1" in why for *_, why in p.muted)
    # cam2 opens inside the silence (1500 s): muted; resolved after it ended (2100 s): notified
    q = Pipeline(silences=[window], for_s={"camera_offline": 0}, clear_for_s={"camera_offline": 0},
                 escalate_after_s=100_000)
    q.at(1500, offline("cam2", True, 1500))
    q.at(2100, offline("cam2", False, 2100))
    assert [(a, t) for a, _, _, t, _ in q.muted] == [("open", 1500)] and q.sent == [("resolve", "camera_offline",
                                                                                        "cam2", 2100)]
    # a silence elsewhere (another street, another type, another subject) mutes nothing
    others = [Silence("s2", "area", "S9", T0, T0 + 9000, "w", "x"), Silence("s3", "type", "unit_silent", T0,
              T0 + 9000, "w", "x"), Silence("s4", "subject", "cam9", T0, T0 + 9000, "w", "x")]
    r = Pipeline(silences=others, for_s={"camera_offline": 0})
    r.at(100, offline("cam1", True, 100))
    assert r.sent == [("open", "camera_offline", "cam1", 100)] and r.muted == []


def test_an_offline_camera_mutes_its_own_health_and_image_alerts():
    p = Pipeline(for_s={"camera_offline": 0, "camera_low_fps": 0}, clear_for_s={"camera_offline": 0})
    p.at(0, Condition(T.CAMERA_LOW_FPS, "cam1", True, T0, {}), Condition(T.IMAGE_DARK, "cam2", True, T0, {}))
    p.at(100, offline("cam1", True, 100))
    p.at(200, Condition(T.IMAGE_FROZEN, "cam1", True, T0 + 200, {}))  # while it is offline: muted
    p.at(300, offline("cam1", False, 300))
    p.at(400, Condition(T.IMAGE_FROZEN, "cam1", False, T0 + 400, {}))  # it is back: the resolve goes out
    assert p.sent == [("open", "camera_low_fps", "cam1", 0), ("open", "image_dark", "cam2", 0),
                      ("open", "camera_offline", "cam1", 100), ("resolve", "camera_offline", "cam1", 300),
                      ("resolve", "image_frozen", "cam1", 400)]
    assert [m[:4] for m in p.muted] == [("open", "image_frozen", "cam1", 200)]
    assert p.muted[0][4] == "inhibited by camera_offline cam1"


def test_a_blind_spot_mutes_the_gap_and_the_offline_key_cameras_it_is_made_of():
    p = Pipeline(Muter(key_cell_of={"camK": "K1"}), for_s={"camera_offline": 0})
    p.at(0, Condition(T.COVERAGE_GAP, "K1", True, T0, {}), Condition(T.BLIND_SPOT, "K1", True, T0, {}),
         offline("camK", True, 0), offline("camZ", True, 0))
    assert p.sent == [("open", "blind_spot", "K1", 0), ("open", "camera_offline", "camZ", 0)]
    assert sorted(m[:3] for m in p.muted) == [("open", "camera_offline", "camK"), ("open", "coverage_gap", "K1")]


def test_a_stalled_ingest_mutes_the_silences_that_began_after_the_feed_stopped():
    # the feed stopped at 1000 s; ingest_stalled opens at 1120 s (120 s later)
    p = Pipeline(Muter(stall_s=120), for_s={"unit_silent": 0})
    p.at(1120, Condition(T.INGEST_STALLED, "ingest", True, T0 + 1120, {}))
    p.at(1130, Condition(T.UNIT_SILENT, "u1", True, T0 + 900, {}),  # silent before the feed stopped: news
         Condition(T.UNIT_SILENT, "u2", True, T0 + 1050, {}))  # after: the stall's echo
    assert ("open", "unit_silent", "u1", 1130) in p.sent
    assert [m[:3] for m in p.muted] == [("open", "unit_silent", "u2")]
