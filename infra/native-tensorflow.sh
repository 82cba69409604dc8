#!/usr/bin/env bash
# Native TensorFlow backend for tfjs, from package registries only (issue 4, item 1b).
#
# @tensorflow/tfjs-node's own install script downloads libtensorflow 2.9.1 from a host that is not a
# package registry, so on machines that reach only the registries it fails. The PyPI tensorflow-cpu
# wheel ships the same C and eager C APIs (TF_*, TFE_*) in libtensorflow_cc.so.2 (+ the
# libtensorflow_framework.so.2 it needs) and their headers under include/tensorflow/c/. This script:
#
#   1. downloads the pinned tensorflow-cpu wheel with pip (hash-checked) and unpacks only the two
#      shared libraries and the handful of C API headers into the cache (~/.cache/robustok/native-tf);
#   2. installs @tensorflow/tfjs-node@4.22.0 with `npm install --no-save --ignore-scripts`
#      (package.json and package-lock.json are left alone; its download script never runs);
#   3. lays out the package's deps/include and deps/lib from the cache (libtensorflow.so ->
#      libtensorflow_cc.so.2, plus the libtensorflow.so.2.9.1 marker its install.js looks for);
#   4. compiles the N-API addon (binding/*.cc) with node-gyp against the local Node headers, or, when
#      none are on the machine, with g++ directly against the node-api-headers npm package;
#   5. checks that every TF_/TFE_ symbol the addon needs is exported by the wheel's libraries, loads
#      it, and runs a smoke test (backend 'tensorflow', a matmul, the TF version).
#
# Idempotent: a second run with everything in place only re-runs the smoke test (about 2 s).
#
#   bash infra/native-tensorflow.sh            # install (or confirm) the native backend
#   bash infra/native-tensorflow.sh --force    # rebuild the addon even if the stamp matches
#   bash infra/native-tensorflow.sh check      # exit 0 iff the native backend loads and works
#   bash infra/native-tensorflow.sh remove     # delete node_modules/@tensorflow/tfjs-node
#   bash infra/native-tensorflow.sh --gpu      # the same for @tensorflow/tfjs-node-gpu (below)
#
# --gpu (GPU hosts; `check --gpu`, `remove --gpu` likewise): @tensorflow/tfjs-node-gpu built against the
# PyPI `tensorflow` wheel (the CUDA build; ~590 MB) plus the CUDA/cuDNN wheels that
# `tensorflow[and-cuda]==2.16.2` pins (nvidia-*-cu12, ~2.5 GB, hash-checked), so the host needs only
# the NVIDIA driver: no libtensorflow download, no system CUDA. The CUDA libraries are hard-linked
# next to libtensorflow in deps/lib, where the wheel's own RUNPATH ($ORIGIN/) finds them when
# TensorFlow dlopens them. With no GPU (or no CUDA libraries) TensorFlow runs on the CPU.
#
# Environment:
#   ROBUSTOK_NATIVE_TF_CACHE   cache dir (default $ROBUSTOK_CACHE_DIR/native-tf, else
#                              ${XDG_CACHE_HOME:-~/.cache}/robustok/native-tf)
#   ROBUSTOK_NATIVE_TF_BUILD   auto (default) | node-gyp | direct
#   ROBUSTOK_NODEDIR           Node headers dir (one holding include/node/common.gypi)
#   ROBUSTOK_NATIVE_TF_ROOT    project to install into (default this checkout; a scratch copy
#                              lets a CPU-only machine build and load the GPU addon without
#                              changing the backend its own runs pick)
#   ROBUSTOK_NATIVE_TF_CUDA    fetch (default with --gpu) | skip: no CUDA wheels (to check the GPU
#                              addon builds, links and falls back to the CPU on a machine without GPU)
#
# Any `npm install` / `npm ci` afterwards prunes the package (it is not in package.json): run this
# script again after one. See compute/native-backend.md.
set -euo pipefail

GPU=0
for a in "$@"; do [[ "$a" == --gpu ]] && GPU=1; done
TF_VERSION=2.16.2
# The wheel pip is asked for: CPython 3.11 / manylinux2014 x86_64 (the libraries inside do not depend
# on the Python version; the tags only pin one exact file so its hash can be pinned too).
if ((GPU)); then
  TF_PIP_PACKAGE=tensorflow
  TF_WHEEL=tensorflow-2.16.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  TF_WHEEL_SHA256=d8798dea8e2281b4a0b569d9c00e7949c0090509be363da271e1ef21828bffae
  TF_WHEEL_MB=591
  TFJS_PACKAGE=@tensorflow/tfjs-node-gpu
else
  TF_PIP_PACKAGE=tensorflow-cpu
  TF_WHEEL=tensorflow_cpu-2.16.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  TF_WHEEL_SHA256=c855cb6bf05d32dd5928086b03a5f6b4189b63c22b95e017703cbee4291023ca
  TF_WHEEL_MB=214
  TFJS_PACKAGE=@tensorflow/tfjs-node
fi
# What `pip install 'tensorflow[and-cuda]==2.16.2'` resolves to (Linux x86_64), hash-pinned. Resolved
# from PyPI's metadata with `pip install --dry-run --report` (no wheel downloaded).
CUDA_WHEELS=(
  nvidia-cublas-cu12==12.3.4.1:9b25b27bd5a5be1cc7e83a7b8004258daa338800798e22986e5b67ee06f0859d
  nvidia-cuda-cupti-cu12==12.3.101:7b984288af7db1faa1e6f1803db075d4350116b72a98d4be0e88d604dc812c0e
  nvidia-cuda-nvcc-cu12==12.3.107:a3344b94f5e89023fa17e0bbf8fb0dd26d5ef6f4091a5aab08f215e4999eac62
  nvidia-cuda-nvrtc-cu12==12.3.107:4db66788a37a234304a0b3203744f9a6c665f48bde65f69a096ae3b5799b5b1d
  nvidia-cuda-runtime-cu12==12.3.101:04604679ddca6acb96c76a7a9306282cddc16981f92e148e2dfe227078883cda
  nvidia-cudnn-cu12==8.9.7.29:adf4f59ed7a1341103822ed8df6e144f4d47ea8b10d9bf0ea0047ba738fd7b02
  nvidia-cufft-cu12==11.0.12.1:3b2c85d24d7dcc578720fdf39e2823950b5857e85164c3c1dc97184a8a8e0398
  nvidia-curand-cu12==10.3.4.107:d798db82ae445cf1d8bf6af9ca3bd6bb6cc87753c229a441cf8d2597b09332e5
  nvidia-cusolver-cu12==11.5.4.101:783a3279553feaf8e47af12cab1fa769ffd5e644ea876db3dc2252f35f9bf256
  nvidia-cusparse-cu12==12.2.0.103:fe9e17daf406c98c28fbc8bcf785ecd4db301bf02ce626de6aa1046de66f84bd
  nvidia-nccl-cu12==2.19.3:a9734707a2c96443331c1e48c717024aa6678a0e2a4cb66b2c364d18cee6b48d
  nvidia-nvjitlink-cu12==12.3.101:64335a8088e2b9d196ae8665430bc6a2b7e6ef2eb877a9c735c804bd4ff6467c
)
CUDA_MODE="${ROBUSTOK_NATIVE_TF_CUDA:-fetch}"
TFJS_NODE_VERSION=4.22.0
NODE_API_HEADERS_VERSION=1.9.0
# The C API symbols the addon cannot work without (the full list is checked after the build).
REQUIRED_SYMBOLS=(TF_NewStatus TF_Version TF_NewTensor TF_NewSessionOptions TFE_NewContext TFE_NewOp TFE_Execute TFE_TensorHandleResolve)

ROOT="${ROBUSTOK_NATIVE_TF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
CACHE="${ROBUSTOK_NATIVE_TF_CACHE:-${ROBUSTOK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/robustok}/native-tf}"
TF_DIR="$CACHE/$TF_PIP_PACKAGE-$TF_VERSION"
PKG_DIR="$ROOT/node_modules/$TFJS_PACKAGE"
CUDA_DIR="$CACHE/cuda-wheels-tf$TF_VERSION"
STAMP="$PKG_DIR/deps/robustok-native-tf.json"
CC_INCLUDE="$TF_DIR-cc-include"
OPS_SRC="$ROOT/native/robustok-ops"
OPS_DIR="$PKG_DIR/deps/robustok-ops"
BUILD_MODE="${ROBUSTOK_NATIVE_TF_BUILD:-auto}"

log() { echo "native-tf: $*" >&2; }
die() { echo "native-tf: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

check_platform() {
  [[ "$(uname -s)" == Linux ]] || die "only Linux is supported (the wheel's libraries are ELF)"
  [[ "$(uname -m)" == x86_64 ]] || die "only x86_64 is supported (pinned wheel is manylinux2014_x86_64)"
  grep -qw avx /proc/cpuinfo || die "this CPU has no AVX; the PyPI TensorFlow wheels need it (would die with SIGILL)"
  command -v python3 >/dev/null || die "python3 (with pip) is needed to download the wheel"
  command -v g++ >/dev/null || die "g++ is needed to compile the addon"
  command -v nm >/dev/null || die "nm (binutils) is needed for the symbol check"
}

# dir/exports.txt: every dynamic symbol the two libraries define, unversioned, sorted (LC_ALL=C).
list_exports() {
  { nm -D --defined-only "$1/lib/libtensorflow_cc.so.2"; nm -D --defined-only "$1/lib/libtensorflow_framework.so.2"; } |
    awk 'NF >= 3 { sub(/@.*/, "", $NF); print $NF }' | LC_ALL=C sort -u >"$1/exports.txt"
}

# The pinned wheel, hash-checked, into directory $1 (the caller deletes it: the wheel is not kept).
download_wheel() {
  printf '%s==%s --hash=sha256:%s\n' "$TF_PIP_PACKAGE" "$TF_VERSION" "$TF_WHEEL_SHA256" >"$1/requirements.txt"
  log "downloading $TF_WHEEL (~$TF_WHEEL_MB MB) with pip"
  python3 -m pip download --quiet --no-deps --no-cache-dir --require-hashes --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -r "$1/requirements.txt" -d "$1" ||
    die "pip could not download $TF_PIP_PACKAGE==$TF_VERSION (is PyPI reachable?)"
  [[ -f "$1/$TF_WHEEL" ]] || die "pip did not produce $TF_WHEEL"
}

# The wheel's whole C++ include tree (TensorFlow, Eigen, absl, protobuf; ~175 MB), which the op library
# (6.) compiles against. Kept apart from TF_DIR so a cache made before the op library existed gets it too.
unpack_cc_headers() {
  local wheel="$1"
  log "unpacking the C++ headers for the op library"
  rm -rf "$CC_INCLUDE.tmp"
  python3 - "$wheel" "$CC_INCLUDE.tmp" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
prefix = "tensorflow/include/"
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        dest = os.path.join(out, name[len(prefix):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        n += 1
for need in ("tensorflow/core/framework/op_kernel.h", "unsupported/Eigen/CXX11/Tensor"):
    if not os.path.exists(os.path.join(out, need)):
        sys.exit(f"{need} not in {wheel}: layout changed?")
print(f"unpacked {n} header files", file=sys.stderr)
PY
  rm -rf "$CC_INCLUDE" && mv "$CC_INCLUDE.tmp" "$CC_INCLUDE" && touch "$CC_INCLUDE/.complete"
}

fetch_cc_headers() {
  [[ -f "$CC_INCLUDE/.complete" ]] && return
  local tmp="$CACHE/tmp-headers.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  download_wheel "$tmp"
  unpack_cc_headers "$tmp/$TF_WHEEL"
  rm -rf "$tmp"
}

# 1. The wheel's libraries and C headers, unpacked once into the cache.
fetch_tensorflow() {
  if [[ -f "$TF_DIR/.complete" ]]; then
    log "libtensorflow $TF_VERSION cached in $TF_DIR"
    return
  fi
  local t0 tmp
  t0=$(now)
  tmp="$CACHE/tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  download_wheel "$tmp"
  log "downloaded in $(since "$t0"); unpacking the libraries and C API headers"
  [[ -f "$CC_INCLUDE/.complete" ]] || unpack_cc_headers "$tmp/$TF_WHEEL"
  python3 - "$tmp/$TF_WHEEL" "$tmp/out" <<'PY'
import os, re, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
keep = re.compile(
    r"^tensorflow/(libtensorflow_cc\.so\.2|libtensorflow_framework\.so\.2"
    r"|include/LICENSE"
    r"|include/tensorflow/c/.*\.h"
    r"|include/tensorflow/core/platform/ctstring.*\.h"
    r"|include/tsl/c/.*\.h"
    r"|include/tsl/platform/ctstring.*\.h)$")
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not keep.match(name):
            continue
        rel = name[len("tensorflow/"):]
        dest = os.path.join(out, "lib" if rel.startswith("libtensorflow") else "", rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        n += 1
if n < 10:
    sys.exit(f"only {n} files matched in {wheel}: layout changed?")
print(f"unpacked {n} files", file=sys.stderr)
PY
  [[ -f "$tmp/out/lib/libtensorflow_cc.so.2" && -f "$tmp/out/include/tensorflow/c/eager/c_api.h" ]] ||
    die "wheel layout unexpected: no lib/libtensorflow_cc.so.2 or include/tensorflow/c/eager/c_api.h"
  local sym missing=()
  list_exports "$tmp/out"
  for sym in "${REQUIRED_SYMBOLS[@]}"; do grep -qx "$sym" "$tmp/out/exports.txt" || missing+=("$sym"); done
  ((${#missing[@]} == 0)) || die "the wheel's libraries do not export: ${missing[*]}"
  echo "$TF_PIP_PACKAGE==$TF_VERSION $TF_WHEEL sha256:$TF_WHEEL_SHA256" >"$tmp/out/SOURCE"
  rm -rf "$TF_DIR"
  mv "$tmp/out" "$TF_DIR"
  rm -rf "$tmp"
  touch "$TF_DIR/.complete"
  log "libtensorflow $TF_VERSION ready in $TF_DIR ($(du -sh "$TF_DIR" | cut -f1), $(since "$t0") in all)"
}

# 1b (--gpu). The CUDA/cuDNN libraries of the nvidia-*-cu12 wheels, flattened into one lib folder.
fetch_cuda() {
  if [[ -f "$CUDA_DIR/.complete" ]]; then
    log "CUDA wheels cached in $CUDA_DIR"
    return
  fi
  local t0 tmp w
  t0=$(now)
  tmp="$CACHE/tmp-cuda.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for w in "${CUDA_WHEELS[@]}"; do printf '%s --hash=sha256:%s\n' "${w%%:*}" "${w##*:}"; done >"$tmp/requirements.txt"
  log "downloading ${#CUDA_WHEELS[@]} CUDA/cuDNN wheels (~2.5 GB) with pip"
  python3 -m pip download --quiet --no-deps --no-cache-dir --require-hashes --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -r "$tmp/requirements.txt" -d "$tmp" ||
    die "pip could not download the CUDA wheels (is PyPI reachable?)"
  python3 - "$tmp" "$tmp/out" <<'PY'
import glob, os, re, shutil, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
lib = re.compile(r"^nvidia/[^/]+/lib/[^/]+\.so(\.[0-9]+)*$")
n = 0
for wheel in sorted(glob.glob(os.path.join(src, "nvidia_*.whl"))):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not lib.match(name):
                continue
            with z.open(name) as s, open(os.path.join(out, os.path.basename(name)), "wb") as d:
                shutil.copyfileobj(s, d, 1 << 20)
            n += 1
for need in ("libcudart.so.12", "libcudnn.so.8", "libcublas.so.12"):
    if not os.path.exists(os.path.join(out, need)):
        sys.exit(f"{need} not in the CUDA wheels: layout changed?")
print(f"unpacked {n} CUDA libraries", file=sys.stderr)
PY
  rm -rf "$CUDA_DIR" && mv "$tmp/out" "$CUDA_DIR" && rm -rf "$tmp"
  touch "$CUDA_DIR/.complete"
  log "CUDA libraries ready in $CUDA_DIR ($(du -sh "$CUDA_DIR" | cut -f1), $(since "$t0"))"
}

# 2. The npm package, without its install script and without touching package.json / the lockfile.
install_tfjs_node() {
  local have=""
  [[ -f "$PKG_DIR/package.json" ]] && have=$(node -p "require('$PKG_DIR/package.json').version")
  if [[ "$have" == "$TFJS_NODE_VERSION" ]]; then
    log "$TFJS_PACKAGE $have already in node_modules"
  else
    local t0
    t0=$(now)
    log "npm install --no-save --ignore-scripts $TFJS_PACKAGE@$TFJS_NODE_VERSION"
    (cd "$ROOT" && npm install --no-save --ignore-scripts --no-audit --no-fund "$TFJS_PACKAGE@$TFJS_NODE_VERSION" >&2)
    log "npm install took $(since "$t0")"
  fi
  # tfjs-node must share the project's tfjs-core: a nested copy would register the 'tensorflow'
  # backend in an engine the project never uses.
  [[ ! -d "$PKG_DIR/node_modules/@tensorflow/tfjs-core" ]] ||
    die "npm nested a second @tensorflow/tfjs-core under tfjs-node: the project's @tensorflow/tfjs must be $TFJS_NODE_VERSION"
}

# 3. deps/ as tfjs-node's binding.gyp and loader expect it.
stage_deps() {
  local deps="$PKG_DIR/deps" f
  rm -rf "$deps" && mkdir -p "$deps/lib"
  cp -r "$TF_DIR/include" "$deps/include"
  for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
    # Hard links cost no space and survive the cache being cleared; copy across filesystems.
    ln "$TF_DIR/lib/$f" "$deps/lib/$f" 2>/dev/null || cp "$TF_DIR/lib/$f" "$deps/lib/$f"
  done
  ln -s libtensorflow_cc.so.2 "$deps/lib/libtensorflow.so"           # -ltensorflow
  ln -s libtensorflow_framework.so.2 "$deps/lib/libtensorflow_framework.so"
  # tfjs-node's scripts/install.js skips its download when this file exists (`npm rebuild` safety).
  ln -s libtensorflow_cc.so.2 "$deps/lib/libtensorflow.so.2.9.1"
  # --gpu: the CUDA libraries beside libtensorflow, found through its RUNPATH $ORIGIN/ when dlopened.
  if ((GPU)) && [[ -f "$CUDA_DIR/.complete" ]]; then
    for f in "$CUDA_DIR"/*.so*; do ln "$f" "$deps/lib/" 2>/dev/null || cp "$f" "$deps/lib/"; done
    log "linked $(ls "$CUDA_DIR" | grep -c '\.so') CUDA libraries into $deps/lib"
  fi
}

# Directory holding include/node/common.gypi for the running Node (node-gyp would download it).
find_nodedir() {
  local want cand
  want=$(node -p process.versions.node)
  for cand in "${ROBUSTOK_NODEDIR:-}" "${npm_config_nodedir:-}" "$(npm config get nodedir 2>/dev/null || true)" \
    "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" /usr/local /usr "$HOME/.cache/node-gyp/$want"; do
    [[ -n "$cand" && "$cand" != undefined && -f "$cand/include/node/common.gypi" && -f "$cand/include/node/node_version.h" ]] || continue
    local v
    v=$(awk '/define NODE_(MAJOR|MINOR|PATCH)_VERSION/ { printf "%s%s", sep, $3; sep="." }' "$cand/include/node/node_version.h")
    if [[ "$v" == "$want" ]]; then echo "$cand"; return 0; fi
    log "ignoring Node headers $v in $cand (running Node is $want)"
  done
  return 1
}

# node_api.h from the node-api-headers npm package (for machines without Node's own headers).
fetch_napi_headers() {
  local hdr="$CACHE/node-api-headers-$NODE_API_HEADERS_VERSION"
  if [[ ! -f "$hdr/include/node_api.h" ]]; then
    rm -rf "$hdr.tmp" && mkdir -p "$hdr.tmp"
    (cd "$hdr.tmp" && npm pack --silent "node-api-headers@$NODE_API_HEADERS_VERSION" >/dev/null && tar xzf node-api-headers-*.tgz)
    rm -rf "$hdr" && mv "$hdr.tmp/package" "$hdr" && rm -rf "$hdr.tmp"
  fi
}

# 3b. Our one change to the binding's sources (infra/tfjs-binding/robustok_session_config.h says why):
# LoadSavedModel applies a session config found beside the SavedModel. Idempotent; a source that no
# longer has the lines we anchor on fails the build instead of silently losing the change.
BINDING_PATCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tfjs-binding"
binding_patch_hash() {
  { cat "$BINDING_PATCH_DIR"/*; declare -f patch_binding; } | sha256sum | cut -c1-16
}
patch_binding() {
  cp "$BINDING_PATCH_DIR/robustok_session_config.h" "$PKG_DIR/binding/"
  node -e '
    const fs = require("fs");
    const file = process.argv[1];
    let src = fs.readFileSync(file, "utf8");
    if (src.includes("robustok::ApplySessionConfig")) process.exit(0);
    const edits = [
      ["#include \"tfjs_backend.h\"\n", "#include \"robustok_session_config.h\"\n"],
      ["  const char *export_dir = export_dir_string.c_str();\n",
       "  if (!robustok::ApplySessionConfig(env, export_dir_string, session_options)) {\n" +
       "    TF_DeleteSessionOptions(session_options);\n    TF_DeleteBuffer(run_options);\n    return nullptr;\n  }\n"],
    ];
    for (const [anchor, added] of edits) {
      if (src.split(anchor).length !== 2) { console.error(`binding/tfjs_backend.cc: expected one line ${JSON.stringify(anchor)}`); process.exit(1); }
      src = src.replace(anchor, anchor + added);
    }
    fs.writeFileSync(file, src);
  ' "$PKG_DIR/binding/tfjs_backend.cc" || die "cannot patch tfjs-node's binding (infra/tfjs-binding): its sources changed"
}

# 4. The addon, at the path @mapbox/node-pre-gyp's find() will look for it.
build_addon() {
  local t0 binding napi module_dir nodedir="" mode="$BUILD_MODE"
  t0=$(now)
  binding=$(cd "$PKG_DIR" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))")
  module_dir=$(dirname "$binding")
  napi=${module_dir##*napi-v}
  [[ "$napi" =~ ^[0-9]+$ ]] || die "unexpected addon path from node-pre-gyp: $binding"
  if [[ "$mode" == auto || "$mode" == node-gyp ]]; then
    if nodedir=$(find_nodedir); then
      mode=node-gyp
    elif [[ "$mode" == node-gyp ]]; then
      die "no Node $(node -p process.versions.node) headers found locally (set ROBUSTOK_NODEDIR, or ROBUSTOK_NATIVE_TF_BUILD=direct)"
    else
      log "no local Node headers: compiling directly against node-api-headers@$NODE_API_HEADERS_VERSION"
      mode=direct
    fi
  fi
  rm -rf "$PKG_DIR/build" "$module_dir"
  if [[ "$mode" == node-gyp ]]; then
    local gyp
    gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
    local -a gypcmd=(node "$gyp")
    [[ -f "$gyp" ]] || gypcmd=(npm exec --yes --package=node-gyp@12 -- node-gyp)
    log "node-gyp rebuild (napi v$napi, Node headers from $nodedir)"
    (cd "$PKG_DIR" && "${gypcmd[@]}" rebuild --nodedir="$nodedir" --jobs="$(nproc)" \
      --napi_build_version="$napi" --module_name=tfjs_binding --module_path="$module_dir" >"$CACHE/build.log" 2>&1) ||
      { tail -40 "$CACHE/build.log" >&2; die "node-gyp build failed (full log: $CACHE/build.log)"; }
  else
    local hdr="$CACHE/node-api-headers-$NODE_API_HEADERS_VERSION"
    fetch_napi_headers
    mkdir -p "$module_dir"
    log "g++ (napi v$napi, headers from node-api-headers@$NODE_API_HEADERS_VERSION)"
    # Same flags as the package's binding.gyp under node-gyp's Release config.
    (cd "$PKG_DIR" && g++ -shared -fPIC -pthread -O3 -fno-omit-frame-pointer -std=gnu++17 -m64 \
      -DNAPI_VERSION="$napi" -DNODE_GYP_MODULE_NAME=tfjs_binding -DBUILDING_NODE_EXTENSION \
      -I"$hdr/include" -I.. -Ideps/include binding/tfjs_backend.cc binding/tfjs_binding.cc \
      -Ldeps/lib -Wl,-rpath,'$ORIGIN/../../deps/lib' -ltensorflow -ltensorflow_framework \
      -o "$module_dir/tfjs_binding.node" >"$CACHE/build.log" 2>&1) ||
      { tail -40 "$CACHE/build.log" >&2; die "g++ build failed (full log: $CACHE/build.log)"; }
  fi
  [[ -f "$binding" ]] || die "build finished but $binding is missing"
  # 5a. Every TF_/TFE_ symbol the addon imports must be exported by the wheel's libraries: the loader
  # binds functions lazily, so a missing one would otherwise surface only when that op runs.
  local missing
  [[ -s "$TF_DIR/exports.txt" ]] || list_exports "$TF_DIR"
  missing=$(nm -D --undefined-only "$binding" | awk '$NF ~ /^TFE?_/ { sub(/@.*/, "", $NF); print $NF }' | LC_ALL=C sort -u |
    LC_ALL=C comm -23 - "$TF_DIR/exports.txt")
  [[ -z "$missing" ]] || die "libtensorflow $TF_VERSION lacks symbols the addon uses: $(echo $missing)"
  BUILT_WITH=$mode
  log "built $binding with $mode in $(since "$t0")"
}

# 6. Our own TensorFlow kernels (native/robustok-ops/*.cc; compute/native-backend.md lists them), compiled against the wheel's
# C++ headers into deps/robustok-ops/, one library per instruction set: `avx` (what the wheel itself
# needs) and `avx2` (AVX2 + FMA, ~3x faster for erf/exp-heavy kernels); compute/native-ops.ts loads the
# best one this CPU runs. Its RUNPATH finds libtensorflow_framework in deps/lib, the copy tfjs-node's
# binding has already loaded, so the ops register in the registry the binding executes from.
# -ffp-contract=off: no silent multiply-add contraction, so a kernel rounds as the op sequence it replaces
# (Eigen's own polynomial code still uses FMA where it was written to).
# -fno-math-errno lets sqrtf vectorise; it changes no value.
OPS_FLAGS=(-std=c++17 -shared -fPIC -pthread -O3 -fno-omit-frame-pointer -ffp-contract=off -fno-math-errno
  -D_GLIBCXX_USE_CXX11_ABI=1 -DEIGEN_MAX_ALIGN_BYTES=64 -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=robustok_ops -w)
OPS_ISAS=("avx:-mavx" "avx2:-mavx2 -mfma -mf16c")

ops_hash() {
  { cat "$OPS_SRC"/*.cc "$OPS_SRC"/*.h; echo "${OPS_FLAGS[*]} ${OPS_ISAS[*]} $TF_WHEEL_SHA256 $(node -p process.versions.napi)"; } | sha256sum | cut -c1-16
}

ops_current() {
  [[ -f "$OPS_DIR/stamp" && "$(cat "$OPS_DIR/stamp")" == "$(ops_hash)" ]]
}

build_ops() {
  local t0 napi_inc nodedir isa name flags pids=() failed=0
  t0=$(now)
  fetch_cc_headers
  if nodedir=$(find_nodedir 2>/dev/null); then
    napi_inc="$nodedir/include/node"
  else
    fetch_napi_headers
    napi_inc="$CACHE/node-api-headers-$NODE_API_HEADERS_VERSION/include"
  fi
  rm -rf "$OPS_DIR" && mkdir -p "$OPS_DIR"
  for isa in "${OPS_ISAS[@]}"; do
    name=${isa%%:*}
    read -r -a flags <<<"${isa#*:}"
    # the variants compile in parallel (about 10 s each)
    g++ "${OPS_FLAGS[@]}" "${flags[@]}" -DROBUSTOK_OPS_ISA="\"$name\"" -I"$CC_INCLUDE" -I"$napi_inc" "$OPS_SRC"/*.cc \
      -L"$PKG_DIR/deps/lib" -Wl,-rpath,'$ORIGIN/../lib' -l:libtensorflow_framework.so.2 \
      -o "$OPS_DIR/robustok_ops.$name.node" >"$CACHE/ops-$name.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { failed=1; name=${OPS_ISAS[$i]%%:*}; tail -30 "$CACHE/ops-$name.log" >&2; }
  done
  ((failed == 0)) || die "the op library did not compile (logs: $CACHE/ops-*.log)"
  ops_smoke_test || die "the op library was built but does not work (see the error above)"
  ops_hash >"$OPS_DIR/stamp"
  log "built the op library (${OPS_ISAS[*]%%:*}) in $(since "$t0")"
}

# Loads every variant this CPU can run next to tfjs-node and runs its GELU on three values.
ops_smoke_test() {
  local isa name
  for isa in "${OPS_ISAS[@]}"; do
    name=${isa%%:*}
    [[ "$name" == avx2 ]] && ! grep -qw avx2 /proc/cpuinfo && continue
    (cd "$ROOT" && TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e '
      const tf = require(process.argv[1]);
      const lib = require(process.argv[2]);
      const be = tf.backend();
      const y = be.executeSingleOutput("RobustokGelu", [], [tf.tensor1d([-1, 0, 2])]).dataSync();
      const want = [-0.15865525, 0, 1.9544997];
      if (!want.every((w, i) => Math.abs(y[i] - w) < 1e-6)) throw new Error("RobustokGelu gave " + Array.from(y));
      if (lib.isa !== process.argv[3]) throw new Error("library reports isa " + lib.isa);
    ' "$TFJS_PACKAGE" "$OPS_DIR/robustok_ops.$name.node" "$name") || return 1
  done
}

# 5b. Load it from the project root the way the project will, and do a little arithmetic.
smoke_test() {
  (cd "$ROOT" && TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e '
    const tf = require(process.argv[1]);
    const core = require("@tensorflow/tfjs");
    if (tf.getBackend() !== "tensorflow") throw new Error("backend is " + tf.getBackend());
    if (core.engine() !== tf.engine()) throw new Error("tfjs-node uses a different tfjs-core than the project");
    const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync();
    if (JSON.stringify(c) !== "[[19,22],[43,50]]") throw new Error("matmul gave " + JSON.stringify(c));
    console.log(JSON.stringify({ package: process.argv[1], tfjsNode: tf.version["tfjs-node"], tensorflow: tf.backend().binding.TF_Version }));
  ' "$TFJS_PACKAGE")
}

write_stamp() {
  local tfv="$1"
  node -e '
    const [file, tfjsNode, wheel, sha, tf, mode, cuda, bindingPatch] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({ tfjsNode, wheel, sha256: sha, tensorflow: tf, cuda, bindingPatch,
      node: process.version, napi: process.versions.napi, builtWith: mode, builtAt: new Date().toISOString() }, null, 2) + "\n");
  ' "$STAMP" "$TFJS_NODE_VERSION" "$TF_WHEEL" "$TF_WHEEL_SHA256" "$tfv" "$BUILT_WITH" "$(((GPU)) && [[ -f "$CUDA_DIR/.complete" ]] && echo wheels || echo none)" "$(binding_patch_hash)"
}

stamp_matches() {
  [[ -f "$STAMP" ]] || return 1
  node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const p = require(process.argv[2] + "/package.json");
    process.exit(s.tfjsNode === p.version && s.tfjsNode === process.argv[3] && s.sha256 === process.argv[4] && s.node === process.version &&
      s.bindingPatch === process.argv[5] ? 0 : 1);
  ' "$STAMP" "$PKG_DIR" "$TFJS_NODE_VERSION" "$TF_WHEEL_SHA256" "$(binding_patch_hash)" 2>/dev/null
}

cmd_install() {
  local force="$1" t0 out
  t0=$(now)
  check_platform
  mkdir -p "$CACHE"
  if [[ "$force" != 1 && -d "$PKG_DIR" ]] && stamp_matches && out=$(smoke_test 2>/dev/null); then
    if ((GPU)); then
      log "already installed: $out"
      return 0
    fi
    if ops_current; then
      log "already installed: $out; op library current"
      return 0
    fi
    build_ops
    log "ready: $out ($(since "$t0") in all)"
    return 0
  fi
  fetch_tensorflow
  if ((GPU)); then
    case "$CUDA_MODE" in
      fetch) fetch_cuda ;;
      skip) log "ROBUSTOK_NATIVE_TF_CUDA=skip: no CUDA libraries; TensorFlow will run on the CPU" ;;
      *) die "ROBUSTOK_NATIVE_TF_CUDA must be fetch or skip, got $CUDA_MODE" ;;
    esac
  fi
  install_tfjs_node
  stage_deps
  patch_binding
  build_addon
  out=$(smoke_test) || die "the addon was built but does not work (see the error above)"
  ((GPU)) || build_ops
  write_stamp "$(node -p "JSON.parse(process.argv[1]).tensorflow" "$out")"
  log "ready: $out ($(since "$t0") in all)"
}

cmd=install
for a in "$@"; do [[ "$a" != --gpu && "$a" != --force ]] && { cmd=$a; break; }; done
case "$cmd" in
  install)
    force=0
    for a in "$@"; do [[ "$a" == --force ]] && force=1; done
    cmd_install "$force"
    ;;
  check)
    if out=$(smoke_test 2>&1); then log "ok: $out"; else echo "$out" | tail -5 >&2; log "native backend not usable"; exit 1; fi
    ;;
  remove)
    rm -rf "$PKG_DIR"
    log "removed $PKG_DIR (its dependencies stay until the next npm install prunes them)"
    ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command $cmd (install | check | remove, with --force, --gpu)" ;;
esac
