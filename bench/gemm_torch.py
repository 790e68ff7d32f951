#!/usr/bin/env python3
"""GEMM throughput through PyTorch (cuBLAS) on the same GPU, for comparison with bench/gemm.ts.

C = A @ B, row-major square matrices, float32 with TF32 off, float16 and bfloat16. Each point: warm up, then the
median of --iters launches, each timed alone with a pair of CUDA events behind untimed launches, rotating among
input sets.

    python3 bench/gemm_torch.py [--json out.json] [--sizes 1024,2048,4096] [--iters 30]
"""
import argparse
import json
import statistics

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    p.add_argument("--sizes", default="1024,2048,4096")
    p.add_argument("--dtypes", default="float32,float16,bfloat16")
    p.add_argument("--iters", type=int, default=30)
    a = p.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False  # plain FFMA float32, as cuop's SIMT kernel
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    print(f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}, allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    results = []
    for dname in a.dtypes.split(","):
        dt = dtypes[dname]
        for n in [int(s) for s in a.sizes.split(",")]:
            n_sets = 2 if n >= 4096 else 3
            sets = [(torch.rand(n, n, device=dev, dtype=dt) * 2 - 1, torch.rand(n, n, device=dev, dtype=dt) * 2 - 1) for _ in range(n_sets)]
            c = torch.empty(n, n, device=dev, dtype=dt)
            for i in range(5):
                x, y = sets[i % n_sets]
                torch.matmul(x, y, out=c)
            torch.cuda.synchronize()
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            times = []
            # as in bench/gemm.ts: untimed launches first keep the GPU busy, so the events bracket the kernel alone
            fillers = 1 if n >= 4096 else 3 if n >= 2048 else 12
            for i in range(max(20, a.iters)):
                for f in range(fillers):
                    fx, fy = sets[(i + fillers - f) % n_sets]
                    torch.matmul(fx, fy, out=c)
                x, y = sets[i % n_sets]
                start.record()
                torch.matmul(x, y, out=c)
                stop.record()
                stop.synchronize()
                times.append(start.elapsed_time(stop))
            med = statistics.median(times)
            tflops = 2 * n**3 / (med * 1e-3) / 1e12
            results.append({"dtype": dname, "M": n, "N": n, "K": n, "medianMs": med, "minMs": min(times), "tflops": tflops})
            print(f"{dname:9} {n:5}³  median {med:8.3f} ms  min {min(times):8.3f} ms  {tflops:6.1f} TFLOP/s")
            del sets, c
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"tool": "torch", "device": name, "torch": torch.__version__, "cuda": torch.version.cuda, "results": results}, f, indent=2)
            f.write("\n")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
