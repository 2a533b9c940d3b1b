"""Writes the four notebooks of this folder (run it after editing a cell here).

Each notebook is thin: a cell tagged ``parameters`` (small defaults; the tests inject
others papermill-style, as a cell right after it), calls into cartgraph, plots, and a
last cell tagged ``results`` that prints one JSON object of the figures it recorded,
which ``tests/test_notebooks.py`` checks against expected ranges.

    .venv/bin/python notebooks/make_notebooks.py
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """import json, os
import numpy as np, pandas as pd
import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
import cartgraph
%matplotlib inline"""


def notebook(title: str, intro: str, parameters: str, cells: list[str], results: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(SETUP),
                new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    for cell in cells:
        nb.cells.append(new_markdown_cell(cell[2:].split("\n", 1)[0]) if cell.startswith("# ") and "\n" not in cell
                        else new_code_cell(cell))
    nb.cells.append(new_code_cell(f"results = {results}\nprint(json.dumps(results))", metadata={"tags": ["results"]}))
    return nb


EXPLORE = notebook(
    "01 — Explore a shop",
    "Dataset statistics, the category tree and the co-purchase graph. Synthetic shop by default; "
    "set `dataset = \"online-retail\"` and `data_dir` for real data.",
    'dataset = "synthetic"\ndata_dir = None\ntop_items = 40',
    ["# Statistics",
     "ds = cartgraph.load(dataset, data_dir)\nstats = ds.stats()\npd.Series({k: v for k, v in stats.items() if not isinstance(v, dict)})",
     "pd.Series(stats['events_by_kind']).plot.bar(title='events by kind', xlabel='kind', ylabel='events'); plt.show()",
     "# The knowledge graph and the category tree",
     "from cartgraph.graph import build\nkg = build(ds)\nkg",
     "cats, sub = kg.nodes['Category'], kg.edges['SUBCATEGORY_OF']\n"
     "tree = nx.DiGraph([(cats['id'][d], cats['id'][s]) for s, d in zip(sub['src'], sub['dst'])])\n"
     "tree.add_edges_from(('shop', c) for c, level in zip(cats['id'], cats['level']) if level == 0)\n"
     "tree = nx.relabel_nodes(tree, lambda c: c.split(' > ')[-1])\n"
     "plt.figure(figsize=(11, 4))\n"
     "pos = nx.bfs_layout(tree, 'shop', align='horizontal')\n"
     "nx.draw_networkx(tree, pos, node_size=300, font_size=7, node_color='tab:orange', arrows=False)\n"
     "plt.title('category tree (department → category)'); plt.axis('off'); plt.show()",
     "# The co-purchase graph of the most co-purchased items",
     "cp = kg.edges['CO_PURCHASED']\n"
     "deg = pd.concat([cp['src'], cp['dst']]).value_counts().head(top_items)\n"
     "sub_cp = cp[cp['src'].isin(deg.index) & cp['dst'].isin(deg.index)]\n"
     "titles = kg.nodes['Item']['title']\n"
     "g = nx.Graph([(titles[s][:18], titles[d][:18], {'w': c}) for s, d, c in zip(sub_cp['src'], sub_cp['dst'], sub_cp['count'])])\n"
     "plt.figure(figsize=(10, 7))\n"
     "pos = nx.spring_layout(g, seed=0)\n"
     "nx.draw_networkx(g, pos, node_size=120, font_size=6, width=[0.3 + d['w'] / max(1, sub_cp['count'].max()) * 3 for *_, d in g.edges(data=True)])\n"
     "plt.title(f'co-purchase graph: {g.number_of_nodes()} most co-purchased items (edge width = shared baskets)'); plt.axis('off'); plt.show()"],
    "{'items': stats['items'], 'users': stats['users'], 'events': stats['events'], 'categories': len(cats), "
    "'co_purchased_edges': int(len(cp)), 'drawn_nodes': g.number_of_nodes()}")

TRAIN = notebook(
    "02 — Train and evaluate",
    "LightGCN's training curve and a metrics table against the baselines, under the dataset's fixed "
    "protocol (EVALUATION.md). Needs the Online Retail data (`data_dir` or `$CARTGRAPH_DATA_DIR`).",
    'data_dir = os.environ.get("CARTGRAPH_DATA_DIR")\nepochs = 20\nks = (10, 20)',
    ["from cartgraph.baselines import EASE, ItemKNN, MostPopular\nfrom cartgraph.evaluation import evaluate, splits\n"
     "from cartgraph.gnn import LightGCN\nfrom cartgraph.data_source import resolve_path\n"
     "ds = cartgraph.load('online-retail', resolve_path('online-retail', data_dir))\n"
     "valid, test = splits.online_retail(ds, stage='valid'), splits.online_retail(ds, stage='test')\nvalid, test",
     "# LightGCN: epochs chosen on validation, then refit on train + validation",
     "lgcn = LightGCN(epochs=epochs, eval_every=2, patience=3, progress=False).fit(valid.train, valid=valid)\n"
     "h = lgcn.history_\n"
     "fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))\n"
     "ax[0].plot(range(1, len(h.loss) + 1), h.loss, label='BPR loss'); ax[0].set(xlabel='epoch', ylabel='loss', title='training loss'); ax[0].legend()\n"
     "ax[1].plot([e + 1 for e, _ in h.valid], [s for _, s in h.valid], marker='o', label='validation Recall@20'); "
     "ax[1].set(xlabel='epoch', ylabel='Recall@20', title='validation'); ax[1].legend(); plt.show()",
     "# Metrics on the test period",
     "models = {'MostPopular': MostPopular(), 'ItemKNN': ItemKNN(), 'EASE (λ=500)': EASE(500.0),\n"
     "          'LightGCN': LightGCN(epochs=max(1, h.best_epoch + 1), eval_every=0, progress=False)}\n"
     "table = pd.DataFrame({name: evaluate(m.fit(test.train), test, ks=ks, progress=False) for name, m in models.items()}).T\n"
     "table[[f'recall@{k}' for k in ks] + [f'ndcg@{k}' for k in ks]]",
     "table[[f'recall@{k}' for k in ks]].plot.bar(title='Recall on Online Retail (test period)', ylabel='recall', xlabel='model', rot=0); plt.show()"],
    "{'recall@20': table['recall@20'].round(4).to_dict(), 'ndcg@20': table['ndcg@20'].round(4).to_dict(), "
    "'best_epoch': int(h.best_epoch), 'n_users': int(table['n_users'].iloc[0])}")

BUNDLES = notebook(
    "03 — Bundles",
    "Bundles for a few users of the synthetic shop, drawn as small graphs, and the RL learning curve of "
    "the walk policy.",
    'dataset = "synthetic"\ndata_dir = None\nn_users = 3\nsize = 4\nrl_epochs = 10',
    ["from cartgraph.config import BundlesConfig, RecommenderConfig\n"
     "ds = cartgraph.load(dataset, data_dir)\n"
     "rec = cartgraph.Recommender(RecommenderConfig(bundles=BundlesConfig(size=size, rl_epochs=rl_epochs))).fit(ds, progress=False)\n"
     "pd.DataFrame(rec.stages_).T",
     "# The RL learning curve",
     "hist = pd.DataFrame(rec.bundler_.history_)\n"
     "ax = hist.plot(x='epoch', y=['train_reward', 'valid_reward', 'valid_recall'], marker='o', title='bundle walk: RL tuning')\n"
     "ax.set_ylabel('reward / recall'); plt.show()\nhist",
     "# Bundles for a few users",
     "users = [u for u in rec.user_vocab_.ids if len(rec.history(u)) >= 3][:n_users]\n"
     "bundles = {u: rec.bundle(u, n=2) for u in users}\n"
     "fig, axes = plt.subplots(len(users), 2, figsize=(12, 4 * len(users)), squeeze=False)\n"
     "for row, u in enumerate(users):\n"
     "    for col, b in enumerate(bundles[u]):\n"
     "        g = nx.DiGraph([(b.titles[i - 1] if i <= 1 else b.titles[i - 1], b.titles[i]) for i in range(1, len(b.items))])\n"
     "        pos = nx.circular_layout(g)\n"
     "        nx.draw_networkx(g, pos, ax=axes[row][col], node_size=400, font_size=7, node_color=['tab:orange' if n == b.titles[0] else 'tab:blue' for n in g])\n"
     "        axes[row][col].set_title(f'user {u}, bundle {col + 1}: total {b.total_price:.0f}'); axes[row][col].axis('off')\n"
     "plt.show()\n"
     "for u in users:\n    print(u, '\\n' + '\\n'.join(b.describe() for b in bundles[u]))"],
    "{'bundle_sizes': sorted({len(b.items) for bs in bundles.values() for b in bs}), "
    "'distinct_pairs': all(bs[0].items != bs[1].items for bs in bundles.values()), "
    "'rl_epochs_run': int(hist['epoch'].max()), 'best_valid_reward': float(hist['valid_reward'].max()), "
    "'first_valid_reward': float(hist['valid_reward'].iloc[0])}")

NEO4J = notebook(
    "04 — Neo4j",
    "Load a fitted model's graph into the running Neo4j server (`NEO4J_URI`, else the server of "
    "`cartgraph neo4j start`), then run the Cypher exploration queries of `docs/cypher.md`.\n\n"
    "**This empties the database first**: point it at a scratch server.",
    'dataset = "synthetic"\ndata_dir = None\ncypher_doc = "../docs/cypher.md"',
    ["from cartgraph.graph import NODE_LABELS, Neo4jStore\nfrom cartgraph.cli.export import export_graph\n"
     "ds = cartgraph.load(dataset, data_dir)\n"
     "rec = cartgraph.Recommender().fit(ds, progress=False)\nkg = export_graph(rec)\nkg",
     "store = Neo4jStore()\n"
     "foreign = {r['label'] for r in store._run('CALL db.labels() YIELD label RETURN label')} - set(NODE_LABELS)\n"
     "assert not foreign, f'the server holds other data {foreign}: use a scratch server'\n"
     "store.clear()\ncounts = store.write(kg)\npd.Series(counts)",
     "# The Cypher queries of docs/cypher.md, on this shop",
     "import re\nBLOCK = re.compile(r'^### (\\d+)\\. (.+?)$.*?^```cypher\\n(.*?)^```', re.S | re.M)\n"
     "cp = kg.edges_external('CO_PURCHASED').sort_values('count', ascending=False)\n"
     "item = cp['src'].iloc[0]\n"
     "shown, ran, non_empty = {}, 0, 0\n"
     "for number, title, body in BLOCK.findall(open(cypher_doc).read()):\n"
     "    params = json.loads(re.search(r'^// params: (.*)$', body, re.M).group(1))\n"
     "    params = {k: (item if k in ('item', 'a') else 1 if k.startswith('min') else v) for k, v in params.items()}\n"
     "    query = '\\n'.join(l for l in body.splitlines() if not l.startswith('//'))\n"
     "    if '$vector' in query or '$' + 'text' in query:\n"
     "        params['vector'] = kg.item_vectors[kg.vocab('Item').index(item)].tolist()\n"
     "    try:\n"
     "        rows = pd.DataFrame(store._run(query, **params))\n"
     "    except Exception as exc:\n"
     "        rows = pd.DataFrame({'error': [str(exc)[:120]]})\n"
     "    else:\n"
     "        ran += 1; non_empty += int(len(rows) > 0)\n"
     "    shown[f'{number}. {title}'] = rows.head(5)\n"
     "for name, rows in shown.items():\n    print(name); display(rows)",
     "pd.Series({k: v for k, v in counts.items() if v}).plot.barh(title='the graph in Neo4j', xlabel='count', ylabel='label / type', logx=True); plt.show()\nstore.close()"],
    "{'neo4j_matches_graph': counts == kg.counts(), 'queries': len(shown), 'queries_ran': ran, 'queries_with_rows': non_empty}")


if __name__ == "__main__":
    for name, nb in (("01_explore", EXPLORE), ("02_train_evaluate", TRAIN), ("03_bundles", BUNDLES), ("04_neo4j", NEO4J)):
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")
