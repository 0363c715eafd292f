#!/usr/bin/env python3
"""Concurrency benchmark of `muse serve`: C streaming clients at once, each sending R chat
requests in a row; reports aggregate decode tokens/s (completion tokens of all clients over the
wall time), time to first token p50/p99, and the server's peak RSS.

    muse serve --port 8181 &
    python scripts/bench/serve_concurrency.py --pid $! --clients 1 4 16 --rounds 5

With --rounds R the levels run R times, interleaved (1, 4, 16, 1, 4, 16, ...), so a slow minute
on this shared machine hits every level alike; the summary gives each level's median and the
ratio of medians. (One client's 3 requests last about a second: a single round is noisy.)
"""
import statistics

import argparse
import http.client
import json
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how rain forms, step by step.",
    "Describe a busy market in the morning.",
    "Write a letter to a friend about a trip to the mountains.",
]


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[k]


def one(base, model, prompt, max_tokens, seed):
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "seed": seed,
        "temperature": 0.8,
    }
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {res.read()[:200]!r}")
    ttft, tokens = None, 0
    for raw in res:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        for c in chunk.get("choices", []):
            if c.get("delta", {}).get("content") and ttft is None:
                ttft = time.perf_counter() - t0
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    return ttft, tokens


def peak_rss_mib(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def run(base, model, clients, requests, max_tokens):
    def worker(w):
        return [one(base, model, PROMPTS[(w + r) % len(PROMPTS)], max_tokens, 1000 * w + r) for r in range(requests)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - t0
    flat = [x for rs in results for x in rs]
    ttfts = [t for t, _ in flat if t is not None]
    tokens = sum(n for _, n in flat)
    return {
        "clients": clients,
        "requests": len(flat),
        "completion_tokens": tokens,
        "wall_s": round(wall, 2),
        "aggregate_tokens_per_s": round(tokens / wall, 1),
        "ttft_p50_ms": round(1000 * pct(ttfts, 50), 1),
        "ttft_p99_ms": round(1000 * pct(ttfts, 99), 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8181")
    ap.add_argument("--model", default="SmolLM2-135M-Instruct.Q4_1")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=3, help="requests per client, in a row")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repetitions of all levels")
    ap.add_argument("--pid", type=int, help="server pid, for peak RSS")
    a = ap.parse_args()
    runs = {c: [] for c in a.clients}
    for _ in range(a.rounds):
        for c in a.clients:
            r = run(a.base, a.model, c, a.requests, a.max_tokens)
            r["server_peak_rss_mib"] = peak_rss_mib(a.pid)
            print(json.dumps(r), flush=True)
            runs[c].append(r)

    def med(c, key):
        return statistics.median(r[key] for r in runs[c])

    base = med(a.clients[0], "aggregate_tokens_per_s")
    for c in a.clients:
        tps = med(c, "aggregate_tokens_per_s")
        rss = max(r["server_peak_rss_mib"] or 0 for r in runs[c])
        print(f"{c:>3} clients: {tps:>7.1f} tok/s ({tps / base:.2f}x), TTFT p50 {med(c, 'ttft_p50_ms')} ms, "
              f"p99 {med(c, 'ttft_p99_ms')} ms, peak RSS {rss:.0f} MiB"
              + (f" [median of {a.rounds}; tok/s {min(r['aggregate_tokens_per_s'] for r in runs[c])}"
                 f"-{max(r['aggregate_tokens_per_s'] for r in runs[c])}]" if a.rounds > 1 else ""))


if __name__ == "__main__":
    main()
