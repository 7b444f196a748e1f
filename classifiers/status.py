"""What each classifier stage did, in the shape the release manifest records.

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
