# SPDX-License-Identifier: MIT
# PyTorch side of `npm run bench`: the same L2-projected steps as lp-optim,
# written as rai_toolbox computes them (torch.norm per datum, in-place divide,
# torch.optim's step, renorm_), timed with 1 thread and with all cores, and for
# the workloads marked "evict" also with 1 thread after a cache sweep.
# Prints {workload: {threads or "evicted": median ms}} as JSON. Run by scripts/bench.js.
import json
import statistics
import sys
import time

import torch


def make(shapes):
    params = []
    for shape in shapes:
        n = 1
        for d in shape:
            n *= d
        i = torch.arange(n, dtype=torch.float64)
        p = ((i * 2654435761) % 1000 / 1000 - 0.5).float().reshape(shape).requires_grad_()
        p.grad = ((i * 40503) % 977 / 977 - 0.5).float().reshape(shape)
        params.append(p)
    return params


def run(w, threads, evict_bytes=0):
    """Median ms per step; with evict_bytes, each step follows an untimed sweep
    writing that many bytes (the step's data evicted from the caches)."""
    torch.set_num_threads(threads)
    params = make(w["shapes"])
    if w["inner"] == "Adam":
        inner = torch.optim.Adam(params, lr=0.01)
    else:
        inner = torch.optim.SGD(params, lr=0.01, momentum=0.9 if w["inner"] == "SGDm" else 0)
    per_datum = w.get("paramNdim", -1) is not None

    @torch.no_grad()
    def step():
        for p in params:
            g = p.grad
            rows = g.reshape(g.shape[0] if per_datum and g.dim() > 1 else 1, -1)
            rows /= torch.clamp(torch.norm(rows, p=2, dim=1, keepdim=True), 1.1754943508222875e-38, None)
        inner.step()
        for p in params:
            flat = p.reshape(p.shape[0] if per_datum and p.dim() > 1 else 1, -1)
            flat.renorm_(p=2, dim=0, maxnorm=1.0)

    reps = w["reps"]
    if evict_bytes:
        sweep = torch.zeros(evict_bytes // 8, dtype=torch.float64)
        for _ in range(3):
            step()
        samples = []
        for _ in range(reps):
            sweep.add_(1.0)
            t0 = time.perf_counter()
            step()
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)
    batch = 100 if reps > 1000 else 1
    for _ in range(min(3 * batch, 300)):
        step()
    samples = []
    for _ in range(max(1, reps // batch // (10 if batch > 1 else 1))):
        t0 = time.perf_counter()
        for _ in range(batch):
            step()
        samples.append((time.perf_counter() - t0) * 1000 / batch)
    return statistics.median(samples)


def main():
    cfg = json.loads(sys.argv[1])
    out = {}
    for w in cfg["workloads"]:
        out[w["key"]] = {str(t): run(w, t) for t in sorted({1, cfg["cores"]})}
        if w.get("evict"):
            out[w["key"]]["evicted"] = run(w, 1, cfg["evictBytes"])
    print(json.dumps(out))


main()
