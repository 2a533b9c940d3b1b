"""The Neo4j store: a :class:`KnowledgeGraph` in a Neo4j server, over Bolt.

The import creates a uniqueness constraint on ``id`` per label, then upserts nodes
and relationships in batches of ``UNWIND $rows AS row MERGE ...`` (statements in
:mod:`cartgraph.graph.cypher`), one transaction per batch, and finally a cosine
vector index over ``Item.embedding``. Because every write is a ``MERGE`` on unique
keys and a batch commits or rolls back as a whole, the import is idempotent (twice →
the same graph) and resumable (a writer killed mid-import, run again, ends with exactly
the counts of a clean import).

Speed: relationship endpoints are matched by Neo4j element id (read once per write)
rather than by an index lookup per row; relationships travel grouped by source node
(one row per source with lists of targets and properties: one source seek per row and
compact parameters); batches run on ``writers`` concurrent transactions; and while the
database holds *no* relationship of a type yet, its batches use ``CREATE`` (nothing to
merge with; a retried batch and any later write use ``MERGE``, so neither resuming,
retrying nor a deadlock between the writers can duplicate anything). Only one
importing process at a time is supported.

Community edition has one user database (``neo4j``); :meth:`clear` empties it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError, ServiceError
from cartgraph.graph import cypher
from cartgraph.graph.connection import Connection, resolve
from cartgraph.graph.knowledge_graph import KnowledgeGraph, empty_edges, empty_nodes
from cartgraph.graph.schema import NODE_LABELS, NODE_PROPS, REL_TYPES
from cartgraph.graph.store import GraphStore

__all__ = ["Neo4jStore", "grouped_batches", "to_rows"]

ProgressFn = Callable[[str, int, int], None]


def _columns(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, list[Any]]:
    """Table → column name → list of plain Python values (NaN/NaT → None)."""
    columns = {}
    for col in frame.columns:
        kind, series = kinds.get(col, "str"), frame[col]
        if kind == "datetime":
            ms = series.to_numpy("datetime64[ms]")
            columns[col] = np.where(np.isnat(ms), None, ms.astype(np.int64)).tolist()
        elif kind == "float":
            arr = series.to_numpy(np.float64)
            columns[col] = np.where(np.isnan(arr), None, arr).tolist()
        elif kind == "int":
            columns[col] = series.to_numpy(np.int64).tolist()
        else:
            columns[col] = series.astype(object).where(series.notna(), None).tolist()
    return columns


def to_rows(frame: pd.DataFrame, kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Table → list of parameter dicts with plain Python values (NaN/NaT → None).

    ``kinds`` maps a column to ``int``/``float``/``str``/``datetime`` (default ``str``);
    datetimes become epoch milliseconds (naive times read as UTC), which the Cypher
    turns into Neo4j ``DateTime`` values.
    """
    columns = _columns(frame, kinds)
    keys = list(columns)
    return [dict(zip(keys, values)) for values in zip(*columns.values())]


def grouped_batches(src: np.ndarray, dst: np.ndarray, props: pd.DataFrame, kinds: dict[str, str],
                    batch_size: int, names: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """Relationships → batches of per-source rows ``{src, dst: [...], <prop>: [...]}``.

    Args:
        src: source node indices, int shape ``(n,)`` (the rows are grouped by them).
        dst: destination keys (e.g. Neo4j element ids), shape ``(n,)``.
        props: the relationship properties, ``n`` rows (column kinds as in :func:`to_rows`).
        batch_size: relationships per batch (a source with more is split across rows).
        names: the key sent for source index ``j`` is ``names[j]`` (default: ``j``).

    Returns batches of about ``batch_size`` relationships each, sources in ascending order.
    """
    n = len(src)
    src = np.asarray(src)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    columns = _columns(props.iloc[order], kinds)
    dst_list = dst.tolist()
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if n else np.zeros(0, dtype=np.int64)
    bounds = np.r_[starts, n]
    batches, current, size = [], [], 0
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        for a in range(lo, hi, batch_size):
            b = min(a + batch_size, hi)
            row = {"src": src[a].item() if names is None else names[src[a]], "dst": dst_list[a:b]}
            row.update({col: values[a:b] for col, values in columns.items()})
            current.append(row)
            size += b - a
            if size >= batch_size:
                batches.append(current)
                current, size = [], 0
    return batches + ([current] if current else [])


def _frame(rows: list[list[Any]], columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """Rows read back (datetimes as epoch ms) → a table with pandas types."""
    frame = pd.DataFrame(rows, columns=columns)
    for col, kind in kinds.items():
        if kind == "datetime":
            frame[col] = pd.to_datetime(frame[col].astype("float64"), unit="ms")
    return frame


class _Job(NamedTuple):
    """One write transaction: ``query`` with ``$rows`` = ``rows``; ``size`` counts for progress."""

    stage: str
    query: str
    retry_query: str | None
    rows: list[dict[str, Any]]
    size: int


class Neo4jStore(GraphStore):
    """A :class:`GraphStore` in a Neo4j server (5.x, Community or Enterprise, or Aura).

    Args:
        connection: a :class:`~cartgraph.graph.connection.Connection`, a Bolt URI, or
            None to :func:`~cartgraph.graph.connection.resolve` one (``NEO4J_URI``,
            else our local server).
        database: the database name (default the connection's, ``neo4j``).
        on_batch: called as ``on_batch(stage, done, total)`` after each committed
            batch of a write (``stage`` is a label or relationship type).
        writers: concurrent write transactions for relationship batches (default 2:
            the server applies each transaction on one thread, so a second keeps its
            other cores busy; deadlocks between them are retried with ``MERGE``).

    Nothing connects until the first call; use as a context manager or :meth:`close`.
    """

    def __init__(self, connection: Connection | str | None = None, *, database: str | None = None,
                 on_batch: ProgressFn | None = None, writers: int = 2) -> None:
        if not isinstance(writers, int) or writers < 1:
            raise ConfigError(f"writers must be an int >= 1, got {writers!r}")
        self.writers = writers
        self.connection = connection
        self.database = database
        self.on_batch = on_batch
        self._driver = None
        self._vector_dims: int | None = None  # the vector index's dimensions, once checked
        self._read_session = None  # one kept session for short reads (serving queries)
        self.retries = 0  # write transactions retried so far (transient errors, deadlocks)

    # ------------------------------------------------------------------ plumbing
    @property
    def driver(self):
        """The open ``neo4j.Driver`` (connected on first use)."""
        if self._driver is None:
            from cartgraph.graph.connection import connect

            conn = self.connection
            conn = resolve(conn) if isinstance(conn, str) else (conn or resolve())
            self.connection = conn
            self.database = self.database or conn.database
            self._driver = connect(conn, notifications_min_severity="OFF")
        return self._driver

    def close(self) -> None:
        """Close the driver (a later call reconnects)."""
        if self._read_session is not None:
            self._read_session.close()
            self._read_session = None
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> "Neo4jStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, query: str, **params: Any) -> list[Any]:
        """Run one statement in a managed (retried) transaction; its records."""
        from neo4j.exceptions import DriverError, Neo4jError

        driver = self.driver
        try:
            return driver.execute_query(query, params, database_=self.database).records
        except (DriverError, Neo4jError) as e:
            raise ServiceError(f"Neo4j at {self.connection.uri}: {type(e).__name__}: {e}") from e

    def _read_query(self, query: str, **params: Any) -> list[Any]:
        """A short read (vector query, neighbours) as one auto-commit statement on a kept
        read session: one round trip instead of a managed transaction's four, which
        halves serving latency. A broken connection is retried once on a new session.
        Not for concurrent use from several threads (like the store itself)."""
        from neo4j import READ_ACCESS
        from neo4j.exceptions import DriverError, Neo4jError

        for attempt in (0, 1):
            if self._read_session is None:
                driver = self.driver  # reads see this store's earlier writes (same bookmarks, also on a cluster)
                self._read_session = driver.session(database=self.database, default_access_mode=READ_ACCESS,
                                                    bookmark_manager=driver.execute_query_bookmark_manager)
            try:
                return list(self._read_session.run(query, params))
            except (DriverError, Neo4jError) as e:
                self._read_session.close()
                self._read_session = None
                retriable = isinstance(e, DriverError) or getattr(e, "is_retryable", lambda: False)()
                if attempt or not retriable:
                    raise ServiceError(f"Neo4j at {self.connection.uri}: {type(e).__name__}: {e}") from e
        raise AssertionError("unreachable")

    def _batched(self, stage: str, query: str, rows: list[dict[str, Any]], batch_size: int,
                 retry_query: str | None = None) -> None:
        """Write ``rows`` in batches of ``batch_size``, one managed transaction each, in order."""
        jobs = (_Job(stage, query, retry_query, rows[i:i + batch_size], len(rows[i:i + batch_size]))
                for i in range(0, len(rows), batch_size))
        self._write_jobs(jobs, {stage: len(rows)}, writers=1)

    def _write_jobs(self, jobs: Iterable[_Job], totals: dict[str, int], writers: int) -> None:
        """Run each job's query once with ``$rows`` = its batch, each in its own managed
        transaction, on up to ``writers`` concurrent sessions. ``jobs`` is consumed lazily, so
        the next batches are prepared while earlier ones are written; at most ``2 * writers``
        wait at a time. Progress: ``on_batch(stage, done, totals[stage])`` per committed batch.

        A retried batch (the driver retries transient failures such as a deadlock between
        two writers, or a commit whose answer was lost) runs the job's ``retry_query``
        instead when given: the ``MERGE`` form of a ``CREATE``, so a retry can never
        duplicate anything. The first failure that is not retried stops the write and is raised.
        """
        from neo4j.exceptions import DriverError, Neo4jError

        driver = self.driver
        done = dict.fromkeys(totals, 0)

        def write(job: _Job) -> _Job:
            attempts = [0]

            def work(tx) -> None:
                q = job.query if attempts[0] == 0 or job.retry_query is None else job.retry_query
                if attempts[0]:
                    self.retries += 1
                attempts[0] += 1
                tx.run(q, rows=job.rows).consume()

            with driver.session(database=self.database) as session:
                session.execute_write(work)
            return job

        def committed(job: _Job) -> None:
            done[job.stage] += job.size
            if self.on_batch is not None:
                self.on_batch(job.stage, done[job.stage], totals[job.stage])

        try:
            if writers <= 1:
                for job in jobs:
                    committed(write(job))
                return
            with ThreadPoolExecutor(writers, thread_name_prefix="neo4j-writer") as pool:
                pending: set[Future] = set()

                def drain(block: bool) -> None:
                    finished, _ = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
                    for future in finished:
                        pending.discard(future)
                        committed(future.result())

                try:
                    for job in jobs:
                        pending.add(pool.submit(write, job))
                        drain(block=len(pending) > 2 * writers)
                    while pending:
                        drain(block=True)
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise
        except (DriverError, Neo4jError) as e:
            raise ServiceError(f"Neo4j at {self.connection.uri}: {type(e).__name__}: {e}") from e

    # ------------------------------------------------------------------ write
    def _write(self, graph: KnowledgeGraph, batch_size: int) -> None:
        self._vector_dims = None
        for query in cypher.CONSTRAINTS.values():
            self._run(query)
        for label in NODE_LABELS:
            rows = to_rows(graph.nodes[label], NODE_PROPS[label])
            self._batched(label, cypher.MERGE_NODES[label], rows, batch_size)
        if graph.item_vectors is not None:
            self._write_embeddings(graph, batch_size)
        element_ids = {label: self._element_ids(label, graph.nodes[label]["id"]) for label in NODE_LABELS}
        types = [t for t in REL_TYPES if not graph.edges[t].empty]
        fresh = {t: not self._run(cypher.COUNT_RELS[t])[0]["n"] for t in types}  # before any of them is written

        def jobs() -> Iterator[_Job]:  # one relationship type after another, prepared while the last is written
            for rel_type in types:
                spec, edges = REL_TYPES[rel_type], graph.edges[rel_type]
                merge = cypher.MERGE_RELS_BY_ELEMENT_ID[rel_type]
                query = cypher.CREATE_RELS_BY_ELEMENT_ID[rel_type] if fresh[rel_type] else merge
                for batch in grouped_batches(edges["src"].to_numpy(), element_ids[spec.dst][edges["dst"].to_numpy()],
                                             edges[list(spec.props)], spec.props, batch_size,
                                             names=element_ids[spec.src]):
                    yield _Job(rel_type, query, merge, batch, sum(len(row["dst"]) for row in batch))

        self._write_jobs(jobs(), {t: len(graph.edges[t]) for t in types}, writers=self.writers)
        self._run(cypher.AWAIT_INDEXES, seconds=600)

    def _element_ids(self, label: str, ids: pd.Series) -> np.ndarray:
        """Neo4j element ids of ``ids`` (in that order), read once per write."""
        table = {r["id"]: r["eid"] for r in self._run(cypher.ELEMENT_IDS[label])}
        missing = [i for i in ids if i not in table]
        if missing:
            raise ServiceError(f"{len(missing)} {label} nodes vanished during the write, e.g. {missing[0]!r}")
        return np.array([table[i] for i in ids], dtype=object)

    def _write_embeddings(self, graph: KnowledgeGraph, batch_size: int) -> None:
        dims = int(graph.item_vectors.shape[1])
        existing = self._run(cypher.SHOW_VECTOR_INDEX, name=cypher.VECTOR_INDEX)
        if existing and existing[0]["dims"] != dims:
            self._run(cypher.DROP_VECTOR_INDEX)
        ids = graph.nodes["Item"]["id"].tolist()
        rows = [{"id": i, "embedding": v} for i, v in zip(ids, graph.item_vectors.astype(np.float64).tolist())]
        self._batched("embedding", cypher.SET_EMBEDDINGS, rows, max(1, min(batch_size, 200_000 // dims)))
        self._run(cypher.CREATE_VECTOR_INDEX, dims=dims)

    # ------------------------------------------------------------------ read
    def _read(self) -> KnowledgeGraph:
        nodes = {}
        for label in NODE_LABELS:
            rows = self._run(cypher.READ_NODES[label])[0]["rows"]
            nodes[label] = _frame(rows, ["id", *NODE_PROPS[label]], NODE_PROPS[label]) if rows else empty_nodes(label)
        edges = {}
        for rel_type, spec in REL_TYPES.items():
            rows = []
            for ids in self._source_chunks(rel_type):
                rows += self._run(cypher.READ_RELS[rel_type], ids=ids)[0]["rows"]
            edges[rel_type] = (_frame(rows, ["src", "dst", *spec.props], spec.props) if rows
                               else empty_edges(rel_type).astype({"src": object, "dst": object}))
        return KnowledgeGraph.from_external(nodes, edges, self._read_embeddings(nodes["Item"]["id"]))

    def _source_chunks(self, rel_type: str, rows_per_chunk: int = 100_000) -> list[list[str]]:
        """Source node ids grouped so that each chunk leaves ~``rows_per_chunk`` relationships."""
        degrees = self._run(cypher.OUT_DEGREES[rel_type])[0]["rows"]
        chunks, current, size = [], [], 0
        for node_id, degree in degrees:
            current.append(node_id)
            size += degree
            if size >= rows_per_chunk:
                chunks.append(current)
                current, size = [], 0
        return chunks + ([current] if current else [])

    def _read_embeddings(self, item_ids: pd.Series, chunk: int = 2000) -> np.ndarray | None:
        table = {}
        ids = item_ids.tolist()
        for start in range(0, len(ids), chunk):
            table.update(self._run(cypher.READ_EMBEDDINGS, ids=ids[start:start + chunk])[0]["rows"])
        if not table:
            return None
        dim = len(next(iter(table.values())))
        zeros = [0.0] * dim
        return np.asarray([table.get(i, zeros) for i in ids], dtype=np.float32).reshape(len(ids), dim)

    # ------------------------------------------------------------------ queries
    def _neighbors(self, rel_type: str, node_id: str, direction: str, limit: int | None) -> pd.DataFrame:
        records = self._read_query(cypher.NEIGHBORS[(rel_type, direction)], id=node_id,
                            limit=cypher.UNLIMITED if limit is None else int(limit))
        props = REL_TYPES[rel_type].props
        return _frame([list(r.values()) for r in records], ["id", *props], props)

    def _check_items(self, item_ids: np.ndarray) -> None:
        record = self._run(cypher.MISSING_ITEMS, ids=[str(i) for i in item_ids])[0]
        if record["n"]:
            raise ConfigError(f"unknown item ids {record['some']} ({record['n']} unknown)")

    def _upsert_complements(self, rows: pd.DataFrame, batch_size: int) -> None:
        data = to_rows(rows, REL_TYPES["COMPLEMENTS"].props)
        self._batched("COMPLEMENTS", cypher.MERGE_RELS["COMPLEMENTS"], data, batch_size)

    def _vector_query(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._vector_dims is None:
            existing = self._run(cypher.SHOW_VECTOR_INDEX, name=cypher.VECTOR_INDEX)
            if not existing:
                raise ConfigError("the stored graph has no item vectors (no vector index)")
            self._vector_dims = int(existing[0]["dims"])
        if self._vector_dims != vector.shape[0]:
            raise ConfigError(f"vector has {vector.shape[0]} dimensions, item vectors have {self._vector_dims}")
        records = self._read_query(cypher.VECTOR_QUERY, k=k, vector=vector.tolist())
        ids = np.array([r["id"] for r in records], dtype=object)
        return ids, np.array([r["score"] for r in records], dtype=np.float64)

    def _counts(self) -> dict[str, int]:
        out = {label: self._run(q)[0]["n"] for label, q in cypher.COUNT_NODES.items()}
        out.update({t: self._run(q)[0]["n"] for t, q in cypher.COUNT_RELS.items()})
        return out

    def _clear(self) -> None:
        from neo4j.exceptions import DriverError, Neo4jError

        self._vector_dims = None
        try:
            with self.driver.session(database=self.database) as session:
                for query in cypher.CLEAR:
                    session.run(query).consume()
        except (DriverError, Neo4jError) as e:
            raise ServiceError(f"Neo4j at {self.connection.uri}: {type(e).__name__}: {e}") from e
