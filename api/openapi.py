"""The API's OpenAPI 3.1 document (served at ``/api/v1/openapi.json``; the tests validate every
response against it)."""

from __future__ import annotations

from alerts.types import AlertType

NUM = {"type": "number"}
NUM_OR_NULL = {"type": ["number", "null"]}
STR_OR_NULL = {"type": ["string", "null"]}


def _obj(props: dict, required: list[str] | None = None, extra: bool = False) -> dict:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required,
            "additionalProperties": extra}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {str(code): {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
          for code, text in ((400, "bad request"), (401, "no valid token"), (403, "not allowed for this token"),
                             (404, "not found"), (413, "body too large"), (429, "too many requests"))}


def _ok(schema: str, text: str, code: str = "200") -> dict:
    return {code: {"description": text, "content": {"application/json": {"schema": _ref(schema)}}}, **ERRORS}


def _query(name: str, schema: dict, text: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


SCHEMAS = {
    "Error": _obj({"error": {"type": "string"}, "reason": {"type": "string"}}),
    "Health": _obj({"status": {"const": "ok"}}),
    "Ready": _obj({"status": {"enum": ["ready", "not ready"]},
                   "parts": {"type": "object", "additionalProperties": {"type": "string"}}}),
    "Unit": _obj({"unit_id": {"type": "string"}, "kind": {"enum": ["foot", "bike", "car"]}, "team": STR_OR_NULL,
                  "district": STR_OR_NULL, "ts": NUM_OR_NULL, "lat": NUM_OR_NULL, "lon": NUM_OR_NULL,
                  "speed_mps": NUM_OR_NULL, "cell_id": STR_OR_NULL, "officers": {"type": "array", "items": {"type": "string"}},
                  "age_s": NUM_OR_NULL, "stale": {"type": "boolean"}}),
    "Units": _obj({"units": {"type": "array", "items": _ref("Unit")}}),
    "Track": _obj({"type": {"const": "Feature"},
                   "geometry": {"oneOf": [{"type": "null"},
                                          _obj({"type": {"const": "Point"}, "coordinates": {"type": "array", "items": NUM}}),
                                          _obj({"type": {"const": "LineString"},
                                                "coordinates": {"type": "array", "items": {"type": "array", "items": NUM}}})]},
                   "properties": _obj({"unit_id": {"type": "string"}, "from": NUM, "to": NUM, "fixes": {"type": "integer"},
                                       "simplified": {"type": "boolean"}, "times": {"type": "array", "items": NUM}})}),
    "Camera": _obj({"camera_id": {"type": "string"}, "name": {"type": "string"}, "category": {"type": "string"},
                    "lon": NUM, "lat": NUM, "cell_id": STR_OR_NULL, "district": STR_OR_NULL,
                    "online": {"type": ["boolean", "null"]}, "last_seen": NUM_OR_NULL, "fps": NUM_OR_NULL,
                    "image_faults": {"type": "array", "items": {"type": "string"}},
                    "uptime_24h": NUM_OR_NULL, "uptime_7d": NUM_OR_NULL}),
    "Cameras": _obj({"cameras": {"type": "array", "items": _ref("Camera")}}),
    "Cells": _obj({"type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _obj({
        "type": {"const": "Feature"}, "geometry": {"type": "object"},
        "properties": _obj({"cell_id": {"type": "string"}, "name": {"type": "string"}, "street": STR_OR_NULL,
                            "district": STR_OR_NULL, "priority": {"enum": ["key", "normal"]}, "revisit_s": NUM,
                            "last_fix_at": NUM_OR_NULL, "last_visit_at": NUM_OR_NULL,
                            "basis": {"enum": ["visit", "fix"]}, "since_s": NUM_OR_NULL,
                            "state": {"enum": ["gap", "due", "ok", "unknown"]}, "gap_since": NUM_OR_NULL})})}}),
    "Checkpoint": _obj({"checkpoint_id": {"type": "string"}, "name": {"type": "string"}, "lon": NUM, "lat": NUM,
                        "cell_id": STR_OR_NULL, "district": STR_OR_NULL, "min_staff": {"type": "integer"},
                        "scheduled_now": {"type": "boolean"}, "officers": {"type": "array", "items": {"type": "string"}},
                        "staffed": {"type": "boolean"}}),
    "Checkpoints": _obj({"checkpoints": {"type": "array", "items": _ref("Checkpoint")}}),
    "Alert": _obj({"alert_id": {"type": "string"}, "type": {"enum": sorted(str(t) for t in AlertType)},
                   "subject": {"type": "string"}, "severity": {"enum": ["critical", "major", "minor", "warning"]},
                   "state": {"enum": ["open", "acknowledged", "resolved"]}, "since": NUM, "opened_at": NUM,
                   "scope": {"type": "object"}, "detail": {"type": "object"}, "acknowledged_at": NUM_OR_NULL,
                   "acknowledged_by": STR_OR_NULL, "resolved_at": NUM_OR_NULL, "resolved_by": STR_OR_NULL,
                   "escalations": {"type": "integer"}, "silence_id": STR_OR_NULL}),
    "AlertEvent": _obj({"ts": NUM, "action": {"type": "string"}, "actor": {"type": "string"}, "note": STR_OR_NULL},
                       extra=True),
    "Alerts": _obj({"alerts": {"type": "array", "items": _ref("Alert")}, "total": {"type": "integer"},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}),
    "Note": _obj({"note": {"type": "string", "maxLength": 2000}}, required=[]),
    "SilenceRequest": _obj({"kind": {"enum": ["subject", "area", "type"]}, "target": {"type": "string", "minLength": 1},
                            "why": {"type": "string", "minLength": 1}, "duration_s": {"type": "number", "minimum": 60,
                                                                                      "maximum": 2_592_000}}),
    "Silence": _obj({"silence_id": {"type": "string"}, "kind": {"enum": ["subject", "area", "type"]},
                     "target": {"type": "string"}, "starts": NUM, "ends": NUM, "who": {"type": "string"},
                     "why": {"type": "string"}, "ended_by": STR_OR_NULL}),
    "Silences": _obj({"silences": {"type": "array", "items": _ref("Silence")}}),
    "AreaCoverage": _obj({"area_id": {"type": "string"}, "name": STR_OR_NULL, "level": {"type": "string"},
                          "cells": {"type": "integer"}, "covered": NUM, "unknown": NUM, "not_covered": NUM,
                          "meets_target": {"type": "boolean"}}),
    "Coverage": _obj({"from": NUM, "to": NUM, "level": {"type": "string"}, "target": NUM,
                      "areas": {"type": "array", "items": _ref("AreaCoverage")}}),
}

SCHEMAS["AlertWithEvents"] = _obj({**SCHEMAS["Alert"]["properties"],
                                   "events": {"type": "array", "items": _ref("AlertEvent")}})
_TIME = {"type": "number", "minimum": 0, "maximum": 4e9}
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Pingan command centre API", "version": "1",
             "description": "Live units and cameras, tracks, alerts and coverage of the city's patrol grid. Every "
                            "path but this document needs `Authorization: Bearer pa_…` (see `pingan token create`); "
                            "what a token sees is limited to its districts."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
    "paths": {
        "/healthz": {"get": {"summary": "the process is up", "security": [],
                             "responses": {"200": {"description": "up", "content": {"application/json": {
                                 "schema": _ref("Health")}}}}}},
        "/readyz": {"get": {"summary": "database, Redis and broker reachable", "security": [],
                            "responses": {code: {"description": text, "content": {"application/json": {
                                "schema": _ref("Ready")}}} for code, text in (("200", "ready"), ("503", "not ready"))}}},
        "/api/v1/openapi.json": {"get": {"summary": "this document", "security": [], "responses": {"200": {
            "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/api/v1/units": {"get": {"summary": "every unit with its last position, age and stale flag",
                                  "description": "The answer carries an ETag; asked again with If-None-Match, "
                                                 "304 until the live state was read again (`api.units_fresh_s`).",
                                  "parameters": [{"name": "If-None-Match", "in": "header", "required": False,
                                                  "schema": {"type": "string"}}],
                                  "responses": {**_ok("Units", "units"),
                                                "304": {"description": "unchanged since the ETag given"}}}},
        "/api/v1/units/{unit_id}/track": {"get": {
            "summary": "a unit's track (GeoJSON), simplified for long ranges",
            "parameters": [{"name": "unit_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           _query("from", _TIME, "epoch seconds (default: an hour before `to`)"),
                           _query("to", _TIME, "epoch seconds (default: now)"),
                           _query("max_points", {"type": "integer", "minimum": 2, "maximum": 100_000},
                                  "at most this many vertices (default 2000)")],
            "responses": _ok("Track", "the track")}},
        "/api/v1/cameras": {"get": {
            "summary": "cameras with status, time-based uptime (24 h, 7 d) and current image faults",
            "parameters": [_query("uptime", {"enum": ["true", "false"]}, "compute uptime (default true)")],
            "responses": _ok("Cameras", "cameras")}},
        "/api/v1/cells": {"get": {
            "summary": "grid cells (GeoJSON) with their live coverage state: time since a unit was last there against "
                       "the revisit interval, open gaps", "responses": _ok("Cells", "cells")}},
        "/api/v1/checkpoints": {"get": {"summary": "checkpoints with the officers checked in now against min_staff",
                                        "responses": _ok("Checkpoints", "checkpoints")}},
        "/api/v1/cameras/{camera_id}/{kind}": {"get": {
            "summary": "a camera's newest snapshot, or its reference view",
            "parameters": [{"name": "camera_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "kind", "in": "path", "required": True, "schema": {"enum": ["snapshot", "reference"]}},
                           _query("light", {"enum": ["colour", "grey", "night"]}, "reference: the view in this light")],
            "responses": {"200": {"description": "JPEG (X-Taken-At: epoch seconds)",
                                  "content": {"image/jpeg": {"schema": {"type": "string", "contentEncoding": "binary"}}}},
                          **ERRORS}}},
        "/api/v1/alerts": {"get": {
            "summary": "alerts, newest first, paged",
            "parameters": [_query("state", {"enum": ["active", "open", "acknowledged", "resolved", "all"]}, "default active"),
                           _query("type", {"enum": sorted(str(t) for t in AlertType)}, "only this type"),
                           _query("subject", {"type": "string"}, "only this subject"),
                           _query("district", {"type": "string"}, "only this district"),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "default 50"),
                           _query("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, "default 0")],
            "responses": _ok("Alerts", "alerts")}},
        "/api/v1/alerts/{alert_id}": {"get": {
            "summary": "one alert and its history",
            "parameters": [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "its id or a unique prefix"}],
            "responses": _ok("AlertWithEvents", "the alert")}},
        **{f"/api/v1/alerts/{{alert_id}}/{action}": {"post": {
            "summary": f"{action} an alert (recorded with the token's owner)",
            "parameters": [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("Note")}}},
            "responses": {**_ok("Alert", "the alert as it is now"),
                          "409": {"description": "already in that state",
                                  "content": {"application/json": {"schema": _ref("Error")}}}}}}
           for action in ("acknowledge", "resolve")},
        "/api/v1/silences": {
            "post": {"summary": "a maintenance window for something in the registry: alerts still recorded, their "
                                "notifications held back while it runs",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref("SilenceRequest")}}},
                     "responses": _ok("Silence", "the silence", "201")},
            "get": {"summary": "the silences running now (a token limited to districts: those on its areas)",
                    "responses": _ok("Silences", "silences")}},
        "/api/v1/silences/{silence_id}": {"delete": {
            "summary": "end a running silence now (recorded with the token's owner)",
            "parameters": [{"name": "silence_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "its id or a unique prefix"}],
            "responses": _ok("Silence", "the silence, ended")}},
        "/api/v1/live": {"get": {
            "summary": "the live feed: a WebSocket of JSON messages (kind position, camera, alert; each with its stream "
                       "and id) for the token's districts; a client that falls behind is closed with code 4008",
            "parameters": [_query("feed", {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$"},
                                  "resume after this id of pingan:feed"),
                           _query("alerts", {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$"},
                                  "resume after this id of pingan:alerts"),
                           _query("access_token", {"type": "string"}, "the bearer token (browsers cannot set headers "
                                                                     "on a WebSocket)")],
            "responses": {"101": {"description": "switching to the WebSocket protocol"}, **ERRORS}}},
        "/api/v1/coverage": {"get": {
            "summary": "defence-system coverage of a period per area of a level (the figures of `pingan coverage`)",
            "parameters": [_query("from", _TIME, "epoch seconds (default: a day before `to`)"),
                           _query("to", _TIME, "epoch seconds (default: now)"),
                           _query("level", {"enum": ["city", "district", "street", "grid"]}, "default district")],
            "responses": {**_ok("Coverage", "coverage"),
                          "422": {"description": "the period cannot be assessed (the reason says why)",
                                  "content": {"application/json": {"schema": _ref("Error")}}}}}},
        "/api/v1/reports/{kind}": {"get": {
            "summary": "a report as a document (the same as `pingan report KIND`)",
            "description": "assessment, ranking (a quarter or a year), uptime (for maintenance teams) or patrol, for a "
                           "named period or from/to, in the format asked for. A token limited to districts asks for "
                           "an area within them.",
            "parameters": [{"name": "kind", "in": "path", "required": True,
                            "schema": {"enum": ["assessment", "ranking", "uptime", "patrol"]}},
                           _query("period", {"type": "string", "pattern": r"^\d{4}(-[Qq][1-4]|-W\d{2}|-\d{2}(-\d{2})?)?$"},
                                  "2026-Q3, 2026, 2026-11, 2026-W47 or 2026-11-20"),
                           _query("from", {"type": "string", "maxLength": 40}, "instead of period: a time as "
                                                                                "`pingan coverage` takes it"),
                           _query("to", {"type": "string", "maxLength": 40}, "default: now"),
                           _query("level", {"enum": ["district", "street", "all"]}, "assessment: which rows"),
                           _query("area", {"type": "string", "maxLength": 100}, "only this area and what is within it"),
                           _query("sla", {"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "uptime: default 0.95"),
                           _query("reach_minutes", {"type": "number", "minimum": 0.1, "maximum": 120},
                                  "assessment: response reach minutes, default 5"),
                           _query("format", {"enum": ["json", "csv", "xlsx", "html", "pdf"]}, "default json"),
                           _query("table", {"type": "string", "maxLength": 60}, "csv: which table")],
            "responses": {"200": {"description": "the report", "content": {
                "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}}, "application/pdf": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string"}}}},
                **ERRORS}}},
    },
}
