"""The proxy's decision log (what ``tokenomy allocate diagnose`` reads) and its request log.

Each served request appends one decision record (:func:`tokenomy.allocate.decision_record.
decision_record`, layer ``router``, kind ``proxy``) to the decision log: the prices in force
(pacing included: ``V, λ, ρ`` over ``1 + μ``), the options still in play when the serving backend
was chosen (a backend that failed or that the budget could not cover is out of play), their
predicted ``dq, dc, dl, dr``, the chosen backend, and the outcome ``{"cost": {backend: realised
dollars}}`` (realised quality is not known to a proxy and is left out, so the diagnosis uses the
prediction). Every request, refusals included, also appends one line to the request log
(``<decision log>.requests.jsonl``) with the same ``id``: key, account, status, tokens,
latency, worst-case reservation, fallbacks, budget downgrades and the pacing multiplier ``μ``.

Lines are written whole, under a lock, and flushed at once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.rule import Options
from tokenomy.prices import Prices

__all__ = ["DecisionLog", "request_log_path"]


def request_log_path(decision_log: str | Path) -> Path:
    """Where the request log of a decision log lives."""
    path = Path(decision_log)
    return path.with_name(path.stem + ".requests.jsonl")


class DecisionLog:
    """Appends decision records and request lines to two JSON Lines files.

    Args:
        path: the decision log (None: nothing is written).
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._decisions: IO[str] | None = None
        self._requests: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._decisions = self.path.open("a", encoding="utf-8")
            self._requests = request_log_path(self.path).open("a", encoding="utf-8")

    def decision(
        self, record_id: str, prices: Prices, options: Options, chosen: str, cost: float
    ) -> None:
        """Append the decision record of a served request."""
        if self._decisions is None:
            return
        record = decision_record(
            record_id, "router", prices, options, chosen, {"cost": {chosen: cost}}, kind="proxy"
        )
        self._write(self._decisions, record)

    def request(self, row: dict[str, Any]) -> None:
        """Append one request line."""
        if self._requests is not None:
            self._write(self._requests, row)

    def _write(self, fh: IO[str], row: dict[str, Any]) -> None:
        line = json.dumps(row, separators=(",", ":")) + "\n"
        with self._lock:
            fh.write(line)
            fh.flush()

    def close(self) -> None:
        """Close both files."""
        with self._lock:
            for fh in (self._decisions, self._requests):
                if fh is not None:
                    fh.close()
            self._decisions = self._requests = None
