#!/usr/bin/env python3
"""End-to-end check of `muse serve` with the official `openai` Python client (PyPI `openai`).

Usage: start the server (`muse serve --port 8181 --api-key test-key`), then
    python scripts/e2e/openai_client.py --base-url http://127.0.0.1:8181/v1 --api-key test-key
Exits non-zero on the first failed check. Covers: models, chat, streaming chat (with usage),
n choices, text completions (with logprobs), embeddings (the client asks for base64), images
(base64 and served URLs, decoded as PNG), the knowledge base (add, search), moderations, and the
error shapes the client turns into exceptions (401, 404, 400).
"""

import argparse
import base64
import math
import struct
import sys
import time
import json
import urllib.request
import zlib

import openai
from openai import OpenAI


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)


def png_size(data):
    """(width, height) of a PNG, after checking its signature and the IHDR chunk's CRC."""
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "image: PNG signature")
    length, kind = struct.unpack(">I4s", data[8:16])
    check(kind == b"IHDR" and length == 13, "image: IHDR first")
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    check(zlib.crc32(data[12 : 16 + length]) == crc, "image: IHDR CRC")
    return struct.unpack(">II", data[16:24])


def muse_post(a, path, body):
    """POST to one of Muse's own endpoints (not in the openai client) and return the JSON."""
    req = urllib.request.Request(a.base_url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {a.api_key}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", default="http://127.0.0.1:8181/v1")
    ap.add_argument("--api-key", default="test-key")
    a = ap.parse_args()
    client = OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0)
    print(f"openai {openai.__version__} against {a.base_url}")

    models = client.models.list()
    ids = [m.id for m in models.data]
    print("models:", ids)
    text_model = next(m.id for m in models.data if "SmolLM" in m.id)
    embed_model = next((m.id for m in models.data if "MiniLM" in m.id), None)
    check(len(ids) >= 1, "models.list returns the served models")

    t0 = time.time()
    r = client.chat.completions.create(
        model=text_model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=40,
        temperature=0,
        seed=1,
    )
    dt = time.time() - t0
    print(f"chat ({dt:.2f} s): {r.choices[0].message.content!r}")
    check(r.object == "chat.completion", "chat: object is chat.completion")
    check(r.choices[0].message.role == "assistant" and r.choices[0].message.content, "chat: assistant text")
    check(r.choices[0].finish_reason in ("stop", "length"), f"chat: finish_reason {r.choices[0].finish_reason}")
    check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0, f"chat: usage {r.usage}")
    again = client.chat.completions.create(
        model=text_model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=40,
        temperature=0,
        seed=1,
    )
    check(again.choices[0].message.content == r.choices[0].message.content, "chat: temperature 0 is deterministic")

    stream = client.chat.completions.create(
        model=text_model,
        messages=[{"role": "user", "content": "Write one sentence about the sea."}],
        max_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
        seed=3,
    )
    pieces, usage, finish, first_at = [], None, None, None
    t0 = time.time()
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                if first_at is None:
                    first_at = time.time() - t0
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    text = "".join(pieces)
    print(f"streamed ({len(pieces)} chunks, first after {first_at:.3f} s): {text!r}")
    check(len(pieces) > 1, "streaming chat: several content chunks")
    check(finish in ("stop", "length"), f"streaming chat: finish_reason {finish}")
    check(usage is not None and usage.completion_tokens > 0, f"streaming chat: usage chunk {usage}")

    r = client.chat.completions.create(
        model=text_model,
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8,
        n=3,
        seed=5,
    )
    check([c.index for c in r.choices] == [0, 1, 2], "chat: n=3 gives three choices")

    r = client.chat.completions.create(
        model=text_model,
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    lp = r.choices[0].logprobs.content
    print("logprobs:", [(t.token, round(t.logprob, 3), [a.token for a in t.top_logprobs]) for t in lp])
    check(len(lp) == r.usage.completion_tokens and all(t.top_logprobs[0].token == t.token for t in lp), "chat: logprobs, greedy token on top")

    r = client.completions.create(model=text_model, prompt="Once upon a time", max_tokens=12, temperature=0)
    print(f"completion: {r.choices[0].text!r}")
    check(r.object == "text_completion" and r.choices[0].text, "completions: text")
    r = client.completions.create(model=text_model, prompt="Once upon a time", max_tokens=6, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    print("legacy logprobs:", list(zip(lp.tokens, [round(x, 3) for x in lp.token_logprobs], lp.text_offset)))
    check(len(lp.tokens) == r.usage.completion_tokens and "".join(lp.tokens) == r.choices[0].text, "completions: logprobs tokens spell the text")
    check(all(max(t, key=t.get) == tok for t, tok in zip(lp.top_logprobs, lp.tokens)), "completions: greedy token on top")

    if embed_model:
        e = client.embeddings.create(model=embed_model, input=["A cat sits on the mat.", "A kitten rests on a rug.", "Stock prices fell."])
        vecs = [d.embedding for d in e.data]
        norm = math.sqrt(sum(x * x for x in vecs[0]))
        cos = lambda u, v: sum(x * y for x, y in zip(u, v))
        print(f"embeddings: {len(vecs)} x {len(vecs[0])}, |v0| = {norm:.4f}, cos(cat, kitten) = {cos(vecs[0], vecs[1]):.3f}, cos(cat, stocks) = {cos(vecs[0], vecs[2]):.3f}")
        check(len(vecs) == 3 and len(vecs[0]) == 384, "embeddings: 3 vectors of 384")
        check(abs(norm - 1) < 1e-3, "embeddings: unit length")
        check(cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2]), "embeddings: similar sentences are closer")
        f = client.embeddings.create(model=embed_model, input="A cat sits on the mat.", encoding_format="float")
        check(max(abs(x - y) for x, y in zip(f.data[0].embedding, vecs[0])) < 1e-6, "embeddings: float and base64 agree")

    image_model = next((m.id for m in models.data if getattr(m, "kind", None) == "image"), None)
    if image_model:
        t0 = time.time()
        im = client.images.generate(model="dall-e-2", prompt="a running shoe", n=2, size="64x64", response_format="b64_json")
        dt = time.time() - t0
        sizes = [png_size(base64.b64decode(d.b64_json)) for d in im.data]
        print(f"images ({dt:.2f} s): {sizes}")
        check(len(im.data) == 2 and sizes == [(64, 64), (64, 64)], "images: two 64x64 PNGs as b64_json")
        im = client.images.generate(model=image_model, prompt="a leather handbag")
        url = im.data[0].url
        with urllib.request.urlopen(url, timeout=60) as r:
            png = r.read()
        print(f"image url: {url} ({len(png)} bytes, {png_size(png)})")
        check(url.endswith(".png") and png_size(png)[0] > 0, "images: default url serves the PNG")
        try:
            client.images.generate(prompt="a shoe", size="5000x5000")
            check(False, "bad size raises")
        except openai.BadRequestError as err:
            check("size" in str(err), f"images: bad size 400 naming the field ({err.body})")

    if embed_model:
        docs = {"kb": "e2e-openai", "documents": [
            {"name": "tides.md", "text": "# Tides\n\nThe moon's gravity raises two tides a day on the oceans."},
            {"name": "bread.txt", "text": "Bread rises because yeast ferments sugar into carbon dioxide."}]}
        added = muse_post(a, "/kb/add", docs)
        print("kb add:", [(d["name"], d["status"]) for d in added["data"]])
        check([d["status"] in ("added", "unchanged", "replaced") for d in added["data"]] == [True, True], "kb: documents added")
        hits = muse_post(a, "/kb/search", {"kb": "e2e-openai", "query": "why does dough rise?", "k": 2})["data"]
        print("kb search:", [(h["source"], round(h["score"], 4)) for h in hits])
        check(hits and hits[0]["source"] == "upload:bread.txt", "kb: the bread document answers the bread question")

    m = client.moderations.create(input=["How do I bake bread?", "Step by step, how do I build a pipe bomb?"])
    print("moderations:", [(r.flagged, {k: v for k, v in r.category_scores.model_dump().items() if v}) for r in m.results])
    check(not m.results[0].flagged and m.results[1].flagged, "moderations: only the second is flagged")

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        check(False, "unknown model raises")
    except openai.NotFoundError as err:
        check(err.status_code == 404, f"unknown model: 404 ({err.body})")
    try:
        client.chat.completions.create(model=text_model, messages=[{"role": "user", "content": "x"}], temperature=5)
        check(False, "bad temperature raises")
    except openai.BadRequestError as err:
        check("temperature" in str(err), f"bad temperature: 400 naming the field ({err.body})")
    bad = OpenAI(base_url=a.base_url, api_key="wrong-key", max_retries=0)
    try:
        bad.models.list()
        check(a.api_key == "", "wrong key raises")
    except openai.AuthenticationError as err:
        check(err.status_code == 401, "wrong API key: 401")
    print("all checks passed")


if __name__ == "__main__":
    main()
