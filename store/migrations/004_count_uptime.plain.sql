-- Camera uptime is no longer the share of heartbeats that arrived (a silent camera sent none):
-- the heartbeat-count view goes; uptime by time replaces it (005, 006).
DROP VIEW pingan.camera_uptime_hourly;
