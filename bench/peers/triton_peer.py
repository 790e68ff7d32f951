#!/usr/bin/env python3
"""Triton beside cuop for `cuop bench --peers`: a comparable Triton GEMM on the same machine.

Triton takes no CUDA C++, so each GEMM row gets Triton's own float32 matmul (the tutorial's grouped tiling) with the
block tile of cuop's kernel (BLOCK_M x BLOCK_N from its name, BLOCK_K 32). Per kernel: the first warmup() (compile,
no launch) plus the module load with an empty TRITON_CACHE_DIR, the same warmup repeated in this process (Triton's
in-memory kernel cache), and the same in fresh Python processes over the warm TRITON_CACHE_DIR. The cooperative-groups
kernel has no Triton counterpart (no grid-wide sync) and is skipped. Prints one JSON line.

    python3 bench/peers/triton_peer.py <spec.json>
"""
import json
import os
import re
import statistics
import sys
import time

from fresh_process import fresh_samples

KERNEL = r'''
import triton
import triton.language as tl


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  ROW: tl.constexpr):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + (pid % num_pid_in_group) % group_size_m
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc += tl.dot(a, b)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    tl.store(c_ptrs, acc, mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))
'''

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
import torch
from triton_gemm import matmul_kernel
from triton_common import ready
n = int(sys.argv[1])
bm, bn = (int(x) for x in sys.argv[2].split("x"))
row = int(sys.argv[4])
a = torch.empty((n, n), device="cuda", dtype=torch.float32)
torch.cuda.synchronize()  # context up before the clock
t = time.perf_counter()
ready(matmul_kernel, a, n, bm, bn, row)
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
"""

COMMON = r'''
import triton


def ready(kernel, a, n, bm, bn, row):
    """Compile (or fetch) the specialization and load its module, without a launch where Triton allows it."""
    grid = (triton.cdiv(n, bm) * triton.cdiv(n, bn),)
    args = (a, a, a, n, n, n, n, 1, n, 1, n, 1)
    # ROW (unused by the kernel) is a constexpr per bench row: GEMM 256 and 1024 share a tile, and without it the
    # second row's cold compile would be a hit in Triton's in-memory cache.
    kw = dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=32, GROUP_M=8, ROW=row)
    compiled = kernel.warmup(*args, grid=grid, **kw)
    init = getattr(compiled, "_init_handles", None)
    if init is not None:
        init()  # the module load onto the device
    return compiled
'''


def tile_of(name: str):
    m = re.search(r"_(\d+)x(\d+)x\d+_", name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def main() -> None:
    spec_path = sys.argv[1]
    spec = json.load(open(spec_path))
    os.makedirs(spec["cacheDir"], exist_ok=True)
    os.environ["TRITON_CACHE_DIR"] = spec["cacheDir"]  # before Triton is imported: an empty cache of this run
    mod_dir = os.path.join(os.path.dirname(spec["cacheDir"]), "triton-src")
    os.makedirs(mod_dir, exist_ok=True)
    open(os.path.join(mod_dir, "triton_gemm.py"), "w").write(KERNEL)  # @triton.jit needs a real source file
    open(os.path.join(mod_dir, "triton_common.py"), "w").write(COMMON)
    sys.path.insert(0, mod_dir)
    import torch
    import triton
    from triton_gemm import matmul_kernel
    from triton_common import ready

    rows, skipped = [], []
    for row, k in enumerate(spec["kernels"]):
        tile = tile_of(k["name"])
        if k["kernel"] == "heavy-cg" or tile is None:
            skipped.append({"kernel": k["kernel"], "reason": "no Triton counterpart (a cooperative-groups kernel: grid-wide sync)"})
            continue
        n = int(k["kernel"].split("-")[1])
        bm, bn = tile
        a = torch.empty((n, n), device="cuda", dtype=torch.float32)
        torch.cuda.synchronize()
        what = f"Triton float32 matmul, BLOCK {bm}x{bn}x32, N={n}"
        try:
            t = time.perf_counter()
            ready(matmul_kernel, a, n, bm, bn, row)
            compile_ms = (time.perf_counter() - t) * 1000
        except Exception as e:
            skipped.append({"kernel": k["kernel"], "reason": f"Triton failed: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"})
            continue
        rows.append({"kernel": k["kernel"], "series": "compile", "ms": compile_ms,
                     "method": f"{what}: first warmup() (compile, no launch) + module load, empty TRITON_CACHE_DIR, "
                               "CUDA context made before the clock"})
        reps = spec["repeats"]
        t = time.perf_counter()
        for _ in range(reps):
            ready(matmul_kernel, a, n, bm, bn, row)
        rows.append({"kernel": k["kernel"], "series": "memory hit", "ms": (time.perf_counter() - t) * 1000 / reps,
                     "method": f"{what}: the same warmup() repeated in the same process (Triton's kernel cache), mean of {reps}"})
        samples, failure = fresh_samples([CHILD, str(n), f"{bm}x{bn}", mod_dir, str(row)], spec["restarts"], spec["timeoutS"])
        method = (f"{what}: a fresh Python process over the warm TRITON_CACHE_DIR, warmup() + module load timed "
                  f"after import and context; median of {spec['restarts']}")
        if failure:
            skipped.append({"kernel": k["kernel"], "series": "disk hit", "reason": failure, "method": method})
        else:
            rows.append({"kernel": k["kernel"], "series": "disk hit", "ms": statistics.median(samples),
                         "samples": samples, "method": method})
    print(json.dumps({"tool": "triton", "version": triton.__version__, "rows": rows, "skipped": skipped}))


if __name__ == "__main__":
    main()
