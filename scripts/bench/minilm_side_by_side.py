#!/usr/bin/env python3
"""Muse and sentence-transformers embedding the same sentences with all-MiniLM-L6-v2, alternating.

Each round runs `muse embed --bench` as a fresh process (throughput over the sentence list in
batches of 32, median of --reps passes; then the p50 latency of embedding one sentence alone,
after warm-up) and the same two measurements with sentence-transformers in this process
(loaded once), alternating which goes first. Both use --threads (default 2). The table gives
medians over the rounds and the Muse / sentence-transformers ratio. Wait for an idle machine
(see ../../docs/benchmarks.md).

Needs torch 2.15, sentence-transformers 6.2 (scripts/fixtures/requirements.txt) and a release
build (`cargo build --release -p muse-cli`):

    HF_HUB_OFFLINE=1 /work/refenv/bin/python scripts/bench/minilm_side_by_side.py --rounds 5
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = pathlib.Path(__file__).resolve().parents[2]

SUBJECTS = ["The old lighthouse keeper", "A young software engineer", "Our neighbour's curious cat",
            "The city council", "A team of marine biologists", "My grandmother",
            "The night-shift nurse", "A travelling jazz quartet"]
VERBS = ["carefully repaired", "quietly photographed", "enthusiastically described",
         "patiently explained"]
OBJECTS = ["the broken wooden bridge near the river", "every star visible above the northern hills",
           "a recipe for bread that rises overnight", "the strange noise coming from the attic"]
TAILS = ["before the storm arrived on Tuesday evening.", "while everyone else was still asleep.",
         "to a crowd of surprisingly attentive children.", "even though nobody had asked them to."]


def sentences(n=32):
    """n distinct sentences of about 22 tokens each ([CLS] and [SEP] included)."""
    out = []
    for i in range(n):
        out.append(f"{SUBJECTS[i % 8]} {VERBS[(i // 8) % 4]} {OBJECTS[(i * 3) % 4]} "
                   f"{TAILS[(i * 5 + i // 4) % 4]}")
    return out


def run_muse(file, threads, reps, single_reps):
    cmd = [str(ROOT / "target/release/muse"), "--threads", str(threads), "embed", "--bench",
           "--file", file, "--reps", str(reps), "--single-reps", str(single_reps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    s = json.loads(out.strip().splitlines()[-1])
    return {"sentences_per_s": s["sentences_per_s_median"], "single_ms_p50": s["single_ms_p50"]}


class SentenceTransformersPeer:
    def __init__(self, model_dir, threads):
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_dir, device="cpu")

    def run(self, texts, reps, single_reps):
        m = self.model
        m.encode(texts, batch_size=32)
        for _ in range(5):
            m.encode(texts[:1], batch_size=1)
        rates = []
        for _ in range(reps):
            t = time.perf_counter()
            m.encode(texts, batch_size=32)
            rates.append(len(texts) / (time.perf_counter() - t))
        single = []
        for _ in range(single_reps):
            t = time.perf_counter()
            m.encode(texts[:1], batch_size=1)
            single.append((time.perf_counter() - t) * 1e3)
        return {"sentences_per_s": statistics.median(rates), "single_ms_p50": statistics.median(single)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=4, help="batches of 32 sentences per timed pass")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--single-reps", type=int, default=50)
    a = ap.parse_args()
    texts = sentences(32 * a.batches)
    peer = SentenceTransformersPeer(a.model, a.threads)
    toks = [len(ids) for ids in peer.model.tokenizer(texts)["input_ids"]]
    print(f"{len(texts)} sentences, {statistics.mean(toks):.1f} tokens on average "
          f"({min(toks)}–{max(toks)}), {a.threads} threads", flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts) + "\n")
        file = f.name
    runs = {"muse": [], "sentence-transformers": []}
    try:
        for r in range(a.rounds):
            order = [("muse", lambda: run_muse(file, a.threads, a.reps, a.single_reps)),
                     ("sentence-transformers", lambda: peer.run(texts, a.reps, a.single_reps))]
            if r % 2:
                order.reverse()
            for name, fn in order:
                res = fn()
                runs[name].append(res)
                print(json.dumps({"round": r, "engine": name, **res}), flush=True)
    finally:
        os.unlink(file)
    med = {n: {k: statistics.median(x[k] for x in v) for k in ("sentences_per_s", "single_ms_p50")}
           for n, v in runs.items()}
    print()
    print(f"| all-MiniLM-L6-v2, {a.threads} threads, {a.rounds} rounds (median) | Muse | "
          "sentence-transformers | Muse / s-t |")
    print("|---|---|---|---|")
    m, s = med["muse"]["sentences_per_s"], med["sentence-transformers"]["sentences_per_s"]
    print(f"| sentences/s (batch 32, ~{statistics.mean(toks):.0f} tokens) | {m:.1f} | {s:.1f} | {m / s:.2f}× |")
    m, s = med["muse"]["single_ms_p50"], med["sentence-transformers"]["single_ms_p50"]
    print(f"| one sentence, p50 ms | {m:.2f} | {s:.2f} | {s / m:.2f}× faster |")


if __name__ == "__main__":
    main()
