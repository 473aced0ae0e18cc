"""Alert rules over events and periodic sweeps, their lifecycle and notifiers.

So far only the alert types (`types.py`), which the simulators' ground truth already uses.
"""
