#!/usr/bin/env bash
# Sets up a fresh machine and passes the whole test suite: formatting, lints, docs, every test,
# then a 3-minute soak of examples/task1 on the local cluster (docs/testing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo fmt --all --check
scripts/test-modules.sh
scripts/check-doc-links.sh
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps
cargo test --workspace
scripts/soak.sh --minutes 3 --debug
