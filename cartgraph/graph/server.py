"""A real Neo4j Community server on this machine, fetched from Maven Central.

No Docker and no neo4j.com download: ``neo4j/pom.xml`` pins ``org.neo4j:neo4j`` (the
5.26 LTS line, which runs on Java 17), Maven copies its runtime jars once into
``neo4j/lib/`` (``~/.m2`` caches them across clones), and :func:`start` runs the
server's own entry point, ``org.neo4j.server.CommunityEntryPoint``, with
``java -cp "neo4j/lib/*"`` (no fat jar: Neo4j finds its settings and extensions via
``META-INF/services``, which shading breaks).

The server binds 127.0.0.1 on a free (or given) port with auth and HTTP off, a bounded
heap and page cache, small non-preallocated transaction logs and no usage report. Its
home folder (default ``neo4j/home/``) holds the data, the logs, ``server.pid`` and
``server.json`` (the Bolt URI that :mod:`cartgraph.graph.connection` reads). One
server per home folder; a lock file serialises concurrent start/stop calls.

Readiness is polled with the Python driver's ``verify_connectivity()``, never a fixed
sleep. :func:`stop` sends SIGTERM, waits, then SIGKILL.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cartgraph.atomic import atomic_file
from cartgraph.errors import ConfigError, ServiceError

__all__ = ["ENTRY_POINT", "neo4j_dir", "default_home", "fetch", "start", "stop", "status"]

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
"""The Java class that ``neo4j console`` itself runs."""

JVM_FLAGS: tuple[str, ...] = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
)
"""Flags Neo4j's own launcher passes (without java.nio vector index builds can stall)."""

SERVER_SETTINGS: dict[str, str] = {
    "dbms.security.auth_enabled": "false",
    "server.http.enabled": "false",
    "server.https.enabled": "false",
    "db.tx_log.rotation.size": "16M",
    "db.tx_log.preallocate": "false",
    "db.tx_log.rotation.retention_policy": "2 files",
    "dbms.usage_report.enabled": "false",
}
"""Settings for a local development/test server (``-c key=value`` overrides)."""

PID_FILE, STATE_FILE, LOG_FILE, LOCK_FILE = "server.pid", "server.json", "logs/console.log", ".server.lock"
NEO4J_DIR_ENV = "CARTGRAPH_NEO4J_DIR"


def neo4j_dir() -> Path:
    """The folder holding ``pom.xml`` and ``lib/``: ``$CARTGRAPH_NEO4J_DIR`` or the repo's ``neo4j/``."""
    value = os.environ.get(NEO4J_DIR_ENV)
    return Path(value).expanduser() if value else Path(__file__).resolve().parents[2] / "neo4j"


def default_home() -> Path:
    """The server's home folder (data, logs, pid and state files): ``neo4j/home``."""
    return neo4j_dir() / "home"


def _server_jar(lib: Path) -> Path | None:
    return next(iter(sorted(lib.glob("neo4j-server-*.jar"))), None)


def fetch(lib: str | os.PathLike | None = None, *, quiet: bool = True) -> Path:
    """Copy Neo4j's runtime jars into ``lib`` (default ``neo4j/lib``) unless already there.

    Runs ``mvn dependency:copy-dependencies -DincludeScope=runtime`` on ``neo4j/pom.xml``
    into a temporary sibling folder and renames it into place, so an interrupted fetch
    never leaves a half-filled ``lib``. Returns the folder.

    Raises:
        ServiceError: Maven is missing or the fetch failed (its output is included).
    """
    lib = Path(lib) if lib is not None else neo4j_dir() / "lib"
    if _server_jar(lib) is not None:
        return lib
    pom = neo4j_dir() / "pom.xml"
    if not pom.is_file():
        raise ServiceError(f"{pom} is missing; it pins the Neo4j version to fetch")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven ('mvn') is not on PATH; it fetches Neo4j from Maven Central "
                           "(or set NEO4J_URI to a server you run yourself)")
    tmp = lib.with_name(lib.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-DoutputDirectory={tmp}"] + (["-q"] if quiet else [])
    proc = subprocess.run(cmd, capture_output=quiet, text=True)
    if proc.returncode != 0 or _server_jar(tmp) is None:
        detail = (proc.stdout or "")[-2000:] + (proc.stderr or "")[-2000:] if quiet else ""
        raise ServiceError(f"fetching Neo4j with Maven failed (exit {proc.returncode}): {' '.join(cmd)}\n{detail}")
    shutil.rmtree(lib, ignore_errors=True)
    os.replace(tmp, lib)
    return lib


def _java() -> str:
    """The ``java`` that runs the server: ``$CARTGRAPH_NEO4J_JAVA_HOME``, else ``$JAVA_HOME``,
    else ``java`` on PATH (Neo4j 5.26 is certified for Java 17 and 21; the import benchmark
    measured the same speed on 17 and 25 here)."""
    home = os.environ.get("CARTGRAPH_NEO4J_JAVA_HOME") or os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise ServiceError("no Java found (set CARTGRAPH_NEO4J_JAVA_HOME or JAVA_HOME, or put java 17+ on PATH); "
                           "Neo4j 5.26 needs Java 17")
    return java


def _java_major(java: str) -> int | None:
    """The feature version of ``java`` from its JDK's ``release`` file (None if unknown)."""
    release = Path(os.path.realpath(java)).parent.parent / "release"
    try:
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    except (OSError, ValueError):
        return None
    return None


def _jvm_flags(java: str) -> list[str]:
    """:data:`JVM_FLAGS`, compact object headers on Java 25+ (smaller heap objects), then
    ``$CARTGRAPH_NEO4J_JVM_OPTS`` (whitespace-separated, appended last so they win)."""
    flags = list(JVM_FLAGS)
    major = _java_major(java)
    if major is not None and major >= 25:
        flags.append("-XX:+UseCompactObjectHeaders")
    return flags + os.environ.get("CARTGRAPH_NEO4J_JVM_OPTS", "").split()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    """True when ``pid`` is a running Neo4j server (guards against a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return ENTRY_POINT.encode() in cmdline


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((home / STATE_FILE).read_text())
        pid = int((home / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    state["pid"] = pid
    return state


def _clear_state(home: Path) -> None:
    for name in (PID_FILE, STATE_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def _ready(uri: str) -> bool:
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    try:
        with GraphDatabase.driver(uri, auth=None, connection_timeout=2.0) as driver:
            driver.verify_connectivity()
            driver.execute_query("RETURN 1", database_="neo4j")
        return True
    except (DriverError, Neo4jError, OSError):
        return False


def status(home: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where our server stands: ``{"running", "uri", "pid", "port", "home", ...}``.

    ``running`` is True when the recorded process is alive; ``ready`` when it also
    answers a Bolt query. Stale pid/state files (a crashed server) are removed.
    """
    home = Path(home) if home is not None else default_home()
    state = _read_state(home)
    if state is None or not _alive(state["pid"]):
        if state is not None:
            _clear_state(home)
        return {"running": False, "ready": False, "uri": None, "pid": None, "home": str(home)}
    return {**state, "running": True, "ready": _ready(state["uri"]), "home": str(home)}


def _command(home: Path, lib: Path, port: int, heap: str, pagecache: str) -> list[str]:
    settings = {**SERVER_SETTINGS,
                "server.bolt.listen_address": f"127.0.0.1:{port}",
                "server.bolt.advertised_address": f"127.0.0.1:{port}",
                "server.default_listen_address": "127.0.0.1",
                "server.memory.pagecache.size": pagecache}
    java = _java()
    cmd = [java, f"-Xms{heap}", f"-Xmx{heap}", *_jvm_flags(java),
           "-cp", str(lib / "*"), ENTRY_POINT,
           f"--home-dir={home}", f"--config-dir={home / 'conf'}", "--console-mode"]
    for key, value in settings.items():
        cmd += ["-c", f"{key}={value}"]
    return cmd


def _megabytes(size: str) -> int:
    """``"512m"`` / ``"1g"`` → megabytes; raises :class:`ConfigError` otherwise."""
    text = str(size).strip().lower()
    units = {"m": 1, "g": 1024}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) == 0:
        raise ConfigError(f"memory size must look like '512m' or '1g', got {size!r}")
    return int(text[:-1]) * units[text[-1]]


def start(home: str | os.PathLike | None = None, port: int | None = None, heap: str = "512m",
          pagecache: str = "256m", timeout: float = 180.0) -> dict[str, Any]:
    """Start the server (fetching it first if needed) and wait until Bolt answers.

    Args:
        home: server home folder (default ``neo4j/home``); created if missing.
        port: Bolt port on 127.0.0.1 (default: a free one).
        heap: JVM heap, e.g. ``"512m"``, ``"1g"``.
        pagecache: Neo4j page cache size, same format.
        timeout: seconds to wait for readiness.

    Returns:
        :func:`status` of the (new or already running) server; ``"started"`` tells which.

    Raises:
        ServiceError: no Java/Maven, the port is taken, the process exited, or it was
            not ready in time (the last lines of its log are included).
    """
    home = Path(home).resolve() if home is not None else default_home()
    _megabytes(heap), _megabytes(pagecache)
    if port is not None and not 0 < int(port) < 65536:
        raise ConfigError(f"port must be in 1..65535, got {port!r}")
    with _locked(home):
        current = status(home)
        if current["running"]:
            if not current["ready"]:
                _wait_ready(home, current["uri"], current["pid"], None, timeout)
            return {**status(home), "started": False}
        lib = fetch()
        port = int(port) if port is not None else _free_port()
        if _port_in_use(port):
            raise ServiceError(f"port {port} on 127.0.0.1 is already in use; pass another --port")
        (home / "conf").mkdir(parents=True, exist_ok=True)
        (home / "conf" / "neo4j.conf").touch()
        (home / "logs").mkdir(exist_ok=True)
        uri = f"bolt://127.0.0.1:{port}"
        log = open(home / LOG_FILE, "ab")
        proc = subprocess.Popen(_command(home, lib, port, heap, pagecache), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, cwd=home, start_new_session=True)
        log.close()
        with atomic_file(home / PID_FILE, "w") as fh:
            fh.write(f"{proc.pid}\n")
        with atomic_file(home / STATE_FILE, "w") as fh:
            json.dump({"uri": uri, "port": port, "heap": heap, "pagecache": pagecache,
                       "started_at": time.time()}, fh)
        try:
            _wait_ready(home, uri, proc.pid, proc, timeout)
        except BaseException:
            _terminate(proc.pid, 30.0)
            _clear_state(home)
            raise
        return {**status(home), "started": True}


def _wait_ready(home: Path, uri: str, pid: int, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else not _alive(pid)
        if exited:
            raise ServiceError(f"Neo4j exited while starting; see {home / LOG_FILE}:\n{_log_tail(home)}")
        if _ready(uri):
            return
        time.sleep(0.5)
    raise ServiceError(f"Neo4j was not ready at {uri} after {timeout:.0f} s; see {home / LOG_FILE}:\n{_log_tail(home)}")


def _log_tail(home: Path, lines: int = 15) -> str:
    try:
        return "\n".join((home / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; True if it stopped by itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return False


def stop(home: str | os.PathLike | None = None, timeout: float = 60.0) -> bool:
    """Stop our server cleanly (SIGTERM, wait ``timeout`` s, then SIGKILL).

    Returns True if a server was running, False if there was none.
    """
    home = Path(home).resolve() if home is not None else default_home()
    with _locked(home):
        state = _read_state(home)
        if state is None or not _alive(state["pid"]):
            _clear_state(home)
            return False
        _terminate(state["pid"], timeout)
        _clear_state(home)
        return True
