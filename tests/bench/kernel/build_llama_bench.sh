#!/usr/bin/env bash
# Builds llama.cpp's llama-bench OUTSIDE the repository, from the source tree that the npm
# package node-llama-cpp@3.21.1 ships as a git bundle. Nothing from it is ever committed.
#   PEERS=/work/peers-kernel  SRC=/work/llama-src  BUILD=/work/llama-build  (defaults)
set -euo pipefail
PEERS=${PEERS:-/work/peers-kernel}
SRC=${SRC:-/work/llama-src}
BUILD=${BUILD:-/work/llama-build}
JOBS=${JOBS:-2}

if [ ! -d "$PEERS/node_modules/node-llama-cpp" ]; then
  mkdir -p "$PEERS"
  (cd "$PEERS" && npm install --ignore-scripts node-llama-cpp@3.21.1)
fi
if [ ! -d "$SRC/.git" ]; then
  git clone -q "$PEERS/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$SRC"
fi
echo "llama.cpp source: $(git -C "$SRC" rev-parse --short HEAD)"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF
nice -n 10 cmake --build "$BUILD" --target llama-bench -j"$JOBS"
ls -la "$BUILD/bin/llama-bench"
