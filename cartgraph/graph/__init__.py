"""The knowledge graph, in memory or in a real Neo4j server (see DESIGN.md).

::

    from cartgraph.graph import build, MemoryStore, Neo4jStore
    kg = build(dataset, item_vectors)          # columnar KnowledgeGraph
    data = kg.to_heterodata()                   # PyG HeteroData (item x = text vectors)
    with Neo4jStore() as store:                 # NEO4J_URI, else 'cartgraph neo4j start'
        store.write(kg)
        store.upsert_complements(rows, model="complement-gnn")
        ids, scores = store.vector_query(kg.item_vectors[0], k=10)

:mod:`cartgraph.graph.server` runs the local Neo4j server; :mod:`cartgraph.graph.cypher`
holds every Cypher statement; :mod:`cartgraph.graph.schema` the label/type whitelist.
"""
from cartgraph.graph.build import build
from cartgraph.graph.connection import Connection, resolve
from cartgraph.graph.knowledge_graph import KnowledgeGraph
from cartgraph.graph.memory import MemoryStore
from cartgraph.graph.neo4j_store import Neo4jStore
from cartgraph.graph.schema import EVENT_RELS, NODE_LABELS, REL_TYPES
from cartgraph.graph.store import GraphStore

__all__ = [
    "Connection",
    "EVENT_RELS",
    "GraphStore",
    "KnowledgeGraph",
    "MemoryStore",
    "NODE_LABELS",
    "Neo4jStore",
    "REL_TYPES",
    "build",
    "resolve",
]
