# Peer for the fresh-process disk hit: CuPy RawModule in new Python processes, with CuPy's own on-disk kernel cache
# warm. Times RawModule + get_function of the same templated GEMM source (after the CUDA context exists).
# Usage: python3 bench/fresh_cupy.py <source.cu> [runs]
import json, statistics, subprocess, sys

CHILD = r'''
import json, sys, time
import cupy as cp
src = open(sys.argv[1]).read()
cp.cuda.Device(0).use()
cp.empty(1)  # context and allocator up before timing
t = time.perf_counter()
m = cp.RawModule(code=src, name_expressions=['tiled_gemm<16>'])
k = m.get_function('tiled_gemm<16>')
k.max_threads_per_block  # force the module load
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
'''

src, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
subprocess.run([sys.executable, '-c', CHILD, src], check=True, capture_output=True)  # warm CuPy's cache
ms = []
for _ in range(runs):
    out = subprocess.run([sys.executable, '-c', CHILD, src], check=True, capture_output=True, text=True).stdout
    ms.append(json.loads(out.strip().splitlines()[-1])["ms"])
print(json.dumps({"peer": "cupy", "freshProcessDiskHitMs": statistics.median(ms), "runs": ms}))
