"""A throwaway PostgreSQL server for benchmarks, from the machine's own packages.

``LENDMATCH_BENCH_POSTGRES_URL`` names an existing server (its database is used as the
admin database) instead. The server refuses to run as root, so as root its tools run as
the ``postgres`` user, in a folder that user owns.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tools() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return candidates[-1] if candidates else None


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Cluster:
    """A throwaway server's data folder and tools: enough to restart it (bench/faults.py)."""

    def __init__(self, tools: str, root: str, port: int):
        self.tools, self.root, self.port = tools, root, port
        self.data = os.path.join(root, "data")
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([f"{self.tools}/pg_ctl", "-D", self.data, *args]),
                       cwd="/", check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self.pg_ctl("-l", os.path.join(self.root, "log"), "-w", "-o",
                    f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                    f"-c max_connections=200", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def keep_log(self, destination) -> None:
        """Copy the server's log (deadlocks name both statements there) out of the folder
        that is removed with the server."""
        with contextlib.suppress(OSError):
            shutil.copyfile(os.path.join(self.root, "log"), destination)


@contextlib.contextmanager
def throwaway_cluster():
    """Yield a started ``Cluster``, or None if the machine has no PostgreSQL server."""
    tools = _tools()
    if tools is None:
        yield None
        return
    root = tempfile.mkdtemp(prefix="lendmatch-bench-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = Cluster(tools, root, free_port())
    subprocess.run(_as_postgres([f"{tools}/initdb", "-D", cluster.data, "-A", "trust",
                                 "-U", "postgres"]), cwd="/", check=True,
                   stdout=subprocess.DEVNULL)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(_as_postgres([f"{tools}/pg_ctl", "-D", cluster.data, "-m", "fast",
                                     "-w", "stop"]), cwd="/", stdout=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres():
    """Yield an admin URL (``postgresql://…/postgres``), or None if no server can be had."""
    given = os.environ.get("LENDMATCH_BENCH_POSTGRES_URL")
    if given:
        yield given
        return
    with throwaway_cluster() as cluster:
        yield cluster.admin_url if cluster else None


def create_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name
