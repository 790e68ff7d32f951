"""The fresh-process (disk hit) samples both peer scripts take: a child per restart, each with a deadline."""
import json
import os
import subprocess
import sys


def fresh_samples(args, restarts, timeout_s):
    """Runs `python -c <args>` `restarts` times; returns (the children's "ms" values, None) or (what was got, why it stopped)."""
    samples = []
    for _ in range(restarts):
        try:
            r = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True,
                               timeout=timeout_s, env=os.environ.copy())
        except subprocess.TimeoutExpired:
            return samples, f"the fresh process timed out after {timeout_s} s"
        if r.returncode != 0:
            return samples, f"the fresh process failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}"
        samples.append(json.loads(r.stdout.strip().splitlines()[-1])["ms"])
    return samples, None
