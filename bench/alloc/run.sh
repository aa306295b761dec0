#!/usr/bin/env bash
# Counts heap allocations on the engine's read/write paths with malloc interposed (LD_PRELOAD).
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --scratch-path .build 2>&1 | tail -1
bin=$(swift build -c release --scratch-path .build --show-bin-path)
LD_PRELOAD="$bin/libMallocInterposerSwift.so" "$bin/AllocBench"
