-- Plain PostgreSQL (no TimescaleDB): BRIN indexes on time, and the hourly camera uptime as a
-- view over date_bin with the same columns as the TimescaleDB continuous aggregate.
CREATE INDEX patrol_ping_ts_brin ON pingan.patrol_ping USING brin (ts);
CREATE INDEX camera_health_ts_brin ON pingan.camera_health USING brin (ts);
CREATE INDEX camera_snapshot_ts_brin ON pingan.camera_snapshot USING brin (ts);
CREATE INDEX device_status_ts_brin ON pingan.device_status USING brin (ts);
CREATE INDEX checkin_ts_brin ON pingan.checkin USING brin (ts);
CREATE INDEX dead_letter_ts_brin ON pingan.dead_letter USING brin (received_at);

CREATE VIEW pingan.camera_uptime_hourly AS
SELECT camera_id,
       date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*)                                   AS samples,
       count(*) FILTER (WHERE online)             AS online_samples,
       avg(fps)                                   AS avg_fps,
       min(ts)                                    AS first_ts,
       max(ts)                                    AS last_ts
FROM pingan.camera_health
GROUP BY camera_id, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00');
