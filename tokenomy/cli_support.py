"""Shared pieces of the command line: consoles, error handling, progress, JSON output.

Errors tokenomy raises on purpose (:class:`~tokenomy.errors.TokenomyError`) print one red line
and exit with status 2; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from tokenomy.errors import ConfigError, TokenomyError

T = TypeVar("T")

console = Console(stderr=True)
out = Console()


def fail(exc: Exception) -> None:
    """Print one red error line and exit with status 2."""
    console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
    raise typer.Exit(2)


def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`TokenomyError` becomes one red line and exit status 2."""
    try:
        return fn()
    except TokenomyError as exc:
        fail(exc)
        raise  # unreachable


class LineProgress:
    """Progress for non-terminals (logs, CI): a plain line every few seconds and at the end."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.last = 0.0
        self.state: dict[int, dict[str, Any]] = {}

    def add_task(self, description: str, total: float | None = None) -> int:
        """Start a task (rich's ``Progress.add_task`` signature)."""
        task = len(self.state)
        self.state[task] = {"description": description, "completed": 0, "total": total}
        return task

    def update(self, task: int, **fields: Any) -> None:
        """Update a task; prints a line when due (rich's ``Progress.update`` signature)."""
        state = self.state[task]
        state.update({k: v for k, v in fields.items() if v is not None})
        now = time.monotonic()
        done = state["total"] is not None and state["completed"] >= state["total"]
        if now - self.last >= self.every_s or done:
            self.last = now
            total = state["total"]
            count = f" {state['completed']}/{total}" if total else ""
            console.print(f"… {state['description']}{count}", highlight=False, markup=False)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on a terminal; throttled plain lines otherwise."""
    if not enabled:
        yield LineProgress(every_s=float("inf"))
        return
    if not console.is_terminal:
        yield LineProgress()
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield progress


def parse_params(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """Parse ``key=value`` options; values are read as YAML scalars (numbers, booleans)."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects key=value, got '{pair}'")
        try:
            result[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            result[key.strip()] = value
    return result


def token_prices(path: Path | None, latency: float) -> Any:
    """The token price table (``--prices`` YAML or the built-in one) with a latency price."""
    from tokenomy.prices import Prices, PriceTable

    table = PriceTable.load(path) if path is not None else PriceTable.default()
    return Prices(latency=latency, table=table)


def csv_list(text: str, cast: Callable[[str], T], option: str) -> list[T]:
    """Parse a comma-separated option value."""
    try:
        return [cast(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{option}: cannot read '{text}' as a comma-separated list") from None


def print_json(data: Any) -> None:
    """Write JSON to stdout (NaN as null, numpy types as numbers)."""
    from tokenomy.results import dumps

    sys.stdout.write(dumps(data))
