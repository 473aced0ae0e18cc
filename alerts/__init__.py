"""Alert rules over events and periodic sweeps, their lifecycle and notifiers.

Not built yet: the ingest path stores everything the rules will need (camera health, status
transitions, patrol fixes tagged with their cell, check-ins).
"""
