-- Camera uptime is no longer the share of heartbeats that arrived (a silent camera sent none):
-- the heartbeat-count continuous aggregate goes (with its policy); uptime by time replaces it.
DROP MATERIALIZED VIEW pingan.camera_uptime_hourly;
