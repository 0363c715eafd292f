#!/usr/bin/env python3
"""Peer benchmark: llama.cpp (via llama-cpp-python) on a GGUF model, CPU only.

Measures, per repetition:
  * prefill tokens/s : one llama_decode of a deterministic N-token prompt
                       (default 512, n_batch = n_ubatch = 512), empty KV cache;
  * decode tokens/s  : after a short prompt, 128 greedy single-token evals
                       (batch 1); only the evals are timed, not the argmax;
  * peak RSS         : resource.getrusage(RUSAGE_SELF).ru_maxrss (process-wide
                       high-water mark, so it is monotone across repetitions).

Prints one JSON line per repetition, then one JSON summary line with medians.

Usage:
  python scripts/bench/llamacpp_bench.py MODEL.gguf [-r 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama

PARAGRAPH = (
    "The history of astronomy is one of the oldest stories in science. Long before telescopes, "
    "people watched the sky to keep track of the seasons, to plan when to plant and harvest crops, "
    "and to navigate across the open sea. Ancient astronomers in Babylon, Egypt, China and Greece "
    "recorded the positions of the Sun, the Moon and the planets with remarkable care. "
)
DECODE_PROMPT = "Once upon a time, in a small village by the sea, there lived"


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    v = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return v / (1024 * 1024) if sys.platform == "darwin" else v / 1024


def last_logits(llm: Llama) -> np.ndarray:
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def build_prompt(llm: Llama, n: int) -> list[int]:
    text = PARAGRAPH
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    while len(ids) < n:
        text += PARAGRAPH
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    return ids[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="path to a .gguf file")
    ap.add_argument("-r", "--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-prompt", type=int, default=512, help="prefill prompt length (default 512)")
    ap.add_argument("--n-decode", type=int, default=128, help="decoded tokens (default 128)")
    ap.add_argument("--n-batch", type=int, default=512)
    args = ap.parse_args()

    t_load0 = time.perf_counter()
    llm = Llama(
        model_path=args.model,
        n_ctx=max(1024, args.n_prompt + 64, args.n_decode + 64),
        n_batch=args.n_batch,
        n_ubatch=args.n_batch,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        logits_all=False,
        seed=1234,
        verbose=False,
    )
    load_s = time.perf_counter() - t_load0
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    bos = [llm.token_bos()] if add_bos else []

    prefill_ids = build_prompt(llm, args.n_prompt)
    decode_prompt = bos + llm.tokenize(DECODE_PROMPT.encode(), add_bos=False, special=False)
    if add_bos:
        prefill_ids = bos + prefill_ids[: args.n_prompt - 1]
    assert len(prefill_ids) == args.n_prompt

    # warm-up (page in weights, allocate compute buffers for both shapes)
    llm.reset()
    llm.eval(prefill_ids[:32])
    llm.eval([int(np.argmax(last_logits(llm)))])

    common = {
        "engine": "llama.cpp",
        "llama_cpp_python": llama_cpp.__version__,
        "model": os.path.basename(args.model),
        "model_bytes": os.path.getsize(args.model),
        "threads": args.threads,
        "n_prompt": args.n_prompt,
        "n_decode": args.n_decode,
        "n_batch": args.n_batch,
    }

    results = []
    for rep in range(args.reps):
        # ---- prefill ----
        llm.reset()  # n_tokens = 0; eval() then drops the KV cache from pos 0
        t0 = time.perf_counter()
        llm.eval(prefill_ids)
        prefill_s = time.perf_counter() - t0

        # ---- decode ----
        llm.reset()
        llm.eval(decode_prompt)
        decode_s = 0.0
        generated = []
        for _ in range(args.n_decode):
            tok = int(np.argmax(last_logits(llm)))
            generated.append(tok)
            t0 = time.perf_counter()
            llm.eval([tok])
            decode_s += time.perf_counter() - t0

        rec = {
            "rep": rep,
            "prefill_tok_s": round(args.n_prompt / prefill_s, 2),
            "prefill_s": round(prefill_s, 4),
            "decode_tok_s": round(args.n_decode / decode_s, 2),
            "decode_s": round(decode_s, 4),
            "decode_ms_per_tok": round(1000 * decode_s / args.n_decode, 3),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "decoded_head": llm.detokenize(generated[:12]).decode("utf-8", errors="replace"),
        }
        results.append(rec)
        print(json.dumps(rec, ensure_ascii=False), flush=True)

    summary = dict(common)
    summary.update({
        "summary": True,
        "reps": args.reps,
        "load_s": round(load_s, 3),
        "prefill_tok_s_median": round(statistics.median(r["prefill_tok_s"] for r in results), 2),
        "decode_tok_s_median": round(statistics.median(r["decode_tok_s"] for r in results), 2),
        "decode_ms_per_tok_median": round(statistics.median(r["decode_ms_per_tok"] for r in results), 3),
        # best-of figures: useful on a noisy machine (interference only ever slows things down)
        "prefill_tok_s_max": max(r["prefill_tok_s"] for r in results),
        "decode_tok_s_max": max(r["decode_tok_s"] for r in results),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
    })
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
