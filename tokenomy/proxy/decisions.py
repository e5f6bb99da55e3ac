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

Each line is written whole with a single unbuffered ``write`` to a file opened for appending,
under a lock: it is on disk (in the OS's cache) when the request is answered, and lines from
several proxy processes sharing a file never interleave.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

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
        self._decisions: int | None = None
        self._requests: int | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._decisions = _open_append(self.path)
            self._requests = _open_append(request_log_path(self.path))

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

    def _write(self, fd: int, row: dict[str, Any]) -> None:
        line = (json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(fd, line)
            while written < len(line):  # a short write (rare): finish the line
                written += os.write(fd, line[written:])

    def close(self) -> None:
        """Close both files."""
        with self._lock:
            for fd in (self._decisions, self._requests):
                if fd is not None:
                    os.close(fd)
            self._decisions = self._requests = None


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
