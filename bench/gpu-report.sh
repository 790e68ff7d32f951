#!/usr/bin/env bash
# Every GPU number of the README in one run, on one card (compare numbers only within one run). Run from the
# offline bundle's root (npm run bundle:gpu) on a GPU host with python3 + CuPy + PyTorch for the peers:
#   bash bench/gpu-report.sh <outDir>
# Full logs go to <outDir>; a summary is printed last.
set -uo pipefail
out=${1:-/tmp/cuop-report}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
cache=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

node scripts/run-tests.mjs test-gpu > "$out/test-gpu.log" 2>&1
echo "GPU suite: exit $?, $(grep -E '^# (pass|fail)' "$out/test-gpu.log" | tr '\n' ' ')"

CUOP_CACHE_DIR="$cache/demo" node build/src/cli/main.js demo > "$out/demo.log" 2>&1 # cold
CUOP_CACHE_DIR="$cache/demo" node build/src/cli/main.js demo >> "$out/demo.log" 2>&1 # warm
node build/bench/launch.js --json "$out/launch.json" > "$out/launch.log" 2>&1
python3 bench/launch_cupy.py > "$out/launch-cupy.json" 2>>"$out/launch.log"
node build/bench/jit.js --keep "$cache/jit" --json "$out/jit.json" > "$out/jit.log" 2>&1
for i in 1 2 3 4 5 6 7; do node build/bench/fresh-process.js "$cache/jit"; done > "$out/fresh.jsonl" 2>>"$out/jit.log"
node build/bench/warm-process.js "$cache/warm" 7 > "$out/warm.log" 2>&1
node -e "import('./build/src/cli/sample-kernels.js').then(m=>require('fs').writeFileSync('$cache/tg.cu', m.TILED_GEMM_SOURCE))"
for i in 1 2 3 4 5 6; do node build/test-gpu/jit/child-lookup.js "$cache/tg"; done > "$out/child.jsonl" 2>&1
python3 bench/fresh_cupy.py "$cache/tg.cu" 5 > "$out/fresh-cupy.json" 2>&1
node build/bench/first-kernel.js 11 --kernel tiled --json "$out/first-kernel-tiled.json" > "$out/first-kernel.log" 2>&1
node build/bench/first-kernel.js 11 --json "$out/first-kernel-gemm.json" >> "$out/first-kernel.log" 2>&1
node build/bench/forward-overhead.js > "$out/forward.json" 2>&1
node build/bench/gemm.js --json "$out/gemm-cuop.json" > "$out/gemm.log" 2>&1
python3 bench/gemm_torch.py --json "$out/gemm-torch.json" >> "$out/gemm.log" 2>&1
node bench/gemm_report.mjs "$out/gemm-cuop.json" "$out/gemm-torch.json" > "$out/gemm-report.txt" 2>&1
rm -rf "$cache"

echo; echo "== demo (cold cache, then warm)"; grep -E "first|repeat|fresh|kernel time|error" "$out/demo.log"
echo; echo "== foundation"; grep -E "  " "$out/launch.log"; cat "$out/launch-cupy.json"
echo; echo "== JIT"; tail -9 "$out/jit.log"
echo; echo "== fresh process, step by step (median of 7)"
python3 - "$out/fresh.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
for k in rows[0]:
    v = [r[k] for r in rows]
    print(f"  {k:42s} {statistics.median(v):9.3f} ms  (min {min(v):.3f})")
PY
echo "  tiled GEMM, fresh process, disk hit -> launch-ready (6 runs; the first compiles):"; tr '\n' ' ' < "$out/child.jsonl"; echo
echo "  CuPy RawModule, same source, fresh process, its disk cache warm: $(cat "$out/fresh-cupy.json")"
echo; echo "== first kernel of a fresh process vs the raw floor"; cat "$out/first-kernel.log"
echo; echo "== warm process"; cat "$out/warm.log"
echo; echo "== forward host cost"; cat "$out/forward.json"
echo; echo "== GEMM vs cuBLAS"; cat "$out/gemm-report.txt"
