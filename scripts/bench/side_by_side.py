#!/usr/bin/env python3
"""Muse and llama.cpp on the same GGUF, alternating, in one run.

Each round runs `muse bench --reps 1` and `llamacpp_bench.py -r 1` as fresh processes (so each
reports its own peak RSS), alternating which goes first; the table gives medians over the rounds
and the Muse / llama.cpp ratio. Wait for an idle machine: both peers busy-wait their threads, so
any other load distorts the figures (see ../../docs/benchmarks.md).

    python scripts/bench/side_by_side.py models/SmolLM2-135M-Instruct.Q4_1.gguf --rounds 5
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def run_muse(model, threads, prompt, decode):
    cmd = [str(ROOT / "target/release/muse"), "--threads", str(threads), "bench", "--model", model,
           "--reps", "1", "--prefill", str(prompt), "--decode", str(decode), "--json"]
    s = last_json(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"prefill": s["prefill_tokens_per_s_median"], "decode": s["decode_tokens_per_s_median"],
            "rss": s["peak_rss_mib"]}


def run_llamacpp(model, threads, prompt, decode):
    cmd = [sys.executable, str(ROOT / "scripts/bench/llamacpp_bench.py"), model, "-r", "1",
           "--threads", str(threads), "--n-prompt", str(prompt), "--n-decode", str(decode)]
    s = last_json(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"prefill": s["prefill_tok_s_median"], "decode": s["decode_tok_s_median"], "rss": s["peak_rss_mib"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    a = ap.parse_args()
    runs = {"muse": [], "llama.cpp": []}
    for r in range(a.rounds):
        order = [("muse", run_muse), ("llama.cpp", run_llamacpp)]
        if r % 2:
            order.reverse()
        for name, fn in order:
            res = fn(a.model, a.threads, a.prompt, a.decode)
            runs[name].append(res)
            print(json.dumps({"round": r, "engine": name, **res}), flush=True)
    med = {n: {k: statistics.median(x[k] for x in v) for k in ("prefill", "decode", "rss")} for n, v in runs.items()}
    print()
    print(f"| {os.path.basename(a.model)}, {a.threads} threads, {a.rounds} rounds (median) | Muse | llama.cpp | Muse / llama.cpp |")
    print("|---|---|---|---|")
    for k, label in (("decode", f"decode tok/s ({a.decode} tokens, batch 1)"),
                     ("prefill", f"prefill tok/s ({a.prompt}-token prompt)"), ("rss", "peak RSS MiB")):
        m, l = med["muse"][k], med["llama.cpp"][k]
        print(f"| {label} | {m:.1f} | {l:.1f} | {m / l:.2f}× |")


if __name__ == "__main__":
    main()
