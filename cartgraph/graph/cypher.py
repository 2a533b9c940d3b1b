"""Every Cypher statement cartgraph sends to Neo4j, as named constants.

Rules that make the store injection-safe:

- every value travels as a parameter (``$rows``, ``$id``, ``$vector`` ...), never
  inside the query text;
- labels and relationship types (which Cypher cannot parameterise) come only from
  the schema whitelist (:mod:`cartgraph.graph.schema`), whose names are checked to be
  plain identifiers; the per-label and per-type statements below are generated from
  it once, at import time, and looked up by name.

Bulk writes are ``UNWIND $rows AS row MERGE ...`` so one round trip and one
transaction write a whole batch; ``MERGE`` on uniquely constrained ``id`` keys makes
every write idempotent, and a batch killed half-way rolls back as a whole, so
re-running an import completes it without duplicates.
"""
from __future__ import annotations

from cartgraph.graph.schema import NODE_LABELS, NODE_PROPS, REL_TYPES, RelSpec

__all__ = [
    "CONSTRAINTS", "MERGE_NODES", "SET_EMBEDDINGS", "MERGE_RELS", "MERGE_RELS_BY_ELEMENT_ID", "CREATE_RELS_BY_ELEMENT_ID", "ELEMENT_IDS", "READ_NODES", "READ_EMBEDDINGS", "OUT_DEGREES", "READ_RELS",
    "COUNT_NODES", "COUNT_RELS", "NEIGHBORS", "MISSING_ITEMS", "VECTOR_INDEX", "CREATE_VECTOR_INDEX",
    "SHOW_VECTOR_INDEX", "DROP_VECTOR_INDEX", "AWAIT_INDEXES", "VECTOR_QUERY", "CLEAR", "UNLIMITED",
]

UNLIMITED = 2**62
"""``$limit`` value meaning "no limit"."""

VECTOR_INDEX = "item_embedding"
"""Name of the vector index over ``Item.embedding``."""


def _value(prop: str, kind: str, at: str = "") -> str:
    # datetimes travel as epoch milliseconds (ints pack far faster than temporal values);
    # ``at`` indexes a per-source list in the grouped form (``"[i]"``)
    if kind == "datetime":
        v = f"row.{prop}{at}"
        return f"CASE WHEN {v} IS NULL THEN null ELSE datetime({{epochMillis: {v}}}) END"
    return f"row.{prop}{at}"


def _set_clause(var: str, props: dict[str, str], at: str = "") -> str:
    return ", ".join(f"{var}.{p} = {_value(p, k, at)}" for p, k in props.items())


def _constraint(label: str) -> str:
    return f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"


def _merge_nodes(label: str) -> str:
    sets = _set_clause("n", NODE_PROPS[label])
    return f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}})" + (f" SET {sets}" if sets else "")


def _merge_rel(spec: RelSpec) -> str:
    key = ", ".join(f"{k}: row.{k}" for k in spec.key)
    props = {p: k for p, k in spec.props.items() if p not in spec.key}
    return (f"UNWIND $rows AS row\nMATCH (a:{spec.src} {{id: row.src}})\nMATCH (b:{spec.dst} {{id: row.dst}})\n"
            f"MERGE (a)-[r:{spec.type}{' {' + key + '}' if key else ''}]->(b)"
            + (f"\nSET {_set_clause('r', props)}" if props else ""))


def _grouped_rel(spec: RelSpec, verb: str) -> str:
    """One row per source node: ``{src, dst: [...], <prop>: [...]}`` (element ids).

    The source is sought once per row instead of once per relationship, and parameter
    lists pack far faster than one map per relationship. ``CREATE`` sets every property
    inline (one write per relationship; a null value stores nothing); ``MERGE`` matches
    on the key properties and sets the rest, as :data:`MERGE_RELS` does.
    """
    head = ("UNWIND $rows AS row\nMATCH (a) WHERE elementId(a) = row.src\n"
            "UNWIND range(0, size(row.dst) - 1) AS i\nMATCH (b) WHERE elementId(b) = row.dst[i]\n")
    if verb == "CREATE":
        inline = ", ".join(f"{p}: {_value(p, k, '[i]')}" for p, k in spec.props.items())
        return head + f"CREATE (a)-[r:{spec.type}{' {' + inline + '}' if inline else ''}]->(b)"
    key = ", ".join(f"{k}: row.{k}[i]" for k in spec.key)
    props = {p: k for p, k in spec.props.items() if p not in spec.key}
    return (head + f"MERGE (a)-[r:{spec.type}{' {' + key + '}' if key else ''}]->(b)"
            + (f"\nSET {_set_clause('r', props, '[i]')}" if props else ""))


def _read_value(var: str, prop: str, kind: str) -> str:
    return f"{var}.{prop}.epochMillis" if kind == "datetime" else f"{var}.{prop}"


def _read_nodes(label: str) -> str:
    cols = "".join(f", {_read_value('n', p, k)}" for p, k in NODE_PROPS[label].items())
    return f"MATCH (n:{label}) RETURN collect([n.id{cols}]) AS rows"


def _read_rel(spec: RelSpec) -> str:
    cols = "".join(f", {_read_value('r', p, k)}" for p, k in spec.props.items())
    return (f"UNWIND $ids AS id MATCH (a:{spec.src} {{id: id}})-[r:{spec.type}]->(b:{spec.dst}) "
            f"RETURN collect([a.id, b.id{cols}]) AS rows")


def _out_degrees(spec: RelSpec) -> str:
    return (f"MATCH (a:{spec.src}) WITH a, COUNT {{ (a)-[:{spec.type}]->(:{spec.dst}) }} AS n WHERE n > 0 "
            "RETURN collect([a.id, n]) AS rows")


def _neighbors(spec: RelSpec, direction: str) -> str:
    cols = "".join(f", {_read_value('r', p, k)} AS {p}" for p, k in spec.props.items())
    order = "".join(f", {k}" for k in spec.key)
    if direction == "out":
        pattern = f"(a:{spec.src} {{id: $id}})-[r:{spec.type}]->(b:{spec.dst})"
    else:
        pattern = f"(a:{spec.dst} {{id: $id}})<-[r:{spec.type}]-(b:{spec.src})"
    return f"MATCH {pattern} RETURN b.id AS id{cols} ORDER BY id{order} LIMIT $limit"


CONSTRAINTS: dict[str, str] = {label: _constraint(label) for label in NODE_LABELS}
"""Label → uniqueness constraint on ``id`` (also the index every ``MERGE``/``MATCH`` uses)."""

MERGE_NODES: dict[str, str] = {label: _merge_nodes(label) for label in NODE_LABELS}
"""Label → batched node upsert; ``$rows``: ``[{id, <props>}]`` (null removes a property)."""

SET_EMBEDDINGS = "UNWIND $rows AS row MATCH (n:Item {id: row.id}) SET n.embedding = row.embedding"
"""Item embeddings; ``$rows``: ``[{id, embedding: list[float]}]``."""

MERGE_RELS: dict[str, str] = {t: _merge_rel(spec) for t, spec in REL_TYPES.items()}
"""Type → batched relationship upsert; ``$rows``: ``[{src, dst, <props>}]`` with external ids
and datetimes as epoch milliseconds. Endpoints must exist (they are matched, not created)."""

MERGE_RELS_BY_ELEMENT_ID: dict[str, str] = {t: _grouped_rel(spec, "MERGE") for t, spec in REL_TYPES.items()}
"""Type → the bulk-import form of :data:`MERGE_RELS`, grouped by source node: ``$rows``:
``[{src, dst: [...], <prop>: [...]}]`` where ``src``/``dst`` are Neo4j element ids (from
:data:`ELEMENT_IDS`), so each endpoint is a direct seek instead of an index lookup."""

CREATE_RELS_BY_ELEMENT_ID: dict[str, str] = {t: _grouped_rel(spec, "CREATE") for t, spec in REL_TYPES.items()}
"""Type → :data:`MERGE_RELS_BY_ELEMENT_ID` with ``CREATE``: used only while the database holds
no relationship of that type yet (a fresh import), where it cannot duplicate anything."""

ELEMENT_IDS: dict[str, str] = {label: f"MATCH (n:{label}) RETURN n.id AS id, elementId(n) AS eid"
                               for label in NODE_LABELS}
"""Label → every node's ``id`` and Neo4j element id (valid while the node exists)."""

READ_NODES: dict[str, str] = {label: _read_nodes(label) for label in NODE_LABELS}
"""Label → one record whose ``rows`` lists ``[id, <props>]`` per node (datetimes as epoch ms).
Reads return collected lists rather than one record per row: hydrating a record costs
the Python driver ~10x more than a list element."""

READ_EMBEDDINGS = ("UNWIND $ids AS id MATCH (n:Item {id: id}) WHERE n.embedding IS NOT NULL "
                   "RETURN collect([n.id, n.embedding]) AS rows")
"""Embeddings of the Items ``$ids`` that have one, as ``[id, embedding]`` rows."""

OUT_DEGREES: dict[str, str] = {t: _out_degrees(spec) for t, spec in REL_TYPES.items()}
"""Type → ``[id, out-degree]`` of every source node with at least one such relationship
(from the degree store; used to page :data:`READ_RELS` in bounded chunks)."""

READ_RELS: dict[str, str] = {t: _read_rel(spec) for t, spec in REL_TYPES.items()}
"""Type → the relationships leaving source nodes ``$ids``, as ``[src, dst, <props>]`` rows."""

COUNT_NODES: dict[str, str] = {label: f"MATCH (n:{label}) RETURN count(n) AS n" for label in NODE_LABELS}
"""Label → node count."""

COUNT_RELS: dict[str, str] = {t: f"MATCH ()-[r:{t}]->() RETURN count(r) AS n" for t in REL_TYPES}
"""Type → relationship count (answered from the count store)."""

NEIGHBORS: dict[tuple[str, str], str] = {(t, d): _neighbors(spec, d) for t, spec in REL_TYPES.items()
                                         for d in ("out", "in")}
"""``(type, "out"|"in")`` → the other ends of one node's relationships; ``$id``, ``$limit``."""

MISSING_ITEMS = ("UNWIND $ids AS id OPTIONAL MATCH (n:Item {id: id}) WITH id, n WHERE n IS NULL "
                 "RETURN collect(id)[..3] AS some, count(id) AS n")
"""Which of ``$ids`` are not Item ids (up to three, and how many)."""

CREATE_VECTOR_INDEX = (f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:Item) ON n.embedding "
                       "OPTIONS {indexConfig: {`vector.dimensions`: $dims, `vector.similarity_function`: 'cosine', "
                       "`vector.quantization.enabled`: false}}")
"""Cosine vector index over ``Item.embedding`` with ``$dims`` dimensions (unquantised: exact scores)."""

SHOW_VECTOR_INDEX = ("SHOW INDEXES YIELD name, options WHERE name = $name "
                     "RETURN options.indexConfig.`vector.dimensions` AS dims")
"""Dimensions of the vector index named ``$name`` (no row when absent)."""

DROP_VECTOR_INDEX = f"DROP INDEX {VECTOR_INDEX} IF EXISTS"
"""Drop the vector index (before re-creating it with other dimensions)."""

AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"
"""Block until every index is online (or ``$seconds`` pass)."""

VECTOR_QUERY = (f"CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $k, $vector) YIELD node, score "
                "RETURN node.id AS id, score")
"""The ``$k`` items nearest ``$vector``; score = (1 + cos) / 2, best first."""

CLEAR: tuple[str, ...] = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS",
    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS",
    f"DROP INDEX {VECTOR_INDEX} IF EXISTS",
)
"""Delete every relationship, then every node, in bounded batches (auto-commit transactions;
relationships first so that deleting a popular node never holds all its edges in one transaction),
then the vector index: the next write builds it afresh over the new vectors (an index kept across
a clear would carry the deleted vectors until Lucene merges them, and queries ~2x slower)."""
