"""decode › resolve device › time sanity › coordinates › accuracy › duplicates › speed.

An ordered list of small stages; each message becomes accepted records and dead letters.
Nothing here does I/O, so the whole path is testable with plain values.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from pingan.config import IngestSettings

from .decode import Decoder
from .filters import Accuracy, Coordinates, DeviceRegistry, Duplicates, ResolveDevice, Speed, Stage, TimeSanity
from .records import DeadLetter, Message, Record, Registration, Reject, RejectReason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    records: list[Record]
    rejects: list[DeadLetter]


class Pipeline:
    def __init__(self, decoder: Decoder, stages: Sequence[Stage], dead_letter_bytes: int):
        self.decoder = decoder
        self.stages = list(stages)
        self.dead_letter_bytes = dead_letter_bytes

    def process(self, msg: Message) -> Outcome:
        decoded = self.decoder(msg)
        if isinstance(decoded, Reject):
            return Outcome([], [self._dead(msg, decoded)])
        accepted: list[Record] = []
        rejected: list[DeadLetter] = []
        for record in decoded:
            for stage in self.stages:
                result = stage(record, msg.redelivered)
                if isinstance(result, Reject):
                    rejected.append(self._dead(msg, result))
                    break
                record = result
            else:
                accepted.append(record)
        return Outcome(accepted, rejected)

    def failed(self, msg: Message, error: Exception) -> Outcome:
        """The outcome for a message the pipeline itself failed on: kept as a dead letter."""
        return Outcome([], [self._dead(msg, Reject(RejectReason.INTERNAL_ERROR, repr(error)))])

    def _dead(self, msg: Message, reject: Reject) -> DeadLetter:
        log.debug("rejected %s from %s (device %s): %s | %r", reject.reason, msg.topic, reject.device,
                 reject.detail[:200], msg.payload[:80])
        return DeadLetter(msg.received, clean(msg.topic), reject.reason, clean(reject.detail)[:1000],
                          clean(reject.device) if reject.device else None,
                          msg.payload[: self.dead_letter_bytes], len(msg.payload))


def clean(text: str) -> str:
    """Text the database can hold: NUL is the one character PostgreSQL text refuses."""
    return text.replace("\x00", "\\x00")


def build_pipeline(settings: IngestSettings, registry: DeviceRegistry,
                   on_register: Callable[[Registration], None],
                   clock: Callable[[], float] = time.time) -> Pipeline:
    stages: list[Stage] = [
        ResolveDevice(registry, settings.auto_register, on_register),
        TimeSanity(settings.max_future_s, settings.max_age_s, clock),
        Coordinates(),
        Accuracy(settings.max_accuracy_m),
        Duplicates(settings.duplicate_window),
        Speed(settings.max_speed_mps),
    ]
    return Pipeline(Decoder(settings.max_payload_bytes, settings.snapshot_max_bytes), stages,
                    settings.dead_letter_payload_bytes)
