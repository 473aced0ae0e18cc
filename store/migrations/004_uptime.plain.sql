-- Camera uptime by time (plain PostgreSQL): seconds up, down and unknown per camera and UTC
-- hour, written by the uptime sweep; and the same per day of the city's calendar, kept by the
-- sweep as a table (the TimescaleDB variant is a continuous aggregate with the same columns).
DROP VIEW pingan.camera_uptime_hourly;

CREATE TABLE pingan.camera_uptime_hourly (
    camera_id    text NOT NULL,
    bucket       timestamptz NOT NULL,
    up_s         real NOT NULL,
    down_s       real NOT NULL,
    unknown_s    real NOT NULL,
    outages      integer NOT NULL,               -- outages that began in this hour
    heartbeat_s  real NOT NULL,                  -- the standard it was computed with
    missed       real NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, bucket)
);
CREATE INDEX camera_uptime_hourly_brin ON pingan.camera_uptime_hourly USING brin (bucket);

CREATE TABLE pingan.camera_uptime_daily (
    camera_id  text NOT NULL,
    day        timestamptz NOT NULL,             -- the city's midnight
    up_s       double precision NOT NULL,
    down_s     double precision NOT NULL,
    unknown_s  double precision NOT NULL,
    outages    bigint NOT NULL,
    hours      bigint NOT NULL,
    heartbeat_min  real NOT NULL,               -- the standards its hours were computed with
    heartbeat_max  real NOT NULL,
    missed_min     real NOT NULL,
    missed_max     real NOT NULL,
    computed_min   timestamptz NOT NULL,        -- when its least recently computed hour was
    PRIMARY KEY (camera_id, day)
);
