"""What a pipeline stage did: the classifiers report it, the release policy checks it, the manifest records it.

A stage that could not run says so here ("not_run" with a reason) instead of writing default values,
and a stage where some rows failed says "partial" with the error count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "not_run", "partial"]


@dataclass
class StageStatus:
    name: str
    status: Status
    reason: str = ""
    model: str | None = None
    model_version: str | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def count(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount

    def mark_errors(self, amount: int) -> None:
        """Record rows that got an error status; any error makes an "ok" stage "partial"."""
        if amount:
            self.count("errors", amount)
            if self.status == "ok":
                self.status = "partial"
                self.reason = "some rows have an error status; see counts['errors'] and the per-row status"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "model": self.model,
            "model_version": self.model_version,
            "counts": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStatus:
        """The inverse of `to_dict` (a status written by one step, read by a later one)."""
        return cls(name=data["name"], status=data["status"], reason=data.get("reason") or "",
                   model=data.get("model"), model_version=data.get("model_version"),
                   counts=Counter(data.get("counts") or {}))

    def to_manifest(self) -> dict[str, str | None]:
        """The release manifest's entry for this stage (per table, so no counts)."""
        return {"status": self.status, "reason": self.reason or None, "model": self.model,
                "version": self.model_version}
