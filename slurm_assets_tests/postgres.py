"""A throwaway PostgreSQL server for tests and the bench, from Debian's server binaries (``postgresql-15``).

``initdb`` runs as the ``postgres`` user when we are root (the server refuses to run as root), in a fresh
temporary directory; ``pg_ctl`` starts it on a free loopback port with its socket in that directory, and
``stop()`` stops it and removes the directory. TCP clients (Dagster) log in with a password (scram);
the socket is trusted for the admin commands (create a database). ``fsync=off``: nothing here must
survive a power cut, and the machine is shared.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from slurm_assets_tests.ports import free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"
PASSWORD = "throwaway-pg-secret"
START_ATTEMPTS = 3  # a free port can be taken between free_port() and the server's bind


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, or None."""
    found = sorted(
        (Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def why_postgres_cannot_run() -> str | None:
    """The reason this machine cannot start a PostgreSQL server for the tests, or None when it can."""
    if bin_dir() is None:
        return f"no PostgreSQL server binaries ({BIN_GLOB}/initdb); apt-get install postgresql-15"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return f"running as root and there is no '{SUPERUSER}' user to run the server as"
    return None


def _run_as(user: str | None, argv: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        argv, user=user, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL, cwd="/"
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")
    return proc


@dataclass
class PostgresServer:
    """One running server: ``host``/``port`` for TCP clients (user ``postgres``, ``password``)."""

    root: Path
    bins: Path
    owner: str | None  # the user the server runs as (None = this process's user)
    host: str = "127.0.0.1"
    port: int = 0
    user: str = SUPERUSER
    password: str = PASSWORD
    databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.owner:
            for path in (self.root, pwfile):
                shutil.chown(path, self.owner)
        _run_as(
            self.owner,
            [
                str(self.bins / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            options = (
                f"-c port={self.port} -c listen_addresses={self.host} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "
                "-c max_connections=200"
            )
            try:
                _run_as(
                    self.owner,
                    [
                        str(self.bins / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-l",
                        str(self.log),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        "120",
                        "start",
                    ],
                    timeout=180,
                )
                return
            except RuntimeError:
                if attempt == START_ATTEMPTS - 1:
                    raise RuntimeError(f"PostgreSQL did not start: {self.log.read_text()[-2000:]}") from None

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL over the socket as the superuser; stdout (unaligned, tuples only)."""
        return _run_as(
            self.owner,
            [
                str(self.bins / "psql"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
        ).stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return name

    def dagster_env(self, db: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.production.yaml reads, for database ``db``."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": db,
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected) and remove its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                _run_as(
                    self.owner,
                    [str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"],
                    timeout=90,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """A new server in a fresh temporary directory (outside pytest's root-only tmp folders, which the
    ``postgres`` user cannot enter). The caller stops it."""
    bins = bin_dir()
    if bins is None:
        raise RuntimeError(why_postgres_cannot_run())
    owner = SUPERUSER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="slurm-usage-pg-"))
    server = PostgresServer(root=root, bins=bins, owner=owner)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
