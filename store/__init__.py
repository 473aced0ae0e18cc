"""PostgreSQL/TimescaleDB: migrations, batched idempotent writes, registry tables."""
