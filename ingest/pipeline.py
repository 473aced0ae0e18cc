"""decode › resolve device › time sanity › coordinates › accuracy › duplicates › speed.

Decoding happens per message as it arrives; the filter stages run over a batch's records in
arrival order. Each record ends up accepted or as a dead letter with its reason. Nothing here
does I/O, so the whole path is testable with plain values.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from store.records import DeadLetter, Message, Record, Registration, Reject, RejectReason

from .decode import Decoder
from .filters import Accuracy, Coordinates, DeviceRegistry, Duplicates, ResolveDevice, Speed, Stage, TimeSanity
from .settings import IngestSettings

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """Decoded records waiting for the filter stages, each with the message it came from."""

    records: list[Record] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Outcome:
    records: list[Record]
    messages: list[Message]  # the message each accepted record came from
    rejects: list[DeadLetter]


class Pipeline:
    def __init__(self, decoder: Decoder, stages: Sequence[Stage], dead_letter_bytes: int):
        self.decoder = decoder
        self.stages = list(stages)
        self.dead_letter_bytes = dead_letter_bytes

    def decode(self, msg: Message, into: Pending) -> DeadLetter | None:
        """Decode one message into `into`; a message that cannot be decoded is a dead letter."""
        decoded = self.decoder(msg)
        if isinstance(decoded, Reject):
            return self.dead(msg, decoded)
        into.records.extend(decoded)
        into.messages.extend([msg] * len(decoded))
        return None

    def filter(self, pending: Pending) -> Outcome:
        records, messages = pending.records, pending.messages
        rejects: list[DeadLetter] = []
        for stage in self.stages:
            if not records:
                break
            verdicts = stage(records, [m.redelivered for m in messages])
            kept_r, kept_m = [], []
            for v, m in zip(verdicts, messages, strict=True):
                if isinstance(v, Reject):
                    rejects.append(self.dead(m, v))
                else:
                    kept_r.append(v)
                    kept_m.append(m)
            records, messages = kept_r, kept_m
        return Outcome(records, messages, rejects)

    def process(self, msg: Message) -> Outcome:
        """One message through every stage (for callers without batches)."""
        pending = Pending()
        dead = self.decode(msg, pending)
        if dead is not None:
            return Outcome([], [], [dead])
        return self.filter(pending)

    def failed(self, msg: Message, error: Exception) -> DeadLetter:
        """The dead letter for a message the pipeline itself failed on."""
        return self.dead(msg, Reject(RejectReason.INTERNAL_ERROR, repr(error)))

    def dead(self, msg: Message, reject: Reject) -> DeadLetter:
        log.debug("rejected %s from %s (device %s): %s | %r", reject.reason, msg.topic, reject.device,
                  reject.detail[:200], msg.payload[:80],
                  extra={"topic": msg.topic, "device": reject.device, "reason": str(reject.reason)})
        digest = hashlib.sha256(msg.topic.encode("utf-8", "replace") + b"\0" + msg.payload).hexdigest()
        return DeadLetter(msg.received, clean(msg.topic), reject.reason, clean(reject.detail)[:1000],
                          clean(reject.device) if reject.device else None,
                          msg.payload[: self.dead_letter_bytes], len(msg.payload), digest, msg.redelivered)


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
