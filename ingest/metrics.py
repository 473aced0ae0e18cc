"""Prometheus metrics of the ingest path (prometheus-client, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter("pingan_ingest_messages_received_total", "MQTT messages received")
ROWS_STORED = Counter("pingan_ingest_rows_stored_total", "Rows newly committed (duplicates excluded)", ["table"])
REJECTED = Counter("pingan_ingest_rejected_total", "Records rejected, by reason", ["reason"])
BATCH_SIZE = Histogram("pingan_ingest_batch_rows", "Rows per committed batch",
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000))
COMMIT_SECONDS = Histogram("pingan_ingest_commit_seconds", "Time to write and commit one batch",
                           buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
CONSUMER_LAG = Gauge("pingan_ingest_consumer_lag_seconds",
                     "Age of the oldest message in the last committed batch (receive to commit)")
PENDING = Gauge("pingan_ingest_pending_messages", "Messages received but not yet acknowledged")
DB_UP = Gauge("pingan_ingest_database_up", "1 while the database accepts writes")
REDIS_UP = Gauge("pingan_ingest_redis_up", "1 while the hot state in Redis is current")
MQTT_CONNECTED = Gauge("pingan_ingest_mqtt_connected", "1 while connected to the broker")
