#!/usr/bin/env python3
"""Convert the Jigsaw toxicity classifier of PyPI `toxic-comment-classifier==0.3.0` into the
files Muse loads (crates/muse-safety/src/toxicity/).

Inputs (from the wheel, `toxic_classifier/model/`):
  * `model.weights.h5` — Keras 3 HDF5 weights of the package's model (see its `model.py`):
    Embedding(20000, 50) -> Bidirectional(LSTM(50, return_sequences=True)) ->
    GlobalMaxPooling1D -> Dense(50, relu) -> Dense(6, sigmoid);
  * `tokenizer.pickle` — a pickled `keras.src.legacy.preprocessing.text.Tokenizer`.

Outputs in OUT_DIR:
  * `model.safetensors` — F32 tensors named after the Keras layers:
    `embedding.embeddings` [20000, 50];
    `lstm_forward.kernel` [50, 200], `lstm_forward.recurrent_kernel` [50, 200],
    `lstm_forward.bias` [200] (gate order i, f, c, o, as Keras stores them), the same for
    `lstm_backward`; `dense.kernel` [100, 50], `dense.bias` [50]; `dense_1.kernel` [50, 6],
    `dense_1.bias` [6]. Kernels keep Keras' [in, out] layout.
  * `tokenizer.json` — the Tokenizer's settings (filters, split, lower, num_words, oov_token,
    char_level), the package's padding settings (maxlen 100, `pad_sequences` defaults:
    padding and truncating "pre"), the label names, and `word_index` restricted to the
    indices the model can see (< num_words).

Needs only python3, numpy and h5py: the pickle is read with an Unpickler that replaces the
Keras Tokenizer class by a plain stub, so neither Keras nor TensorFlow is imported. The
output is deterministic (sorted keys, fixed tensor order), so setup.sh pins its sha256.

    python3 scripts/convert/toxicity_to_safetensors.py WHEEL_DIR/toxic_classifier/model OUT_DIR
"""
import json
import pickle
import struct
import sys
from pathlib import Path

import h5py
import numpy as np

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
MAXLEN = 100  # toxic_classifier/model.py: MAXLEN
VOCAB_SIZE = 20000  # toxic_classifier/model.py: VOCAB_SIZE (the Embedding's input_dim)

# h5 dataset -> (safetensors name, expected shape)
TENSORS = [
    ("layers/embedding/vars/0", "embedding.embeddings", (VOCAB_SIZE, 50)),
    ("layers/bidirectional/forward_layer/cell/vars/0", "lstm_forward.kernel", (50, 200)),
    ("layers/bidirectional/forward_layer/cell/vars/1", "lstm_forward.recurrent_kernel", (50, 200)),
    ("layers/bidirectional/forward_layer/cell/vars/2", "lstm_forward.bias", (200,)),
    ("layers/bidirectional/backward_layer/cell/vars/0", "lstm_backward.kernel", (50, 200)),
    ("layers/bidirectional/backward_layer/cell/vars/1", "lstm_backward.recurrent_kernel", (50, 200)),
    ("layers/bidirectional/backward_layer/cell/vars/2", "lstm_backward.bias", (200,)),
    ("layers/dense/vars/0", "dense.kernel", (100, 50)),
    ("layers/dense/vars/1", "dense.bias", (50,)),
    ("layers/dense_1/vars/0", "dense_1.kernel", (50, 6)),
    ("layers/dense_1/vars/1", "dense_1.bias", (6,)),
]


class _TokenizerStub:
    """Stands in for keras' Tokenizer: keeps the pickled attributes, runs no Keras code."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "int")}

    def find_class(self, module, name):
        if name == "Tokenizer" and "keras" in module:
            return _TokenizerStub
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in tokenizer.pickle")


def write_safetensors(path: Path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name, arr in tensors:
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)

    tensors = []
    with h5py.File(src / "model.weights.h5", "r") as f:
        for key, name, shape in TENSORS:
            arr = np.asarray(f[key], dtype=np.float32)
            if arr.shape != shape:
                sys.exit(f"{key} has shape {arr.shape}, expected {shape}")
            tensors.append((name, arr))
    write_safetensors(out / "model.safetensors", tensors)

    with open(src / "tokenizer.pickle", "rb") as f:
        tok = _Unpickler(f).load()
    num_words = tok.num_words
    if num_words != VOCAB_SIZE or tok.char_level or tok.analyzer is not None:
        sys.exit(f"unexpected tokenizer settings: num_words={num_words}, char_level={tok.char_level}")
    # texts_to_sequences drops words with index >= num_words (no oov_token): keep only the rest.
    word_index = {w: int(i) for w, i in tok.word_index.items() if int(i) < num_words}
    config = {
        "format": "keras-tokenizer/1",
        "source": "toxic-comment-classifier==0.3.0 toxic_classifier/model/tokenizer.pickle",
        "filters": tok.filters,
        "split": tok.split,
        "lower": bool(tok.lower),
        "char_level": bool(tok.char_level),
        "num_words": num_words,
        "oov_token": tok.oov_token,
        "maxlen": MAXLEN,
        "padding": "pre",
        "truncating": "pre",
        "labels": LABELS,
        "word_index": dict(sorted(word_index.items(), key=lambda kv: kv[1])),
    }
    with open(out / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=0, sort_keys=False)
        f.write("\n")
    print(f"wrote {out / 'model.safetensors'} ({len(tensors)} tensors) and {out / 'tokenizer.json'} ({len(word_index)} words)")


if __name__ == "__main__":
    main()
