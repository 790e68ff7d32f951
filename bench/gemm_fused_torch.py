#!/usr/bin/env python3
"""The PyTorch peer of bench/gemm-fused.ts: gelu(addmm(bias, A, B)) in eager mode (cuBLAS addmm, then one GELU
kernel; PyTorch's default exact-erf GELU, as cuop's activation 'gelu'), and addmm alone, for the same shapes.
Each point: warm up, then the median of 5 trials of --iters back-to-back calls timed with CUDA events.

    python3 bench/gemm_fused_torch.py [--dtypes float16,bfloat16,float32]
                                      [--shapes 4096x4096x4096,8192x4096x1024,2048x8192x2048,1024x1024x1024]
                                      [--iters 20] [--approximate none|tanh] [--json out.json]
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def time_ms(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    trials = []
    for _ in range(5):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        trials.append(start.elapsed_time(end) / iters)
    return statistics.median(trials)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dtypes", default="float16,bfloat16,float32")
    p.add_argument("--shapes", default="4096x4096x4096,8192x4096x1024,2048x8192x2048,1024x1024x1024")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--approximate", default="none", choices=["none", "tanh"])
    p.add_argument("--json")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as cuop's FFMA kernel
    dev = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda}; ms per call")
    print("dtype     shape              gelu(addmm)  addmm-only")
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    results = []
    for dname in a.dtypes.split(","):
        dt = dtypes[dname]
        for shape in a.shapes.split(","):
            m, n, k = (int(x) for x in shape.split("x"))
            A = torch.rand(m, k, device=dev, dtype=dt) - 0.5
            B = torch.rand(k, n, device=dev, dtype=dt) - 0.5
            bias = torch.rand(n, device=dev, dtype=dt) - 0.5
            C = torch.empty(m, n, device=dev, dtype=dt)
            fused = time_ms(lambda: F.gelu(torch.addmm(bias, A, B), approximate=a.approximate), a.iters)
            plain = time_ms(lambda: torch.addmm(bias, A, B, out=C), a.iters)
            print(f"{dname:<9} {shape:<18} {fused:11.3f}  {plain:10.3f}")
            results.append({"dtype": dname, "M": m, "N": n, "K": k, "geluAddmmMs": fused, "addmmMs": plain})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(dev), "torch": torch.__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
