"""PostgreSQL for tests and benchmarks: fresh empty databases on a throwaway local cluster.

Where the databases come from, in order:

1. ``TOKENOMY_PG_URL`` (e.g. ``postgresql+psycopg://me:pw@localhost/postgres``): each new
   database is created on that server (the role needs CREATEDB) and dropped at the end;
2. Debian's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin/initdb`` and ``pg_ctl``):
   a cluster is initialised in a new folder under the system temp folder, started on a unix
   socket in that folder (no TCP listener, so no port can clash), and stopped and deleted at the
   end. As root it runs as the ``postgres`` system user (``runuser -u postgres --``), since
   PostgreSQL refuses to run as root;
3. otherwise PostgreSQL is unavailable and the tests that need it are skipped, saying what was
   missing.

Use from a test folder's ``conftest.py``::

    from tests.postgres import postgres_url, stop_postgres

    @pytest.fixture(scope="session", autouse=True)
    def _stop_postgres():
        yield
        stop_postgres()

    @pytest.fixture
    def pg_url(tmp_path_factory):
        return postgres_url(tmp_path_factory)   # skips with the reason when unavailable

One cluster serves the whole test session (one per xdist worker); each call of
:func:`postgres_url` returns a new empty database on it. The cluster runs with ``fsync=off``
(fast, fine for tests); :func:`start_cluster` with ``durable=True`` keeps PostgreSQL's durable
defaults, for benchmarks.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

ENV_URL = "TOKENOMY_PG_URL"
"""Environment variable naming a PostgreSQL server to use instead of a local cluster."""

BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian installs PostgreSQL's server binaries."""


class PostgresUnavailable(Exception):  # noqa: N818 - reads as the reason for skipping
    """No PostgreSQL can be used here; the message says what is missing."""


def _socket_free_port() -> int:
    from tokenomy.loopback import free_port

    return free_port()


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, if any."""
    found = []
    for folder in glob.glob(BIN_GLOB):
        path = Path(folder)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            try:
                version = int(path.parent.name.split(".")[0])
            except ValueError:
                version = 0
            found.append((version, path))
    return max(found)[1] if found else None


class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, reachable on a unix socket there."""

    def __init__(self, bindir: Path, base: Path, port: int, run_as: str | None) -> None:
        """Describe a cluster (use :func:`start_cluster` to make one)."""
        self.bindir = bindir
        self.base = base
        self.data = base / "data"
        self.port = port
        self.run_as = run_as
        self.running = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *, durable: bool = False) -> None:
        """initdb and start the server; raises PostgresUnavailable with the log on failure."""
        done = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            *([] if durable else ["--no-sync"]),
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {(done.stderr or done.stdout).strip()}")
        options = f"-h '' -k {self.base} -p {self.port} -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = self.base / "server.log"
        done = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode != 0:
            text = log.read_text() if log.exists() else done.stderr
            raise PostgresUnavailable(f"pg_ctl start failed: {text.strip()[-2000:]}")
        self.running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the folder."""
        if self.running:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False
        shutil.rmtree(self.base, ignore_errors=True)

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string for ``database``."""
        return f"host={self.base} port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.base}&port={self.port}"


def start_cluster(*, durable: bool = False) -> PostgresCluster:
    """Initialise and start a local cluster.

    Args:
        durable: keep PostgreSQL's durable defaults (fsync on); tests use False.

    Raises:
        PostgresUnavailable: no binaries, no ``postgres`` user when running as root, or the
            server did not start (the message says which).
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable(
            "the psycopg driver is not installed (pip install 'psycopg[binary]')"
        ) from None
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (initdb, pg_ctl) under {BIN_GLOB} and "
            f"{ENV_URL} is not set"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' system user to run initdb as"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root and 'runuser' is not installed")
        run_as = "postgres"
    # The socket path must stay under ~100 characters, and the postgres user must reach the
    # folder (pytest's own temp folders are private to root): a short folder in the temp dir.
    base = Path(tempfile.mkdtemp(prefix="tokenomy-pg-"))
    if run_as is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    cluster = PostgresCluster(bindir, base, _socket_free_port(), run_as)
    try:
        cluster.start(durable=durable)
    except BaseException:
        cluster.stop()
        raise
    return cluster


class PostgresProvider:
    """Creates fresh empty databases on a cluster or on the server in ``TOKENOMY_PG_URL``."""

    def __init__(self, *, durable: bool = False) -> None:
        """Start a cluster, or check the server in ``TOKENOMY_PG_URL``.

        Raises:
            PostgresUnavailable: see :func:`start_cluster`; or the server in the variable cannot
                be reached.
        """
        self.cluster: PostgresCluster | None = None
        self.external: Any = None  # sqlalchemy URL of TOKENOMY_PG_URL
        self.created: list[str] = []
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        given = os.environ.get(ENV_URL, "").strip()
        if given:
            from sqlalchemy.engine import make_url

            self.external = make_url(given)
            try:
                self._admin(lambda conn: conn.execute("SELECT 1"))
            except Exception as exc:
                raise PostgresUnavailable(f"cannot connect to {ENV_URL}: {exc}") from None
        else:
            self.cluster = start_cluster(durable=durable)

    def _admin(self, work: Any) -> None:
        import psycopg

        if self.cluster is not None:
            conninfo = self.cluster.conninfo()
        else:
            conninfo = self.external.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            work(conn)

    def new_database(self, prefix: str = "tokenomy") -> str:
        """Create an empty database; returns its ``postgresql+psycopg://`` URL."""
        with self._lock:
            name = f"{prefix}_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"
        self._admin(lambda conn: conn.execute(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        if self.cluster is not None:
            return self.cluster.url(name)
        url = self.external.set(drivername="postgresql+psycopg", database=name)
        return str(url.render_as_string(hide_password=False))

    def close(self) -> None:
        """Stop the cluster, or drop the databases made on the external server."""
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
            return
        for name in self.created:  # best effort at the end of a session
            with contextlib.suppress(Exception):
                self._admin(lambda conn, n=name: conn.execute(f'DROP DATABASE IF EXISTS "{n}"'))
        self.created.clear()


_provider: PostgresProvider | None = None
_failure: str | None = None
_provider_lock = threading.Lock()


def postgres_provider() -> PostgresProvider:
    """The session's provider, started on first use and stopped at exit.

    Raises:
        PostgresUnavailable: no PostgreSQL here (remembered, so later calls fail at once).
    """
    global _provider, _failure
    with _provider_lock:
        if _provider is not None:
            return _provider
        if _failure is not None:
            raise PostgresUnavailable(_failure)
        try:
            _provider = PostgresProvider()
        except PostgresUnavailable as exc:
            _failure = str(exc)
            raise
        atexit.register(stop_postgres)
        return _provider


def stop_postgres() -> None:
    """Stop the session's cluster (or drop its databases); safe to call more than once."""
    global _provider
    with _provider_lock:
        if _provider is not None:
            _provider.close()
            _provider = None


def postgres_url(tmp_path_factory: Any = None) -> str:
    """URL of a new empty PostgreSQL database; skips the calling test when there is none.

    Args:
        tmp_path_factory: accepted so that fixtures can pass theirs; the cluster lives in a
            short folder of its own (unix socket paths are limited to about 100 characters).
    """
    import pytest

    try:
        return postgres_provider().new_database()
    except PostgresUnavailable as exc:
        pytest.skip(reason=f"PostgreSQL unavailable: {exc}")
