-- Plain PostgreSQL: a BRIN index on the hours, and the same seconds per day of the city's
-- calendar kept as a table by whoever stores hours (the TimescaleDB variant is a continuous
-- aggregate with the same columns).
CREATE INDEX camera_uptime_hourly_brin ON pingan.camera_uptime_hourly USING brin (bucket);

CREATE TABLE pingan.camera_uptime_daily (
    camera_id      text NOT NULL,
    day            timestamptz NOT NULL,        -- the city's midnight
    up_s           double precision NOT NULL,
    down_s         double precision NOT NULL,
    unknown_s      double precision NOT NULL,
    outages        bigint NOT NULL,
    hours          bigint NOT NULL,
    heartbeat_min  real NOT NULL,               -- the standards its hours were computed with
    heartbeat_max  real NOT NULL,
    missed_min     real NOT NULL,
    missed_max     real NOT NULL,
    computed_min   timestamptz NOT NULL,        -- when its least recently computed hour was
    PRIMARY KEY (camera_id, day)
);
