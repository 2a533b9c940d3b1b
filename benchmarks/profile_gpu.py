"""Where the time goes on a GPU: one LightGCN training step on Gowalla and one text encode.

A diagnostic (not a benchmark figure): times the sparse product variants that could
serve LightGCN's propagation, profiles one training step with ``torch.profiler``, and
splits a 20,000-text encode into tokenising, padding, forward and cache writing.

    PYTHONPATH=. python benchmarks/profile_gpu.py --data-dir DIR --texts-file T.json --model MODEL_DIR

Last line: one JSON object with the timings (milliseconds).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _ms(fn, repeats: int = 20) -> float:
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats * 1e3


def lightgcn(data_dir: Path) -> dict:
    from cartgraph.gnn import LightGCN
    from cartgraph.gnn.propagation import normalized_adjacency
    from cartgraph.loaders import load

    ds = load("lightgcn", data_dir / "gowalla")
    train = ds.interactions(events=ds.events[ds.events["split"] == "train"])
    dev = torch.device("cuda")
    adj = normalized_adjacency(train, dev)
    x = torch.randn(adj.shape[0], 64, device=dev)
    out = {"nnz": int(adj._nnz())}
    out["spmm_csr_int64_ms"] = _ms(lambda: torch.sparse.mm(adj, x))
    adj32 = torch.sparse_csr_tensor(adj.crow_indices().int(), adj.col_indices().int(), adj.values(), adj.shape)
    out["spmm_csr_int32_ms"] = _ms(lambda: torch.sparse.mm(adj32, x))
    coo = adj.to_sparse_coo().coalesce()
    row, col = coo.indices()
    val = coo.values()
    out["gather_index_add_ms"] = _ms(lambda: torch.zeros_like(x).index_add_(0, row, x[col] * val[:, None]))
    out["csr_matmul_op_ms"] = _ms(lambda: adj @ x)
    # One whole training step, as the trainer runs it.
    model = LightGCN(64, 3, epochs=1, batch_size=2048, progress=False, device="cuda").fit_matrix(train)
    module = model.module_
    opt = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    users = torch.randint(0, train.shape[0], (2048,), device=dev)
    pos = torch.randint(0, train.shape[1], (2048,), device=dev)
    neg = torch.randint(0, train.shape[1], (2048,), device=dev)

    def step():
        p, n, l2 = module.bpr_terms(users, pos, neg)
        loss = torch.nn.functional.softplus(n - p).mean() + 1e-4 * l2 / 2048
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    out["train_step_ms"] = _ms(step)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            step()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12))
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def encoder(texts_file: Path, model_dir: str) -> dict:
    from cartgraph.text import TextEncoder

    texts = json.loads(texts_file.read_text())
    enc = TextEncoder(model_dir, device="cuda", batch_size=1024)
    enc.encode(texts[:64])
    m = enc._load()
    out = {}
    t0 = time.perf_counter()
    ids = m["tokenizer"](texts, truncation=True, max_length=m["max_length"], padding=False,
                         return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    out["tokenize_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    enc._encode_model(texts, 1024, False)
    torch.cuda.synchronize()
    out["encode_model_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    enc._encode_model(texts, 1024, False)
    out["encode_model_again_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    enc.encode(texts)
    out["encode_no_cache_ms"] = (time.perf_counter() - t0) * 1e3
    lengths = [len(x) for x in ids]
    out["mean_tokens"] = float(np.mean(lengths))
    width = max(lengths)
    batch = torch.ones((1024, 16), dtype=torch.long, device="cuda")
    mask = torch.ones_like(batch)
    with torch.inference_mode():
        out["forward_1024x16_ms"] = _ms(lambda: enc._forward(batch, mask), 10)
    out["max_tokens"] = width
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--texts-file", required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    result = {"encoder": encoder(Path(args.texts_file), args.model)}
    print(json.dumps(result), flush=True)
    result["lightgcn"] = lightgcn(Path(args.data_dir))
    result["device"] = torch.cuda.get_device_name(0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
