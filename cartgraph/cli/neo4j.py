"""``cartgraph neo4j start|stop|status|run``: the local Neo4j server the graph store uses.

``start`` fetches Neo4j Community from Maven Central once and runs it on 127.0.0.1;
``run -- CMD ...`` runs a command with ``NEO4J_URI`` pointing at a server (ours,
started for the command and stopped after it even when it fails, unless one was
already running or ``NEO4J_URI`` is set). Exit code 3 when the server is unavailable.
"""
from __future__ import annotations

import argparse
import os
import signal
import shutil
import subprocess
import sys
import tempfile

from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register"]

EXIT_SERVICE = 3


def _add_home(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", default=None, help="server home folder (default: neo4j/home)")


def _add_start_options(p: argparse.ArgumentParser) -> None:
    _add_home(p)
    p.add_argument("--port", type=int, default=None, help="Bolt port on 127.0.0.1 (default: a free one)")
    p.add_argument("--heap", default="512m", help="JVM heap (default 512m)")
    p.add_argument("--pagecache", default="256m", help="Neo4j page cache (default 256m)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")


def register(sub) -> None:
    p = sub.add_parser("neo4j", help="start, stop or inspect the local Neo4j server",
                       description="A real Neo4j Community server fetched from Maven Central, "
                                   "bound to 127.0.0.1. Set NEO4J_URI to use your own server instead.")
    nsub = p.add_subparsers(dest="neo4j_command", metavar="ACTION", required=True)
    s = nsub.add_parser("start", help="fetch (first time) and start the server; wait until ready")
    _add_start_options(s)
    add_json_flag(s)
    s.set_defaults(handler=_start)
    t = nsub.add_parser("stop", help="stop the server (SIGTERM, then SIGKILL)")
    _add_home(t)
    t.set_defaults(handler=_stop)
    st = nsub.add_parser("status", help="is the server running, and where")
    _add_home(st)
    add_json_flag(st)
    st.add_argument("--uri", action="store_true", help="print only the Bolt URI (exit 3 if not running)")
    st.set_defaults(handler=_status)
    r = nsub.add_parser("run", help="run a command with NEO4J_URI set to a private server started and "
                                    "removed around it (or to --home's server; NEO4J_URI set: that one)")
    _add_start_options(r)
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after '--'")
    r.set_defaults(handler=_run)


def _service_error(args, exc: Exception) -> int:
    print(f"cartgraph neo4j {args.neo4j_command}: error: {exc}", file=sys.stderr)
    return EXIT_SERVICE


def _start(args) -> int:
    from cartgraph.errors import ServiceError
    from cartgraph.graph import server

    try:
        state = server.start(args.home, port=args.port, heap=args.heap, pagecache=args.pagecache,
                             timeout=args.timeout)
    except ServiceError as exc:
        return _service_error(args, exc)
    if args.json:
        emit_json(state)
    else:
        verb = "started" if state["started"] else "already running"
        print(f"neo4j {verb} at {state['uri']} (pid {state['pid']}, home {state['home']})")
    return 0


def _stop(args) -> int:
    from cartgraph.graph import server

    print("neo4j stopped" if server.stop(args.home) else "neo4j was not running")
    return 0


def _status(args) -> int:
    from cartgraph.graph import server

    state = server.status(args.home)
    if args.uri:
        if not state["running"]:
            print("neo4j is not running", file=sys.stderr)
            return EXIT_SERVICE
        print(state["uri"])
        return 0
    if args.json:
        emit_json(state)
    else:
        import datetime as dt

        def shown(key: str, value):
            if key == "started_at" and isinstance(value, (int, float)):
                return dt.datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")
            return value

        print_table([(k, shown(k, v)) for k, v in state.items()], ["field", "value"], title="neo4j")
    return 0 if state["running"] else EXIT_SERVICE


def _run(args) -> int:
    from cartgraph.errors import ServiceError
    from cartgraph.graph import server

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        print("cartgraph neo4j run: error: give a command after '--'", file=sys.stderr)
        return 2
    if os.environ.get("NEO4J_URI"):
        return subprocess.call(cmd)
    # Without --home the command gets a private server in a throw-away home: tests clear
    # their database, so they must never share one with a server you started yourself
    # or with another 'make test' running at the same time (Community has one database).
    private = args.home is None
    home = tempfile.mkdtemp(prefix="cartgraph-neo4j-run-") if private else args.home
    try:
        try:
            state = server.start(home, port=args.port, heap=args.heap, pagecache=args.pagecache,
                                 timeout=args.timeout)
        except ServiceError as exc:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                return _service_error(args, exc)
            print(f"cartgraph neo4j run: warning: no Neo4j ({exc}); running without NEO4J_URI", file=sys.stderr)
            return subprocess.call(cmd)
        print(f"neo4j {'started' if state['started'] else 'already running'} at {state['uri']}"
              f"{' (private, for this command)' if private else ''}", file=sys.stderr)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return subprocess.call(cmd, env={**os.environ, "NEO4J_URI": state["uri"]})
        finally:
            if state["started"]:
                server.stop(home)
                print("neo4j stopped", file=sys.stderr)
    finally:
        if private:
            shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``run`` still stops the server it started."""
    raise KeyboardInterrupt
