"""The assessment: defence-system coverage and camera uptime of any period, from the store, on the registry version in force."""
