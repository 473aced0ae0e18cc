"""The ingest worker's view of the registry: which wire ids are known devices."""

from __future__ import annotations

import re
import threading

from store.records import Registration
from store.registry import RegistrySnapshot

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


class DeviceDirectory:
    """Resolves wire ids (native ids, OwnTracks user/device, Frigate camera names) to device ids.

    Refreshed from the registry tables periodically, so devices registered by other workers
    become known here too.
    """

    def __init__(self, snapshot: RegistrySnapshot):
        self._lock = threading.Lock()
        self._snap = snapshot

    def replace(self, snapshot: RegistrySnapshot) -> None:
        with self._lock:
            self._snap = snapshot

    def resolve(self, kind: str, wire_id: str, source: str) -> str | None:
        s = self._snap
        if kind == "unit":
            if source == "owntracks":
                return s.owntracks.get(wire_id)
            return wire_id if wire_id in s.units else None
        if kind == "camera":
            if source == "frigate":
                return s.frigate.get(wire_id) or (wire_id if wire_id in s.cameras else None)
            return wire_id if wire_id in s.cameras else None
        if kind == "checkpoint":
            return wire_id if wire_id in s.checkpoints else None
        return None

    def checkpoint_of_region(self, region: str) -> str | None:
        """The checkpoint a region (an OwnTracks geofence) is named after: by id, else by name."""
        s = self._snap
        return region if region in s.checkpoints else s.checkpoint_names.get(region)

    def register(self, kind: str, wire_id: str, source: str) -> Registration:
        with self._lock:
            s = self._snap
            if kind == "unit":
                if source == "owntracks":
                    device = "ot-" + _UNSAFE.sub("-", wire_id.replace("/", "-"))[:61]
                    s.owntracks[wire_id] = device
                    s.units.add(device)
                    return Registration("unit", device, wire_id)
                s.units.add(wire_id)
                return Registration("unit", wire_id)
            if kind == "camera":
                s.cameras.add(wire_id)
                if source == "frigate":
                    s.frigate[wire_id] = wire_id
                    return Registration("camera", wire_id, wire_id)
                return Registration("camera", wire_id)
            s.checkpoints.add(wire_id)
            return Registration("checkpoint", wire_id)
