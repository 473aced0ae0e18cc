"""The command centre's HTTP API, live feed and dashboard (aiohttp)."""
