"""MQTT ingest: decode › validate & filter › tag cell › batch › store › hot state › ack."""
