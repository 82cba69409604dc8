#!/usr/bin/env bash
# Rebuilds metrics/frechet-kernels.wasm from src/lib.rs. The .wasm is committed, so neither CI nor
# users need a Rust toolchain; run this only after changing the Rust source.
#   rustup target add wasm32-unknown-unknown && bash metrics/kernels/build.sh
# FRECHET_PROFILE=1 builds the stage-timing variant (cargo feature `profile`, for
# bench/frechet-stages.ts) under target/profile-build instead, prints its path and copies nothing.
# The module imports a shared memory (4 MiB initial, 4 GiB maximum) so that the helper thread
# started by metrics/frechet-threads.ts can instantiate it on the same memory, and exports
# __stack_pointer so that the helper can be given its own shadow stack. rustc calls the atomics
# target feature unstable (a warning); stable toolchains build it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory -C link-arg=--shared-memory -C link-arg=--import-memory \
  -C link-arg=--initial-memory=4194304 -C link-arg=--max-memory=4294967296 -C link-arg=--export=__stack_pointer"
if [[ "${FRECHET_PROFILE:-}" == 1 ]]; then
  cargo build --release --features profile --target wasm32-unknown-unknown --target-dir "$here/target/profile-build" >&2
  echo "$here/target/profile-build/wasm32-unknown-unknown/release/frechet_kernels.wasm"
  exit 0
fi
cargo build --release --target wasm32-unknown-unknown --target-dir "$here/target"
cp "$here/target/wasm32-unknown-unknown/release/frechet_kernels.wasm" "$here/../frechet-kernels.wasm"
echo "wrote $(realpath "$here/../frechet-kernels.wasm")"
