"""How well prompt embeddings reach the right class through a caption prior, and whether other
mappings would do better (docs/models.md, "What is left").

    muse train evaluate --model M --classifier C --prompts validation --per-class 1 --guidance 1 --json > val.json
    python3 scripts/analysis/prior_mapping.py --model trained/muse-t2i-fashion --report val.json [--muse ./muse]

Reads the prompts (and their classes) from a `muse train evaluate --json` report, embeds them with
`muse embed --json`, alone and inside each caption template, and compares, over the training
captions of `M/text_prior/`:
- the nearest caption (what Muse ships);
- a class vote over the k nearest captions (k = 1 … 48), by count and by summed similarity;
- the mean of the template-wrapped prompt embeddings, and the best template.
Prints, per method, how many prompts reach a caption of their own class, and the misses of the
nearest-caption map with their five nearest captions. Needs numpy and the safetensors Python
package (run here with numpy 2.1.3 and safetensors 0.8.0).
"""

import argparse
import json
import subprocess

import numpy as np
from safetensors.numpy import load_file

# The object templates of crates/muse-train/src/captions.rs (OBJECT_TEMPLATES).
TEMPLATES = [
    "a photo of {}", "a picture of {}", "{}", "an image of {}", "a black and white photo of {}",
    "a product photo of {}", "a small grayscale picture of {}", "a catalogue photo of {}",
]


def embed(muse, texts):
    out = subprocess.run([muse, "embed", "--json", *texts], check=True, capture_output=True, text=True)
    return np.array(json.loads(out.stdout)["embeddings"], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--muse", default="./muse")
    a = ap.parse_args()
    cfg = json.load(open(f"{a.model}/text_prior/config.json"))
    rows = load_file(f"{a.model}/text_prior/embeddings.safetensors")["embeddings"].astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    cls = np.array(cfg["caption_class"])
    caps = cfg["captions"]
    report = json.load(open(a.report))
    prompts = [(p, c) for c, plist in enumerate(report["prompts"]) for p in plist]
    texts = [p for p, _ in prompts]
    labels = np.array([c for _, c in prompts])
    plain = embed(a.muse, texts)
    wrapped = embed(a.muse, [t.replace("{}", p) for p in texts for t in TEMPLATES]).reshape(
        len(texts), len(TEMPLATES), -1)

    def score(pred):
        return int((np.array(pred) == labels).sum())

    sims = plain @ rows.T
    print(f"{len(texts)} prompts, {len(caps)} captions")
    print("nearest caption:", score(cls[sims.argmax(1)]))
    for k in (1, 3, 5, 8, 10, 15, 20, 30, 48):
        top = np.argsort(-sims, axis=1)[:, :k]
        count = [np.bincount(cls[t], minlength=cls.max() + 1).argmax() for t in top]
        summed = [np.bincount(cls[t], weights=s[t], minlength=cls.max() + 1).argmax()
                  for t, s in zip(top, sims)]
        print(f"vote over {k:2} nearest: by count {score(count)}, by summed similarity {score(summed)}")
    mean = wrapped.mean(1)
    print("template-averaged prompt:", score(cls[(mean @ rows.T).argmax(1)]))
    best = [cls[np.unravel_index((w @ rows.T).argmax(), (len(TEMPLATES), len(caps)))[1]] for w in wrapped]
    print("best single template:", score(best))
    for i in np.nonzero(cls[sims.argmax(1)] != labels)[0]:
        near = np.argsort(-sims[i])[:5]
        print(f"miss: {texts[i]!r} (class {labels[i]}) ->",
              ", ".join(f"{caps[j]!r} ({cls[j]}, {sims[i, j]:.3f})" for j in near))


if __name__ == "__main__":
    main()
