# SPDX-License-Identifier: MIT
# PyTorch side of `npm run bench`: the same L2-projected steps as lp-optim,
# timed with 1 thread and with all cores, and for the workloads marked "evict"
# also with 1 thread after a cache sweep. Where rai_toolbox (the reference)
# is importable (`pip install rai-toolbox`, or PYTHONPATH set to a checkout's
# src/), the steps are its own L2ProjectedOptim wrapping torch.optim, as its
# users run them; the same steps written with torch ops (torch.norm per datum,
# in-place divide, torch.optim's step, renorm_, what rai_toolbox computes
# without its wrapper's Python) are then timed too, with one thread, for
# comparison; without the reference only they are timed.
# Prints {"reference": name or null, "why": why not, "results": {workload:
# {threads or "evicted" or "ops1": median ms}}} as JSON. Run by scripts/bench.js.
import json
import statistics
import sys
import time

import torch

try:
    import rai_toolbox
    from rai_toolbox.optim import L2ProjectedOptim as ReferenceOptim
    from rai_toolbox.optim import LinfProjectedOptim as ReferenceLinfOptim
    from rai_toolbox.optim import L1qNormedGradientOptim as ReferenceL1qOptim

    # (A source checkout without its generated _version.py says "unknown version".)
    _version = getattr(rai_toolbox, "__version__", "unknown version")
    REFERENCE = "rai_toolbox" + ("" if _version == "unknown version" else " " + _version)
    WHY_NOT = None
except ImportError as err:  # the hand-written ops stand in for it
    ReferenceOptim = ReferenceLinfOptim = ReferenceL1qOptim = None
    REFERENCE = None
    WHY_NOT = str(err)


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


def reference_step(w, params):
    """rai_toolbox's own step: L2ProjectedOptim with the workload's inner optimizer."""
    inner = {"Adam": (torch.optim.Adam, {}), "SGDm": (torch.optim.SGD, {"momentum": 0.9})}.get(w["inner"], (torch.optim.SGD, {}))
    per_datum = w.get("paramNdim", -1) is not None
    if w.get("norm") == "l1q":
        opt = ReferenceL1qOptim(params, InnerOpt=inner[0], lr=0.01, q=0.9, param_ndim=-1, **inner[1])
    elif w.get("norm") == "linf":
        opt = ReferenceLinfOptim(params, InnerOpt=inner[0], lr=0.003, epsilon=0.03, param_ndim=-1 if per_datum else None, **inner[1])
    else:
        opt = ReferenceOptim(params, InnerOpt=inner[0], lr=0.01, epsilon=1.0, param_ndim=-1 if per_datum else None, **inner[1])
    return opt.step


def run(w, threads, evict_bytes=0, reference=False):
    """Median ms per step (rai_toolbox's when reference, else the same ops
    written in torch); with evict_bytes, each step follows an untimed sweep
    writing that many bytes (the step's data evicted from the caches)."""
    torch.set_num_threads(threads)
    params = make(w["shapes"])
    prepare = None
    if w.get("freshGrad"):
        # Each step from the workload's gradient again, copied in untimed (see bench.js).
        pristine = [p.grad.clone() for p in params]

        def prepare():
            for p, g in zip(params, pristine):
                p.grad.copy_(g)

    if reference:
        return median_ms(w, reference_step(w, params), evict_bytes, prepare)
    if w.get("norm") == "linf":
        inner = torch.optim.SGD(params, lr=0.003)

        @torch.no_grad()
        def linf_step():
            for p in params:
                p.grad.sign_()
            inner.step()
            for p in params:
                p.clamp_(-0.03, 0.03)

        return median_ms(w, linf_step, evict_bytes)
    if w.get("norm") == "l1q":
        inner = torch.optim.SGD(params, lr=0.01)

        @torch.no_grad()
        def l1q_step():
            # rai_toolbox's L1q transform without its wrapper: per datum, the
            # top (1 - q) * D magnitudes' signs, L1-normalised.
            for p in params:
                rows = p.grad.reshape(p.grad.shape[0], -1)
                keep = round((1 - 0.9) * rows.shape[1])
                _, idx = torch.topk(rows.abs(), keep, dim=1)
                sparse = torch.zeros_like(rows).scatter_(1, idx, rows.gather(1, idx)).sign_()
                sparse /= torch.clamp(torch.norm(sparse, p=1, dim=1, keepdim=True), 1.1754943508222875e-38, None)
                rows.copy_(sparse)
            inner.step()

        return median_ms(w, l1q_step, evict_bytes, prepare)
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

    return median_ms(w, step, evict_bytes)


def median_ms(w, step, evict_bytes, prepare=None):
    """Median ms per step; prepare (untimed) runs before each step when given."""
    reps = w["reps"]
    if evict_bytes:
        sweep = torch.zeros(evict_bytes // 8, dtype=torch.float64)
        for _ in range(3):
            if prepare:
                prepare()
            step()
        samples = []
        for _ in range(reps):
            if prepare:
                prepare()
            sweep.add_(1.0)
            t0 = time.perf_counter()
            step()
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)
    batch = 100 if reps > 1000 else 1
    for _ in range(min(3 * batch, 300)):
        if prepare:
            prepare()
        step()
    samples = []
    for _ in range(max(1, reps // batch // (10 if batch > 1 else 1))):
        if prepare:
            prepare()  # (a workload with prepare has batch 1: fewer than 1000 reps)
        t0 = time.perf_counter()
        for _ in range(batch):
            step()
        samples.append((time.perf_counter() - t0) * 1000 / batch)
    return statistics.median(samples)


def main():
    cfg = json.loads(sys.argv[1])
    reference = ReferenceOptim is not None
    out = {}
    for w in cfg["workloads"]:
        out[w["key"]] = {str(t): run(w, t, reference=reference) for t in sorted({1, cfg["cores"]})}
        if w.get("evict"):
            out[w["key"]]["evicted"] = run(w, 1, cfg["evictBytes"], reference=reference)
        if reference:
            out[w["key"]]["ops1"] = run(w, 1)
    print(json.dumps({"reference": REFERENCE, "why": WHY_NOT, "results": out}))


main()
