#!/usr/bin/env python3
"""hnswlib on the vectors Muse's `kb_bench` example exported, for a side-by-side ANN comparison.

    cargo run --release -p muse-retrieval --example kb_bench -- --n 100000 --export /tmp/kbb
    /work/refenv/bin/python scripts/bench/kb_ann_side_by_side.py /tmp/kbb

Reads vectors.f32 (n x dim), queries.f32, truth.i32 (exact top 10 per query, row indices) and
meta.json (n, dim, m, ef_construction). Builds an hnswlib 'ip' index with the same M and
ef_construction (single-threaded build, as Muse's; and a multi-threaded build for reference),
then for each ef answers the queries one at a time (as a knowledge-base search does) and prints
one JSON line per ef: recall@10 against the exact neighbours, latency p50/p99 in ms. Also times
numpy brute force (one matrix-vector product per query). Tested with hnswlib 0.8.0, numpy 2.
"""
import json
import os
import sys
import time

import hnswlib
import numpy as np


def main() -> None:
    d = sys.argv[1]
    efs = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "16,32,64,100,200").split(",")]
    meta = json.load(open(os.path.join(d, "meta.json")))
    n, dim, k = meta["n"], meta["dim"], meta["k"]
    x = np.fromfile(os.path.join(d, "vectors.f32"), dtype="<f4").reshape(n, dim)
    q = np.fromfile(os.path.join(d, "queries.f32"), dtype="<f4").reshape(-1, dim)
    truth = np.fromfile(os.path.join(d, "truth.i32"), dtype="<i4").reshape(-1, k)

    out = {"hnswlib": hnswlib.__version__ if hasattr(hnswlib, "__version__") else "0.8.0",
           "n": n, "dim": dim, "m": meta["m"], "ef_construction": meta["ef_construction"]}
    for threads in (1, os.cpu_count() or 1):
        idx = hnswlib.Index(space="ip", dim=dim)
        idx.init_index(max_elements=n, ef_construction=meta["ef_construction"], M=meta["m"], random_seed=7)
        idx.set_num_threads(threads)
        t = time.perf_counter()
        idx.add_items(x, np.arange(n))
        out[f"build_s_{threads}_threads"] = time.perf_counter() - t
    print(json.dumps(out))
    idx.set_num_threads(1)

    for ef in efs:
        idx.set_ef(max(ef, k))
        ms, hit = [], 0
        for i in range(len(q)):
            t = time.perf_counter()
            labels, _ = idx.knn_query(q[i : i + 1], k=k)
            ms.append((time.perf_counter() - t) * 1e3)
            hit += len(set(labels[0].tolist()) & set(truth[i].tolist()))
        ms.sort()
        print(json.dumps({"ef": ef, "recall_at_10": hit / (k * len(q)),
                          "ann_ms_p50": ms[len(ms) // 2], "ann_ms_p99": ms[int(round((len(ms) - 1) * 0.99))]}))

    ms, hit = [], 0
    for i in range(len(q)):
        t = time.perf_counter()
        s = x @ q[i]
        top = np.argpartition(-s, k)[:k]
        ms.append((time.perf_counter() - t) * 1e3)
        hit += len(set(top.tolist()) & set(truth[i].tolist()))
    ms.sort()
    print(json.dumps({"numpy_brute_force": True, "recall_at_10": hit / (k * len(q)),
                      "ms_p50": ms[len(ms) // 2], "ms_p99": ms[int(round((len(ms) - 1) * 0.99))]}))


if __name__ == "__main__":
    main()
