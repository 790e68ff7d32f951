#!/usr/bin/env python3
"""CuPy beside cuop for `cuop bench --peers`: the same kernel sources through cupy.RawModule on the same machine.

Per kernel: the first RawModule + get_function with an empty CUPY_CACHE_DIR (compile and module load), the same
call repeated in this process (whatever CuPy's caches answer), and the same call in fresh Python processes over the
warm CUPY_CACHE_DIR (its disk cache). Timed after the CUDA context exists. Prints one JSON line.

    python3 bench/peers/cupy_peer.py <spec.json>

spec.json: {"kernels": [{"kernel", "file", "name", "options"}], "cacheDir", "restarts", "repeats", "timeoutS"}
"""
import json
import os
import statistics
import sys
import time

from fresh_process import fresh_samples

CHILD = r"""
import json, sys, time
spec = json.load(open(sys.argv[1]))
k = spec["kernels"][int(sys.argv[2])]
import cupy as cp
cp.cuda.Device(0).use()
cp.empty(1)  # context and allocator up before the clock
src = open(k["file"]).read()
exprs = [k["name"]] if "<" in k["name"] else None
t = time.perf_counter()
m = cp.RawModule(code=src, options=tuple(k["options"]), name_expressions=exprs)
f = m.get_function(k["name"])
f.max_threads_per_block  # the module is loaded by now
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
"""


def main() -> None:
    spec_path = sys.argv[1]
    spec = json.load(open(spec_path))
    os.makedirs(spec["cacheDir"], exist_ok=True)
    os.environ["CUPY_CACHE_DIR"] = spec["cacheDir"]  # before CuPy is imported: an empty cache of this run
    import cupy as cp

    cp.cuda.Device(0).use()
    cp.empty(1)
    rows, skipped = [], []
    for i, k in enumerate(spec["kernels"]):
        src = open(k["file"]).read()
        exprs = [k["name"]] if "<" in k["name"] else None

        def get():
            m = cp.RawModule(code=src, options=tuple(k["options"]), name_expressions=exprs)
            f = m.get_function(k["name"])
            f.max_threads_per_block
            return f

        try:
            t = time.perf_counter()
            get()
            compile_ms = (time.perf_counter() - t) * 1000
        except Exception as e:  # a source CuPy cannot compile (headers, options) is reported, not fatal
            skipped.append({"kernel": k["kernel"], "reason": f"RawModule failed: {str(e).splitlines()[0][:200]}"})
            continue
        rows.append({"kernel": k["kernel"], "series": "compile", "ms": compile_ms,
                     "method": "cupy.RawModule(code, name_expressions) + get_function, empty CUPY_CACHE_DIR, "
                               "compile and module load, CUDA context made before the clock"})
        n = spec["repeats"]
        t = time.perf_counter()
        for _ in range(n):
            get()
        rows.append({"kernel": k["kernel"], "series": "memory hit", "ms": (time.perf_counter() - t) * 1000 / n,
                     "method": f"the same RawModule + get_function repeated in the same process (CuPy's own caches), mean of {n}"})
        samples, failure = fresh_samples([CHILD, spec_path, str(i)], spec["restarts"], spec["timeoutS"])
        method = (f"a fresh Python process over the warm CUPY_CACHE_DIR: RawModule + get_function, timed after "
                  f"import and context; median of {spec['restarts']}")
        if failure:
            skipped.append({"kernel": k["kernel"], "series": "disk hit", "reason": failure, "method": method})
        else:
            rows.append({"kernel": k["kernel"], "series": "disk hit", "ms": statistics.median(samples),
                         "samples": samples, "method": method})
    print(json.dumps({"tool": "cupy", "version": cp.__version__, "rows": rows, "skipped": skipped}))


if __name__ == "__main__":
    main()
