-- TimescaleDB: the hours as a compressed hypertable, and the same seconds per day of the
-- city's calendar as a continuous aggregate of them.
SELECT create_hypertable('pingan.camera_uptime_hourly', by_range('bucket', INTERVAL '30 days'));
ALTER TABLE pingan.camera_uptime_hourly SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',
                                             timescaledb.compress_orderby = 'bucket DESC');

CREATE MATERIALIZED VIEW pingan.camera_uptime_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT camera_id,
       time_bucket(INTERVAL '1 day', bucket, :city_timezone) AS day,
       sum(up_s)::float8      AS up_s,
       sum(down_s)::float8    AS down_s,
       sum(unknown_s)::float8 AS unknown_s,
       sum(outages)::bigint   AS outages,
       count(*)               AS hours,
       min(heartbeat_s)       AS heartbeat_min,
       max(heartbeat_s)       AS heartbeat_max,
       min(missed)            AS missed_min,
       max(missed)            AS missed_max,
       min(computed_at)       AS computed_min
FROM pingan.camera_uptime_hourly
GROUP BY camera_id, time_bucket(INTERVAL '1 day', bucket, :city_timezone)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('pingan.camera_uptime_daily',
    start_offset => INTERVAL '40 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');
