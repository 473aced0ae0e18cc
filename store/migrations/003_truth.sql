-- What the assessment rests on: the ingest's own uptime, versioned grid and registry, expected
-- camera heartbeats, late-data marks, and the stored daily coverage of every cell.

-- A camera's expected heartbeat interval (NULL: its category's default, coverage.camera_heartbeat_s).
ALTER TABLE pingan.camera ADD COLUMN heartbeat_s real;
ALTER TABLE pingan.camera ADD COLUMN version integer;
ALTER TABLE pingan.checkpoint ADD COLUMN version integer;
ALTER TABLE pingan.grid_cell ADD COLUMN version integer;

-- When the ingest was receiving: one row per worker run (connected to the broker and
-- subscribed), its `until` moved forward by every heartbeat of the worker. A run that resumed
-- its persistent session starts where the worker's previous run ended (`bridged`): the broker
-- kept what devices sent meanwhile. A replay or import of history declares its period here too.
-- Time outside every row is time in which nothing was received: assessed as unknown.
CREATE TABLE pingan.ingest_uptime (
    worker_id    text NOT NULL,
    since        timestamptz NOT NULL,
    until        timestamptz NOT NULL,
    source       text NOT NULL DEFAULT 'worker' CHECK (source IN ('worker', 'replay', 'import')),
    bridged      boolean NOT NULL DEFAULT false,
    messages     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (worker_id, since),
    CHECK (until >= since)
);

-- Every load of a different grid or registry is a version; a period is assessed on the
-- version(s) in force during it. The documents are kept whole (GeoJSON, WGS-84).
CREATE TABLE pingan.registry_version (
    version         integer PRIMARY KEY,
    digest          text NOT NULL,
    effective_from  timestamptz NOT NULL UNIQUE,
    loaded_at       timestamptz NOT NULL DEFAULT now(),
    source          text,
    cells           integer NOT NULL,
    cameras         integer NOT NULL,
    checkpoints     integer NOT NULL,
    units           integer NOT NULL,
    document        jsonb NOT NULL              -- {"grid", "cameras", "checkpoints", "units"}
);

-- Hours (UTC-aligned) into which rows arrived after the hour had ended: results computed for
-- them before `changed_at` are stale and computed again when read.
CREATE TABLE pingan.late_hour (
    hour        timestamptz PRIMARY KEY,
    changed_at  timestamptz NOT NULL
);

-- The defence-system result of every cell for every day of the city's calendar (a part of a
-- day when the registry version changed during it), filled as days close and on demand.
CREATE TABLE pingan.coverage_daily (
    day            date NOT NULL,
    part_from      timestamptz NOT NULL,
    part_to        timestamptz NOT NULL,
    cell_id        text NOT NULL,
    version        integer NOT NULL,
    status         text NOT NULL CHECK (status IN ('covered', 'not_covered', 'unknown')),
    patrol         text NOT NULL,
    cameras        text,                       -- NULL: no key camera in the cell
    checkpoints    text,                       -- NULL: no checkpoint in the cell
    visits         integer NOT NULL,
    longest_gap_s  real NOT NULL,
    gap_from       timestamptz,
    gap_to         timestamptz,
    detail         jsonb,
    standard       text NOT NULL,              -- digest of the standards it was computed with
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, part_from, cell_id)
);
