-- Camera uptime by time: seconds up, down and unknown per camera and UTC hour, by the rule in
-- geofence/uptime.py, written as hours close (and again when late data makes them stale).
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
