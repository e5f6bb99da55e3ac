"""Result folders: Parquet tables plus ``summary.json``, written atomically.

Every run, sweep or study writes one folder::

    DIR/
      summary.json        what was run (config, data, versions) and the headline numbers
      <table>.parquet     one file per table (events, messages, customers, ...)

The folder is assembled under a temporary name next to ``DIR`` and renamed into place, so a
crash never leaves a half-written result, and an existing result is only replaced when asked.
``summary.json`` has a ``kind`` (``run``, ``sweep`` or ``study``) that readers dispatch on.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tokenomy.errors import ResultsError

SUMMARY = "summary.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(summary: Mapping[str, Any]) -> str:
    """Serialise a summary deterministically (sorted keys, NaN/inf as null)."""
    return json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n"


def environment() -> dict[str, str]:
    """Where and when a result was produced."""
    from tokenomy import __version__

    return {
        "tokenomy": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_result(
    path: str | Path,
    tables: Mapping[str, pa.Table],
    summary: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Write tables and summary into ``path`` atomically.

    Raises:
        ResultsError: ``path`` exists, is not empty, and ``overwrite`` is false.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ResultsError(
            f"{target} already holds results; choose another --out or pass --overwrite"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, table in tables.items():
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
        (tmp / SUMMARY).write_text(dumps(summary), encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_summary(path: str | Path) -> dict[str, Any]:
    """Read ``summary.json`` of a result folder."""
    folder = Path(path)
    file = folder / SUMMARY
    if not file.is_file():
        raise ResultsError(f"{folder} is not a tokenomy result folder (no {SUMMARY})")
    try:
        data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{file} is not valid JSON: {exc}") from None
    return data


def read_table(path: str | Path, name: str) -> pa.Table:
    """Read one table of a result folder."""
    file = Path(path) / f"{name}.parquet"
    if not file.is_file():
        raise ResultsError(f"{Path(path)} has no table '{name}' ({file.name} not found)")
    return pq.read_table(file)
