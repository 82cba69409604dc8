#!/usr/bin/env bash
# Rebuilds metrics/frechet-kernels.wasm from src/lib.rs. The .wasm is committed, so neither CI nor
# users need a Rust toolchain; run this only after changing the Rust source.
#   rustup target add wasm32-unknown-unknown && bash metrics/kernels/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
RUSTFLAGS="-C target-feature=+simd128" cargo build --release --target wasm32-unknown-unknown --target-dir "$here/target"
cp "$here/target/wasm32-unknown-unknown/release/frechet_kernels.wasm" "$here/../frechet-kernels.wasm"
echo "wrote $(realpath "$here/../frechet-kernels.wasm")"
