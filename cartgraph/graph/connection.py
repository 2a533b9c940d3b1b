"""Where the Neo4j server is: the environment, else the state file of our own server.

Users with their own server (Neo4j's Docker image, a cluster, Aura) set
``NEO4J_URI`` (and ``NEO4J_USER`` / ``NEO4J_PASSWORD`` when auth is on); without
``NEO4J_URI`` cartgraph uses the server that ``cartgraph neo4j start`` runs, whose
Bolt URI is in ``neo4j/home/server.json`` (auth off).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from cartgraph.errors import ServiceError

__all__ = ["Connection", "resolve", "connect"]


@dataclasses.dataclass(frozen=True)
class Connection:
    """A Bolt URI and optional credentials (``auth`` is None when auth is off)."""

    uri: str
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    database: str = "neo4j"
    source: str = "argument"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password or "") if self.user else None


def resolve(uri: str | None = None, user: str | None = None, password: str | None = None,
            *, database: str | None = None, home: str | os.PathLike | None = None) -> Connection:
    """The server to use: explicit arguments, then ``NEO4J_*`` variables, then our server.

    Raises:
        ServiceError: nothing is configured and our server is not running.
    """
    env = os.environ
    database = database or env.get("NEO4J_DATABASE") or "neo4j"
    if uri:
        return Connection(uri, user, password, database, "argument")
    if env.get("NEO4J_URI"):
        return Connection(env["NEO4J_URI"], user or env.get("NEO4J_USER") or env.get("NEO4J_USERNAME"),
                          password or env.get("NEO4J_PASSWORD"), database, "environment")
    from cartgraph.graph import server

    state = server.status(home)
    if not state["running"]:
        where = Path(home) if home is not None else server.default_home()
        raise ServiceError(f"no Neo4j server: NEO4J_URI is not set and none runs in {where} "
                           "(run 'cartgraph neo4j start', or set NEO4J_URI)")
    return Connection(state["uri"], None, None, database, "state file")


def connect(connection: Connection | None = None, **driver_options: Any):
    """An open ``neo4j.Driver`` for ``connection`` (default :func:`resolve`), connectivity verified.

    Raises:
        ServiceError: the server does not answer (the driver error is chained).
    """
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, DriverError, Neo4jError

    conn = connection or resolve()
    driver = GraphDatabase.driver(conn.uri, auth=conn.auth, **driver_options)
    try:
        driver.verify_connectivity()
    except (DriverError, Neo4jError, AuthError, OSError) as e:
        driver.close()
        raise ServiceError(f"Neo4j at {conn.uri} ({conn.source}) does not answer: {e}") from e
    return driver
