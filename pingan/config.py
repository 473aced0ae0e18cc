"""Typed, strict configuration: one model per section, unknown keys rejected.

Sources, later wins: built-in defaults < the TOML file named by ``PINGAN_CONFIG`` <
``PINGAN_*`` environment variables. ``PINGAN_MQTT_URL``, ``PINGAN_DATABASE_URL`` and
``PINGAN_REDIS_URL`` are the short forms of ``mqtt.url``, ``database.url`` and ``redis.url``;
any other key is reachable as ``PINGAN_<SECTION>__<KEY>`` (for example
``PINGAN_INGEST__AUTO_REGISTER=true``). Every problem is reported with its key path.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Mapping, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.settings import AlertSettings
from api.settings import ApiSettings
from ingest.settings import IngestSettings, MqttSettings

ENV_PREFIX = "PINGAN_"
ENV_SHORT = {
    "PINGAN_MQTT_URL": ("mqtt", "url"),
    "PINGAN_DATABASE_URL": ("database", "url"),
    "PINGAN_REDIS_URL": ("redis", "url"),
}
ENV_IGNORED = {"PINGAN_CONFIG"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str | None = Field(None, description="postgresql://…; unset runs an embedded PostgreSQL")
    data_dir: Path = Field(
        Path(platformdirs.user_data_dir("pingan")) / "pgdata",
        description="Data directory of the embedded PostgreSQL",
    )
    compress_after_days: int = Field(7, ge=1, description="TimescaleDB: compress chunks older than this")
    retain_days: int = Field(400, ge=1, description="TimescaleDB: drop raw chunks older than this")
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    timescaledb: Literal["auto", "require", "off"] = Field(
        "auto", description="auto: use TimescaleDB when the server preloads it, else plain PostgreSQL with a "
                            "warning; require: refuse to migrate without it; off: plain PostgreSQL")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("postgresql", "postgres"):
            raise ValueError("expected postgresql://user@host:port/dbname")
        return v


class RedisSettings(_Section):
    url: str | None = Field(None, description="redis://host:6379/0; unset uses an in-process Redis")
    retry_s: float = Field(5.0, gt=0, le=300, description="How often a down Redis is probed again")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected redis://host:port/db")
        return v


class GridSettings(_Section):
    path: Path | None = Field(None, description="GeoJSON of the four-level grid; unset uses the demo city")
    crs: Literal["WGS84", "GCJ02"] = Field("WGS84", description="Coordinates of the grid file (GCJ02: Chinese web maps)")
    tolerance_m: float = Field(1.0, ge=0, le=1000, description="Nesting and tiling tolerance, metres")


class UnitSpec(_Section):
    id: str = Field(min_length=1, max_length=64)
    kind: Literal["foot", "bike", "car"] = "car"
    team: str | None = None
    name: str | None = None
    owntracks: str | None = Field(None, pattern=r"^[^/#+]+/[^/#+]+$", description="OwnTracks user/device")


class RegistrySettings(_Section):
    cameras: Path | None = Field(None, description="GeoJSON points of the cameras")
    cameras_crs: Literal["WGS84", "GCJ02"] = "WGS84"
    checkpoints: Path | None = Field(None, description="GeoJSON points of the checkpoints")
    checkpoints_crs: Literal["WGS84", "GCJ02"] = "WGS84"
    units: tuple[UnitSpec, ...] = ()

    @field_validator("units")
    @classmethod
    def _unique(cls, v: tuple[UnitSpec, ...]) -> tuple[UnitSpec, ...]:
        seen: set[str] = set()
        owntracks: dict[str, str] = {}
        for u in v:
            if u.id in seen:
                raise ValueError(f"unit id {u.id!r} appears twice")
            seen.add(u.id)
            if u.owntracks:
                if u.owntracks in owntracks:
                    raise ValueError(f"units {owntracks[u.owntracks]!r} and {u.id!r} both have owntracks "
                                     f"{u.owntracks!r}")
                owntracks[u.owntracks] = u.id
        return v


CAMERA_HEARTBEAT_S = {"main_street": 60.0, "busy_junction": 60.0, "key_department": 60.0, "key_site": 60.0,
                      "perimeter_junction": 60.0, "other": 300.0}


class CoverageSettings(_Section):
    """The standards coverage is judged against (see geofence/coverage.py for the rules)."""

    timezone: str = Field("Asia/Shanghai", description="The city's time zone: active hours, schedules, dates")
    active_from: str = Field("00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Daily patrol hours start")
    active_to: str = Field("00:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$",
                           description="… and end (equal to active_from: all day; earlier: over midnight)")
    max_gap_s: float = Field(300, gt=0, le=86_400, description="Fixes further apart: the stretch is unknown")
    step_m: float = Field(25, gt=0, le=1000, description="Interpolation step between fixes")
    min_dwell_foot_s: float = Field(60, ge=0)
    min_dwell_bike_s: float = Field(60, ge=0)
    min_dwell_car_s: float = Field(30, ge=0)
    revisit_key_minutes: float = Field(60, gt=0, description="Revisit interval of key cells without their own")
    revisit_normal_minutes: float = Field(240, gt=0, description="… of other cells")
    min_camera_uptime: float = Field(0.95, ge=0, le=1)
    min_checkpoint_compliance: float = Field(0.90, ge=0, le=1)
    team_minimum: int = Field(10, ge=1, description="Active members a township team needs per shift")
    camera_heartbeat_s: dict[str, float] = Field(
        default_factory=lambda: dict(CAMERA_HEARTBEAT_S),
        description="Expected heartbeat interval per camera category, for cameras without their own heartbeat_s")
    camera_missed_heartbeats: float = Field(
        3, ge=1, le=100, description="A camera silent for more than this many heartbeat intervals is down "
                                     "from the moment its first missed heartbeat was due")

    @field_validator("camera_heartbeat_s")
    @classmethod
    def _categories(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(CAMERA_HEARTBEAT_S))
        if unknown:
            raise ValueError(f"unknown camera categories {unknown} (known: {', '.join(CAMERA_HEARTBEAT_S)})")
        if any(not 0 < s <= 86_400 for s in v.values()):
            raise ValueError("heartbeat intervals are seconds in (0, 86400]")
        return {**CAMERA_HEARTBEAT_S, **v}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class MetricsSettings(_Section):
    port: int | None = Field(None, ge=1, le=65_535, description="Serve Prometheus metrics on this port")


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "text"


class Settings(_Section):
    mqtt: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    ingest: IngestSettings = IngestSettings()
    grid: GridSettings = GridSettings()
    registry: RegistrySettings = RegistrySettings()
    coverage: CoverageSettings = CoverageSettings()
    alerts: AlertSettings = AlertSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _embedded(self) -> "Settings":
        if self.mqtt.url is None and self.mqtt.protocol == "5":
            # The in-process broker speaks 3.1.1 only.
            object.__setattr__(self, "mqtt", self.mqtt.model_copy(update={"protocol": "3.1.1"}))
        if self.ingest.max_pending_messages < self.mqtt.receive_maximum:
            raise ValueError("ingest.max_pending_messages must be >= mqtt.receive_maximum")
        return self

    @property
    def demo(self) -> bool:
        """No grid given: run on the built-in demo city."""
        return self.grid.path is None


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _env_value(raw: str, key: tuple[str, ...]) -> Any:
    """An environment value read by its field's type: as written for a text field (so
    PINGAN_MQTT__CLIENT_ID=1234 is the id "1234"), else as a TOML value when it parses as one."""
    if _is_text(key):
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _is_text(key: tuple[str, ...]) -> bool:
    section = Settings.model_fields.get(key[0])
    model = getattr(section, "annotation", None)
    field = getattr(model, "model_fields", {}).get(key[1]) if len(key) == 2 else None
    if field is None:
        return False
    kinds = get_args(field.annotation) if get_origin(field.annotation) in (Union, UnionType) else (field.annotation,)
    kinds = [k for k in kinds if k is not type(None)]
    return bool(kinds) and all(k in (str, Path) or (get_origin(k) is Literal and all(isinstance(a, str) for a in
                                                                                      get_args(k))) for k in kinds)


def _merge(into: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = into
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def load_settings(environ: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """Build the settings, raising ConfigError listing every problem with its key path."""
    data, origin, problems, path = _gather(environ, path)
    if not problems:
        try:
            return Settings.model_validate(data)
        except ValidationError as e:
            problems.extend(_problems(e, origin, path))
    raise ConfigError(problems)


def load_settings_leniently(environ: Mapping[str, str] | None = None) -> tuple[Settings, list[Problem]]:
    """For `pingan check`: every configuration problem, and the settings with each offending
    key left at its default, so that the grid and registry can be checked as well."""
    data, origin, problems, path = _gather(environ, None)
    while True:  # drop what is wrong, a round of errors at a time
        try:
            return Settings.model_validate(data), problems
        except ValidationError as e:
            problems.extend(_problems(e, origin, path))
            locs = [tuple(str(x) for x in err["loc"]) for err in e.errors()]
            if not all(locs):  # a check across sections: nothing to leave out
                return Settings(), problems
            # leave out the offending key, or else its whole setting (a list, say)
            if not any([_drop(data, loc) for loc in locs]) and not any([_drop(data, loc[:2]) for loc in locs]):
                return Settings(), problems


def _gather(environ: Mapping[str, str] | None, path: Path | None
            ) -> tuple[dict[str, Any], dict[tuple[str, ...], str], list[Problem], Path | None]:
    """The file's values, then the environment's over them: (data, where each came from, problems, file)."""
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    path = path or (Path(environ["PINGAN_CONFIG"]) if environ.get("PINGAN_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            _resolve_paths(data, path.resolve().parent)
        except FileNotFoundError:
            problems.append(Problem(str(path), "config file not found (PINGAN_CONFIG)"))
        except tomllib.TOMLDecodeError as e:
            problems.append(Problem(str(path), f"not valid TOML: {e}"))
    sections = set(Settings.model_fields)
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        if name in ENV_SHORT:
            key = ENV_SHORT[name]
        else:
            key = tuple(p.lower() for p in name[len(ENV_PREFIX):].split("__"))
            if len(key) < 2 or key[0] not in sections:
                problems.append(Problem(name, "unknown setting (expected PINGAN_<SECTION>__<KEY>, "
                                              f"sections: {', '.join(sorted(sections))})"))
                continue
        _merge(data, key, raw if name in ENV_SHORT else _env_value(raw, key))
        origin[key] = name
    return data, origin, problems, path


def _problems(e: ValidationError, origin: Mapping[tuple[str, ...], str], path: Path | None) -> list[Problem]:
    out = []
    for err in e.errors():
        loc = tuple(str(x) for x in err["loc"])
        where = ".".join(loc) or "(top level)"
        if loc in origin:
            where += f" (from {origin[loc]})"
        elif path is not None:
            where = f"{path}: {where}"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(Problem(where, msg))
    return out


def _drop(data: dict[str, Any], loc: tuple[str, ...]) -> bool:
    """Leave the value at `loc` out (its default applies); whether there was one."""
    node: Any = data
    for key in loc[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return isinstance(node, dict) and node.pop(loc[-1], _MISSING) is not _MISSING


_MISSING = object()


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """File paths in the config file are relative to the file, not to the working directory."""
    for section, key in (("grid", "path"), ("registry", "cameras"), ("registry", "checkpoints"),
                         ("ingest", "snapshot_dir"), ("database", "data_dir")):
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value:
            data[section][key] = str((base / value).expanduser()) if not Path(value).is_absolute() else value
