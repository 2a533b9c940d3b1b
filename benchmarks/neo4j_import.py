"""Neo4j import speed: our batched store against row-at-a-time MERGE, in one run.

The full Online Retail graph (users, items, derived categories, purchases,
co-purchase pairs, text-similarity edges, item vectors) is imported into an empty
database by :class:`~cartgraph.graph.Neo4jStore` and timed end to end (constraints,
nodes, embeddings, relationships, vector index online) twice: first on the fresh server
(``cold_*``: its JVM is still compiling the write path), then again after emptying the
database, as on a long-running server (the headline ``rels_per_s``). Then a sample of PURCHASED
relationships is deleted and written back one transaction per row with ``MERGE`` (the
naive way), timed as a rate; the graph ends complete again. Finally ``k = 10``
vector queries over all items are timed.

    CARTGRAPH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python benchmarks/neo4j_import.py

Needs a server: ``NEO4J_URI``, else the one ``cartgraph neo4j start`` runs. The
database is emptied first. The last line printed is one JSON object: rels_per_s,
rowwise_rels_per_s, ratio, total_s, vector_query_p50_ms and the details.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from cartgraph.data_source import resolve_path
from cartgraph.graph import Neo4jStore, build, cypher
from cartgraph.graph.neo4j_store import to_rows
from cartgraph.graph.schema import REL_TYPES
from cartgraph.loaders import load


def text_vectors(ds, how: str) -> np.ndarray:
    """Item vectors in item-index order: the language model (``text``) or TF-IDF+SVD (``tfidf``)."""
    if how == "text":
        from cartgraph.text import item_vectors

        return item_vectors(ds)
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    titles = ds.items.set_index("item_id").loc[ds.item_vocab.ids, "title"].fillna("").tolist()
    x = TfidfVectorizer().fit_transform(titles)
    return TruncatedSVD(384, random_state=0).fit_transform(x).astype(np.float32)


def with_categories(ds, vectors: np.ndarray):
    try:
        from cartgraph.text import derive_categories
    except ImportError:
        return ds
    return derive_categories(ds, vectors)


def rowwise_rate(store: Neo4jStore, kg, n: int, seed: int) -> tuple[float, int]:
    """Delete ``n`` random PURCHASED relationships, MERGE them back one transaction each."""
    frame = kg.edges_external("PURCHASED")
    sample = frame.iloc[np.random.default_rng(seed).choice(len(frame), size=min(n, len(frame)), replace=False)]
    rows = to_rows(sample, REL_TYPES["PURCHASED"].props)
    store._run("UNWIND $rows AS row MATCH (:User {id: row.src})-[r:PURCHASED]->(:Item {id: row.dst}) DELETE r",
               rows=rows)
    start = time.perf_counter()
    for row in rows:
        store._run(cypher.MERGE_RELS["PURCHASED"], rows=[row])
    return len(rows) / (time.perf_counter() - start), len(rows)


def vector_p50(store: Neo4jStore, vectors: np.ndarray, n: int, seed: int) -> float:
    picks = np.random.default_rng(seed).choice(len(vectors), size=n, replace=False)
    store.vector_query(vectors[picks[0]], k=10)  # warm-up (plan cache, index check)
    times = []
    for i in picks:
        start = time.perf_counter()
        store.vector_query(vectors[i], k=10)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def java_version() -> str | None:
    """``java -version`` of the JVM our server command would use (None if unknown)."""
    import subprocess

    from cartgraph.graph.server import _java

    try:
        out = subprocess.run([_java(), "-version"], capture_output=True, text=True, timeout=30).stderr
    except Exception:  # noqa: BLE001 - a figure's annotation, never a failure
        return None
    return out.splitlines()[0] if out else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default=None, help="Online Retail file/folder (default: $CARTGRAPH_DATA_DIR)")
    ap.add_argument("--vectors", choices=["text", "tfidf"], default="text")
    ap.add_argument("--co-purchase-min-count", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--writers", type=int, default=2, help="concurrent write transactions (Neo4jStore(writers=))")
    ap.add_argument("--rowwise", type=int, default=1000, help="relationships written row by row")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    ds = load("online-retail", resolve_path("online-retail", args.path))
    t = time.perf_counter()
    vectors = text_vectors(ds, args.vectors)
    ds = with_categories(ds, vectors)
    kg = build(ds, vectors, similar_k=10, co_purchase_min_count=args.co_purchase_min_count)
    prep_s = time.perf_counter() - t
    counts = kg.counts()
    n_rels = sum(counts[t] for t in REL_TYPES)
    print(kg, f"(prepared in {prep_s:.1f} s)", flush=True)

    stages: dict[str, float] = {}
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            now = time.perf_counter()
            stages[stage] = round(now - last[0], 2)
            last[0] = now

    with Neo4jStore(on_batch=progress, writers=args.writers) as store:
        # 1) the first import on this server (its JVM still compiling the write path), 2) the same
        # import again after clearing: what a long-running server does; both are reported
        store.clear()
        last[0] = start = time.perf_counter()
        written = store.write(kg, batch_size=args.batch_size)
        cold_s = time.perf_counter() - start
        assert written == counts, (written, counts)
        cold_stages = dict(stages)
        store.clear()
        stages.clear()
        last[0] = start = time.perf_counter()
        written = store.write(kg, batch_size=args.batch_size)
        total_s = time.perf_counter() - start
        assert written == counts, (written, counts)
        rel_s = sum(stages.get(t, 0.0) for t in REL_TYPES)
        rowwise, n_rowwise = rowwise_rate(store, kg, args.rowwise, seed=0)
        assert store.counts() == counts
        p50 = vector_p50(store, vectors, args.queries, seed=1)
        uri = store.connection.uri
        retries = store.retries

    rels_per_s = n_rels / total_s
    result = {
        "rels_per_s": round(rels_per_s), "rowwise_rels_per_s": round(rowwise, 1),
        "ratio": round(rels_per_s / rowwise, 1), "total_s": round(total_s, 2),
        "vector_query_p50_ms": round(p50, 2),
        "cold_rels_per_s": round(n_rels / cold_s), "cold_total_s": round(cold_s, 2), "cold_stage_s": cold_stages,
        "writers": args.writers, "retries": retries, "java": java_version(),
        "rels": n_rels, "nodes": int(sum(counts[l] for l in ("User", "Item", "Category", "Bundle"))),
        "counts": {k: v for k, v in counts.items() if v}, "rel_phase_s": round(rel_s, 2),
        "rel_phase_rels_per_s": round(n_rels / rel_s) if rel_s else None, "stage_s": stages,
        "rowwise_sample": n_rowwise, "batch_size": args.batch_size, "vectors": args.vectors,
        "dim": int(vectors.shape[1]), "co_purchase_min_count": args.co_purchase_min_count,
        "neo4j": uri, "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
