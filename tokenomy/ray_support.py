"""Ray, the optional distributed engine: importing it with a clear error, and starting it.

Ray is an extra (``pip install 'tokenomy[ray]'``); the core and the default run never need it.
Everything in tokenomy that runs on Ray reaches it through this module, so the error a user sees
without it is always the same one line, and a local instance is always started the same way.

>>> ray = require_ray("--executor ray")                                # doctest: +SKIP
>>> with ray_session(address=None, num_cpus=2):                        # doctest: +SKIP
...     ...                                                            # tasks run here
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from tokenomy.errors import ConfigError

INSTALL_HINT = "pip install 'tokenomy[ray]'  (or: pip install 'ray>=2.9,<3')"


def ray_available() -> bool:
    """Whether Ray can be imported here."""
    try:
        importlib.import_module("ray")
    except ImportError:
        return False
    return True


def require_ray(what: str = "this feature") -> ModuleType:
    """Import Ray, or raise :class:`ConfigError` saying that ``what`` needs it and how to install.

    Args:
        what: the option or feature that asked for Ray, named in the message.
    """
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ConfigError(
            f"{what} needs Ray, which is not installed ({exc}); install it with: {INSTALL_HINT}"
        ) from None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"--address: expected 'auto', 'host:port' or 'ray://host:port', got '{address}'"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"--address: cannot reach Ray at {address}: {exc}") from None


@contextmanager
def ray_session(
    address: str | None = None, *, num_cpus: int | None = None, what: str = "--executor ray"
) -> Iterator[ModuleType]:
    """Connect to Ray for the length of a block; start a local instance when ``address`` is None.

    If Ray is already initialised in this process (a notebook, a test fixture), that session is
    used and left running; otherwise the one started here is shut down on exit.

    Args:
        address: a cluster address (``ray://host:10001`` or ``host:6379``, or ``auto``); None
            starts a local instance on this machine.
        num_cpus: CPUs of a local instance (ignored when connecting to a cluster).
        what: the option that asked for Ray, for the error when it is missing.
    """
    ray = require_ray(what)
    if ray.is_initialized():
        yield ray
        return
    # Quiet, local-only defaults: no dashboard, worker logs kept out of the terminal.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, object] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    else:
        _check_reachable(address)
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a local instance"
        raise ConfigError(f"--address: cannot start or reach Ray at {where}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
