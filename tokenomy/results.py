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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


def usual_mode(path: str | Path) -> None:
    """Give a file or folder made by :mod:`tempfile` (private, 0600/0700) the usual permissions.

    Results are meant to be read by others (a web server, a colleague): 0666/0777 less the
    process umask, as ``open`` and ``mkdir`` would have given.
    """
    umask = os.umask(0)
    os.umask(umask)
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~umask)


@contextmanager
def atomic_folder(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Assemble a folder under a temporary name and move it into place only on success.

    Yields the temporary folder to fill. On success it replaces ``target`` (only when
    ``overwrite``; an existing non-empty folder is otherwise refused before anything is
    written); on failure it is removed and ``target`` is left as it was.

    Raises:
        ResultsError: ``target`` is a file, or a non-empty folder and ``overwrite`` is false.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ResultsError(
            f"{target} already holds results; choose another --out or pass --overwrite"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    usual_mode(tmp)
    try:
        yield tmp
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


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON file atomically (deterministic layout, see :func:`dumps`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dumps(data))
    usual_mode(tmp)
    os.replace(tmp, path)
    return path


ROW_GROUP = 1_000_000
"""Rows per Parquet row group; tables are written one row group at a time."""


def write_parquet(table: pa.Table, file: str | Path) -> None:
    """Write ``table`` in row groups, so dictionary columns are decoded a slice at a time.

    Columns are written plainly encoded and zstd-compressed (tokenomy's dictionaries can hold
    millions of agent ids; Parquet's own dictionary pages would fall back anyway).
    """
    with pq.ParquetWriter(file, table.schema, compression="zstd", use_dictionary=False) as out:
        if table.num_rows == 0:
            out.write_table(table)
        for start in range(0, table.num_rows, ROW_GROUP):
            out.write_table(table.slice(start, ROW_GROUP))


def write_result(
    path: str | Path,
    tables: Mapping[str, pa.Table | Callable[[], pa.Table]],
    summary: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Write tables and summary into ``path`` atomically.

    A table may be given as a function that builds it: it is then built, written and released
    one at a time, which keeps the memory peak of large runs down.

    Raises:
        ResultsError: ``path`` exists, is not empty, and ``overwrite`` is false.
    """
    with atomic_folder(path, overwrite=overwrite) as tmp:
        for name, table_or_builder in tables.items():
            table = table_or_builder() if callable(table_or_builder) else table_or_builder
            write_parquet(table, tmp / f"{name}.parquet")
            del table
        (tmp / SUMMARY).write_text(dumps(summary), encoding="utf-8")
    return Path(path)


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
