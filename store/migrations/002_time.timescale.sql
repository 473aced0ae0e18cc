-- TimescaleDB: hypertables, compression, and the hourly camera uptime continuous aggregate.
-- Policies (compression/retention ages) are applied from settings after migrating.
CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('pingan.patrol_ping', by_range('ts', INTERVAL '1 day'), migrate_data => true);
SELECT create_hypertable('pingan.camera_health', by_range('ts', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('pingan.camera_snapshot', by_range('ts', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('pingan.device_status', by_range('ts', INTERVAL '30 days'), migrate_data => true);
SELECT create_hypertable('pingan.checkin', by_range('ts', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('pingan.dead_letter', by_range('received_at', INTERVAL '7 days'), migrate_data => true);

ALTER TABLE pingan.patrol_ping SET (timescaledb.compress, timescaledb.compress_segmentby = 'unit_id',
                                    timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE pingan.camera_health SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',
                                      timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE pingan.checkin SET (timescaledb.compress, timescaledb.compress_segmentby = 'checkpoint_id',
                                timescaledb.compress_orderby = 'ts DESC');

CREATE MATERIALIZED VIEW pingan.camera_uptime_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT camera_id,
       time_bucket(INTERVAL '1 hour', ts)        AS bucket,
       count(*)                                   AS samples,
       count(*) FILTER (WHERE online)             AS online_samples,
       avg(fps)                                   AS avg_fps,
       min(ts)                                    AS first_ts,
       max(ts)                                    AS last_ts
FROM pingan.camera_health
GROUP BY camera_id, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('pingan.camera_uptime_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');
