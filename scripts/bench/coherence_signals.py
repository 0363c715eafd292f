"""Which signals tell a paragraph from its sentence shuffle? Measures, on the validity corpus
(crates/muse-quality/data/validity_corpus.jsonl), how often the original beats a shuffle of its
sentences under (1) sentence-embedding features (all-MiniLM-L6-v2 via sentence-transformers:
mean adjacent cosine, "topic sentence first") and (2) the language model's total log-probability
of the text, equivalently its context gain (SmolLM2 GGUF via llama-cpp-python).

These figures chose the coherence design documented in crates/muse-quality/src/coherence.rs
(embeddings alone: 66% of 1,280 shuffles; LM context gain: 94% of 160).

    HF_HUB_OFFLINE=1 /work/refenv/bin/python scripts/bench/coherence_signals.py [--lm-paragraphs 40]

Versions: see scripts/fixtures/requirements.txt (sentence-transformers, llama-cpp-python).
"""

import argparse
import json
import pathlib
import random
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "crates" / "muse-quality" / "data" / "validity_corpus.jsonl"
MODELS = ROOT / "models"


def split(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def shuffles(n, count, rng):
    for _ in range(count):
        p = list(range(n))
        while p == list(range(n)):
            rng.shuffle(p)
        yield p


def embedding_features(corpus, rng):
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(MODELS / "all-MiniLM-L6-v2"), device="cpu")
    adj_wins, lead_wins = [], []
    for e in corpus:
        sents = split(e["text"])
        emb = m.encode(sents, normalize_embeddings=True)
        n = len(sents)

        def feats(order):
            x = emb[order]
            adj = np.mean([x[i] @ x[i + 1] for i in range(n - 1)])
            c = x.mean(0)
            c /= np.linalg.norm(c)
            cent = x @ c
            return adj, cent[0] - cent.mean()

        o = feats(list(range(n)))
        for p in shuffles(n, 20, rng):
            s = feats(p)
            adj_wins.append(o[0] > s[0])
            lead_wins.append(o[1] > s[1])
    print(f"embeddings: adjacent similarity original > shuffle in {np.mean(adj_wins):.3f} of {len(adj_wins)}")
    print(f"embeddings: topic sentence first original > shuffle in {np.mean(lead_wins):.3f}")


def lm_feature(corpus, rng, paragraphs):
    from llama_cpp import Llama

    lm = Llama(model_path=str(MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"), logits_all=True,
               verbose=False, n_ctx=1024, n_threads=2)

    def nll(text):
        toks = lm.tokenize(text.encode(), add_bos=True)
        lm.reset()
        lm.eval(toks)
        lg = np.array(lm.scores[: len(toks)])
        lp = lg - lg.max(1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
        return -np.array([lp[i, toks[i + 1]] for i in range(len(toks) - 1)])

    wins = []
    for e in corpus[:paragraphs]:
        sents = split(e["text"])
        o = nll(" ".join(sents)).sum()
        for p in shuffles(len(sents), 4, rng):
            wins.append(o < nll(" ".join(sents[i] for i in p)).sum())
    print(f"language model: original more probable than shuffle in {np.mean(wins):.3f} of {len(wins)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm-paragraphs", type=int, default=40)
    args = ap.parse_args()
    corpus = [json.loads(line) for line in CORPUS.open()]
    embedding_features(corpus, random.Random(1))
    lm_feature(corpus, random.Random(1), args.lm_paragraphs)


if __name__ == "__main__":
    main()
