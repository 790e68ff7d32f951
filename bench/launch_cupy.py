# Peer numbers for bench/launch.ts, measured in the same device call: CuPy RawKernel launch of the same empty
# 6-argument kernel, and CuPy's compile of the same GEMM source. Prints one JSON line.
import json, sys, time, statistics
import numpy as np
import cupy as cp

EMPTY6 = 'extern "C" __global__ void empty6(const float* a, const float* b, float* c, int m, int n, float s) {}'
k = cp.RawKernel(EMPTY6, 'empty6')
buf = cp.empty(256, dtype=cp.float32)
args = (buf, buf, buf, np.int32(1), np.int32(2), np.float32(3))
for _ in range(2000):
    k((1,), (32,), args)
cp.cuda.runtime.deviceSynchronize()
N = 10000
per = []
for _ in range(15):
    t = time.perf_counter()
    for _ in range(N):
        k((1,), (32,), args)
    cp.cuda.runtime.deviceSynchronize()
    per.append((time.perf_counter() - t) * 1e6 / N)
print(json.dumps({"peer": "cupy", "version": cp.__version__, "launchUsWall": statistics.median(per)}))
