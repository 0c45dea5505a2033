"""The sandbox's records (payouts, messages, parcels), in memory and optionally in a JSON file.

Every change is written through at once, atomically (a temporary file in the same directory,
then ``os.replace``), so a restarted dev stack finds the ledger it left and a crash never leaves
half a file. The writes are synchronous on purpose: the file is small, and a write that cannot
interleave with another request keeps the file and the memory in the same order.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.models import Message, Parcel, Payout

FORMAT_VERSION = 1


@dataclass
class Store:
    path: Path | None = None
    #: by idempotency key; insertion order is the ledger order
    payouts: dict[str, Payout] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    #: dedupe key -> message id
    message_keys: dict[str, str] = field(default_factory=dict)
    #: (carrier, tracking number) -> latest scan
    parcels: dict[tuple[str, str], Parcel] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None) -> Store:
        """The store kept in ``path`` (empty if the file does not exist yet), or in memory only."""
        store = cls(path=Path(path) if path is not None else None)
        if store.path is not None and store.path.exists():
            store._load(json.loads(store.path.read_text(encoding="utf-8")))
        return store

    def clear(self) -> None:
        self.payouts.clear()
        self.messages.clear()
        self.message_keys.clear()
        self.parcels.clear()
        self.save()

    def save(self) -> None:
        """Write everything to the state file, if there is one."""
        if self.path is None:
            return
        document = {
            "version": FORMAT_VERSION,
            "payouts": [p.model_dump(mode="json") for p in self.payouts.values()],
            "messages": [m.model_dump(mode="json") for m in self.messages],
            "parcels": [p.model_dump(mode="json") for p in self.parcels.values()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self, document: dict) -> None:
        version = document.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{self.path}: state file version {version!r}, expected {FORMAT_VERSION}")
        for raw in document.get("payouts", []):
            payout = Payout.model_validate(raw)
            self.payouts[payout.idempotency_key] = payout
        for raw in document.get("messages", []):
            message = Message.model_validate(raw)
            self.messages.append(message)
            self.message_keys[message.dedupe_key] = message.message_id
        for raw in document.get("parcels", []):
            parcel = Parcel.model_validate(raw)
            self.parcels[(parcel.carrier, parcel.tracking_number)] = parcel
