"""``cartgraph export``: a fitted model's knowledge graph (with COMPLEMENTS) to Neo4j or to CSV files."""
from __future__ import annotations

from pathlib import Path

from cartgraph.cli._common import add_model_dir, load_model
from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "export_files", "export_graph"]


def register(sub) -> None:
    p = sub.add_parser("export", help="write a fitted model's graph to Neo4j or to CSV files",
                       description="The knowledge graph of a model folder (users, items, categories, bundles, "
                                   "events, CO_PURCHASED, SIMILAR_TO and the learned COMPLEMENTS) into Neo4j "
                                   "(NEO4J_URI, else the server of 'cartgraph neo4j start') or a folder of CSV files.")
    add_model_dir(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--neo4j", action="store_true", help="write into the Neo4j server (merging, idempotent)")
    where.add_argument("--out", type=Path, help="folder for nodes_<Label>.csv and rels_<TYPE>.csv (replaced atomically)")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def export_graph(rec):
    """The model's :class:`~cartgraph.graph.KnowledgeGraph`, with the learned COMPLEMENTS edges."""
    from cartgraph.errors import ConfigError

    if rec.graph_ is None:
        raise ConfigError("this model folder holds no graph (the graph stage did not run)")
    from cartgraph.pipeline_stages import graph_with_complements

    return graph_with_complements(rec)


def export_files(graph, out: Path) -> dict[str, int]:
    """One CSV per label and relationship type, with external ids; returns row counts."""
    from cartgraph.atomic import atomic_dir

    counts = {}
    with atomic_dir(out) as tmp:
        for label, frame in graph.nodes.items():
            frame.to_csv(tmp / f"nodes_{label}.csv", index=False)
            counts[label] = len(frame)
        for rel_type in graph.edges:
            frame = graph.edges_external(rel_type)
            frame.to_csv(tmp / f"rels_{rel_type}.csv", index=False)
            counts[rel_type] = len(frame)
    return counts


def _run(args) -> int:
    rec = load_model(args.model_dir)
    graph = export_graph(rec)
    if args.neo4j:
        from cartgraph.graph import Neo4jStore

        with Neo4jStore() as store:
            counts = store.write(graph)
        target = f"Neo4j at {store.connection.uri}"
    else:
        counts = export_files(graph, args.out)
        target = str(args.out)
    if args.json:
        emit_json({"model_dir": str(args.model_dir), "target": target, "counts": counts})
        return 0
    print_table([(k, v) for k, v in counts.items()], ["nodes / relationships", "count"], title=f"exported to {target}")
    return 0
