-- Registry, grid and the time series, as plain tables. Every time-series table has a unique
-- key that includes its time column, so a replayed write is a no-op (and TimescaleDB can
-- partition it).
CREATE SCHEMA IF NOT EXISTS pingan;

CREATE TABLE pingan.grid_cell (
    cell_id          text PRIMARY KEY,
    level            text NOT NULL CHECK (level IN ('city', 'district', 'street', 'grid')),
    parent_id        text,
    name             text NOT NULL,
    priority         text NOT NULL DEFAULT 'normal' CHECK (priority IN ('key', 'normal')),
    revisit_minutes  real,
    area_m2          double precision,
    geometry         jsonb NOT NULL              -- GeoJSON geometry, WGS-84
);
CREATE INDEX grid_cell_parent ON pingan.grid_cell (parent_id);

CREATE TABLE pingan.unit (
    unit_id          text PRIMARY KEY,
    kind             text NOT NULL DEFAULT 'car' CHECK (kind IN ('foot', 'bike', 'car')),
    team_id          text,
    name             text,
    owntracks        text UNIQUE,                -- OwnTracks "user/device"
    auto_registered  boolean NOT NULL DEFAULT false,
    registered_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pingan.camera (
    camera_id        text PRIMARY KEY,
    name             text,
    category         text NOT NULL DEFAULT 'other',
    expected_fps     real,
    lon              double precision,
    lat              double precision,
    cell_id          text,
    frigate_name     text UNIQUE,
    auto_registered  boolean NOT NULL DEFAULT false,
    registered_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pingan.checkpoint (
    checkpoint_id    text PRIMARY KEY,
    name             text,
    lon              double precision,
    lat              double precision,
    radius_m         real,
    min_staff        integer,
    schedule         jsonb NOT NULL DEFAULT '[]',
    cell_id          text,
    auto_registered  boolean NOT NULL DEFAULT false,
    registered_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pingan.patrol_ping (
    ts           timestamptz NOT NULL,
    unit_id      text NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    acc          real,
    spd          real,                           -- m/s
    hdg          real,
    batt         real,
    officers     text[] NOT NULL DEFAULT '{}',
    seq          bigint,
    source       text NOT NULL DEFAULT 'native',
    cell_id      text,                           -- leaf grid cell at ingest; NULL = outside the grid
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, ts)
);

CREATE TABLE pingan.camera_health (
    ts             timestamptz NOT NULL,
    camera_id      text NOT NULL,
    online         boolean NOT NULL,
    fps            real,
    bitrate_kbps   real,
    recording      boolean,
    storage_ok     boolean,
    packet_loss    real,
    temp_c         real,
    uptime_s       double precision,
    process_fps    real,
    skipped_fps    real,
    detection_fps  real,
    source         text NOT NULL DEFAULT 'native',
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, ts, source)
);

CREATE TABLE pingan.camera_snapshot (
    ts           timestamptz NOT NULL,
    camera_id    text NOT NULL,
    size_bytes   integer NOT NULL,
    sha256       text NOT NULL,
    image        bytea,                          -- NULL when stored as a file (path)
    path         text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, ts, sha256)
);

CREATE TABLE pingan.device_status (
    ts           timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('camera', 'unit')),
    device_id    text NOT NULL,
    online       boolean NOT NULL,
    source       text NOT NULL DEFAULT 'native',
    PRIMARY KEY (kind, device_id, ts)
);

CREATE TABLE pingan.checkin (
    ts             timestamptz NOT NULL,
    checkpoint_id  text NOT NULL,
    officer        text NOT NULL,
    action         text NOT NULL CHECK (action IN ('on', 'off')),
    method         text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (checkpoint_id, officer, ts, action)
);

CREATE TABLE pingan.dead_letter (
    received_at   timestamptz NOT NULL,
    topic         text NOT NULL,
    reason        text NOT NULL,
    detail        text,
    device_id     text,
    payload       bytea,                         -- truncated
    payload_size  integer NOT NULL
);
CREATE INDEX dead_letter_reason ON pingan.dead_letter (reason, received_at);
