# SPDX-License-Identifier: MIT
# Random optimizer cases in the golden format (test/fixtures/golden/README.md),
# recorded from rai_toolbox itself on PyTorch 1.13 (CPU, one thread), for a
# differential run against lp-optim (scripts/differential/run.sh). Kinds:
#   small   every class with random options, shapes of 0 to 2 dimensions
#           and 1 to 500 elements
#   big     the same with rows of 600 to 140,000 elements (fused, pipelined
#           and threaded kernel paths)
#   groups  a second param group with options of every kind, `defaults`, and
#           chains of one to three links
# Known differences (README, "Known differences") are left out: top-q after a
# sign or a clamp (ties), and a Frank-Wolfe group's own epsilon.
#
#   PYTHONPATH=<responsible-ai-toolbox>/src /usr/bin/python3 gen_optim.py KIND SEED COUNT > cases.json
import copy
import functools
import json
import math
import random
import sys

import rai_toolbox.optim as R
import torch

kind, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
torch.manual_seed(seed)
torch.set_num_threads(1)

INNER = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
         "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad}
SMALL = [[], [1], [3], [4, 5], [2, 3, 8], [6, 16], [5, 100]]
BIG = [[3, 70001], [64, 600], [2, 3, 4000], [5, 1000], [1, 140000], [300, 7], [2, 40000], [700, 33]]
GROUP_SHAPES = [[3], [4, 5], [2, 3, 8], [6, 16], [5, 100], [2, 700], [64, 20]]
SIGNING = ("SignedGradientOptim", "LinfProjectedOptim", "ClampedGradientOptimizer")
FAMILY = ["L2ProjectedOptim"] * 3 + ["L2NormedGradientOptim", "L1NormedGradientOptim", "SignedGradientOptim",
          "LinfProjectedOptim", "LinfProjectedOptim", "ClampedGradientOptimizer", "ClampedParameterOptimizer",
          "TopQGradientOptimizer", "L1qNormedGradientOptim"]
FRANK_WOLFE = ["L2FrankWolfe", "LinfFrankWolfe", "L1qFrankWolfe", "L1FrankWolfe"]


def inner_options(name):
    o = {}
    if name == "SGD" and rng.random() < 0.6:
        o["momentum"] = rng.choice([0.5, 0.9])
        if rng.random() < 0.3:
            o["nesterov"] = True
        elif rng.random() < 0.3:
            o["dampening"] = 0.1
    if name in ("Adam", "AdamW"):
        if rng.random() < 0.4: o["betas"] = rng.choice([[0.5, 0.9], [0.8, 0.99]])
        if rng.random() < 0.3: o["amsgrad"] = True
    if name == "RMSprop":
        if rng.random() < 0.4: o["alpha"] = rng.choice([0.5, 0.9])
        if rng.random() < 0.3: o["centered"] = True
        if rng.random() < 0.3: o["momentum"] = 0.5
    if name == "Adagrad":
        if rng.random() < 0.3: o["lr_decay"] = 0.01
        if rng.random() < 0.3: o["initial_accumulator_value"] = 0.1
    if name != "SGD" and rng.random() < 0.3: o["eps"] = rng.choice([1e-3, 1e-6])
    if rng.random() < 0.3: o["weight_decay"] = rng.choice([0.01, 0.1])
    if rng.random() < 0.2: o["maximize"] = True
    return o


def param_ndim_for(shapes):
    d = min(len(s) for s in shapes)
    return rng.choice([None, -1] + list(range(0, d + 1)) + [-k for k in range(1, d + 1)])


def transform_options(cls):
    o = {}
    if cls in ("L2ProjectedOptim",): o["epsilon"] = rng.choice([0.1, 1.0, 2.5, 10.0])
    if cls == "LinfProjectedOptim": o["epsilon"] = rng.choice([0.05, 0.3])
    if cls.startswith("Clamped"):
        if rng.random() < 0.7: o["clamp_min"] = rng.choice([-0.1, -0.5])
        if rng.random() < 0.7 or "clamp_min" not in o: o["clamp_max"] = rng.choice([0.2, 0.7])
    if cls in ("TopQGradientOptimizer", "L1qNormedGradientOptim"): o["q"] = rng.choice([0.0, 0.3, 0.9])
    if cls != "L1qNormedGradientOptim" and rng.random() < 0.3:
        o["grad_scale"] = rng.choice([0.5, 2.0, -1.0])
        o["grad_bias"] = rng.choice([0.0, 0.01])
    return o


def group_options(cls, inner, shape):
    o = {k: v for k, v in inner_options(inner).items() if k not in ("nesterov", "dampening")}
    if rng.random() < 0.5: o["lr"] = rng.choice([0.05, 0.3])
    if rng.random() < 0.4: o["param_ndim"] = param_ndim_for([shape])
    if cls not in ("L1qNormedGradientOptim",) and rng.random() < 0.3: o["grad_scale"] = rng.choice([0.5, 3.0, -1.0])
    if cls not in ("L1qNormedGradientOptim",) and rng.random() < 0.3: o["grad_bias"] = rng.choice([0.0, 0.02])
    if cls in ("L2ProjectedOptim", "LinfProjectedOptim") and rng.random() < 0.6: o["epsilon"] = rng.choice([0.05, 0.3, 2.0])
    if cls in ("TopQGradientOptimizer", "L1qNormedGradientOptim") and rng.random() < 0.6: o["q"] = rng.choice([0.2, 0.6])
    if cls.startswith("Clamped") and rng.random() < 0.6:
        o["clamp_min"] = rng.choice([-0.3, -0.05])
        o["clamp_max"] = rng.choice([0.1, 0.4])
    return o


LINKS = {
    "L2NormedGradientOptim": lambda: {},
    "L1NormedGradientOptim": lambda: {},
    "SignedGradientOptim": lambda: {},
    "ClampedGradientOptimizer": lambda: {"clamp_min": -0.2, "clamp_max": rng.choice([0.1, 0.5])},
    "ClampedParameterOptimizer": lambda: {"clamp_max": rng.choice([0.3, 1.0])},
    "TopQGradientOptimizer": lambda: {"q": rng.choice([0.3, 0.8])},
    "L2ProjectedOptim": lambda: {"epsilon": rng.choice([0.5, 2.0])},
    "LinfProjectedOptim": lambda: {"epsilon": rng.choice([0.1, 0.4])},
}


def random_chain():
    names = []
    for _ in range(rng.choice([1, 2, 3])):
        name = rng.choice(list(LINKS))
        if name == "TopQGradientOptimizer" and any(n in SIGNING for n in names):
            continue  # top-q among ties: a known difference
        names.append(name)
    return [{"optimizer": n, "kwargs": LINKS[n]()} for n in names]


def frank_wolfe_case(cls, shapes):
    kwargs = {"epsilon": rng.choice([0.5, 2.0])}
    if rng.random() < 0.4:
        kwargs["use_default_lr_schedule"] = False
        kwargs["lr"] = rng.choice([0.1, 0.5, 1.0])
    else:
        kwargs["lr"] = rng.choice([0.5, 1.0, 2.0])
    if cls == "L1qFrankWolfe": kwargs["q"] = rng.choice([0.3, 0.7])
    if cls == "L1FrankWolfe":
        # The reference's argmax runs over dimension 1 only: data of one dimension each.
        shapes = [[s[0], math.prod(s[1:])] if len(s) > 1 else [s[0] if s else 1, 1] for s in shapes]
        kwargs["param_ndim"] = 1
    else:
        kwargs["param_ndim"] = param_ndim_for(shapes)
    return kwargs, shapes


def make_case(n):
    chain = None
    inner = rng.choice(list(INNER))
    if kind == "groups":
        shapes = [rng.choice(GROUP_SHAPES) for _ in range(2)]
        if rng.random() < 0.35:
            cls, chain = "ChainedParamTransformingOptimizer", random_chain()
        else:
            cls = rng.choice(FAMILY)
        kwargs = {"lr": rng.choice([0.01, 0.1, 0.5]), **inner_options(inner), **transform_options(cls)}
        kwargs["param_ndim"] = rng.choice([None, -1, 0] + list(range(1, min(len(s) for s in shapes) + 1)))
        if rng.random() < 0.3:
            d = {}
            if rng.random() < 0.5: d["param_ndim"] = rng.choice([None, 0, -1])
            if rng.random() < 0.5: d["lr"] = 0.2
            if "epsilon" in kwargs and rng.random() < 0.5: d["epsilon"] = 0.7
            if d: kwargs["defaults"] = d
        groups = [{"params": [0], "options": {}}, {"params": [1], "options": group_options(cls, inner, shapes[1])}]
    else:
        shapes = [rng.choice(BIG if kind == "big" else SMALL) for _ in range(rng.choice([1, 1, 2]))]
        if kind == "big":
            shapes = [s for s in shapes if math.prod(s) <= 210003] or [[64, 600]]
        cls = rng.choice(FAMILY + FRANK_WOLFE)
        if cls in FRANK_WOLFE:
            inner = "FrankWolfe"
            kwargs, shapes = frank_wolfe_case(cls, shapes)
        else:
            kwargs = {"lr": rng.choice([0.001, 0.01, 0.1, 0.5]), **inner_options(inner), **transform_options(cls)}
            kwargs["param_ndim"] = param_ndim_for(shapes)
        groups = None
        if len(shapes) == 2 and rng.random() < 0.5:
            g2 = {"lr": rng.choice([0.05, 0.2])}
            if "epsilon" in kwargs and cls not in FRANK_WOLFE: g2["epsilon"] = rng.choice([0.3, 1.5])
            if "q" in kwargs and cls != "L1qFrankWolfe": g2["q"] = rng.choice([0.2, 0.6])
            groups = [{"params": [0], "options": {}}, {"params": [1], "options": g2}]
    dtype = rng.choice(["float32", "float32", "float64"])
    # torch.topk's choice among equal magnitudes at the cut is its library's (README: known differences)
    top_q = cls in ("TopQGradientOptimizer", "L1qNormedGradientOptim", "L1qFrankWolfe") or any(
        link["optimizer"] in ("TopQGradientOptimizer", "L1qNormedGradientOptim") for link in (chain or []))
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    params = [torch.randn(s, dtype=torch_dtype).mul_(0.3).requires_grad_(True) for s in shapes]
    given = params if groups is None else [{"params": [params[g["params"][0]]], **g["options"]} for g in groups]
    kw = copy.deepcopy(kwargs)  # (the reference fills `defaults` in place)
    if chain is not None:
        links = [functools.partial(getattr(R, link["optimizer"]), **link["kwargs"]) for link in chain]
        opt = R.ChainedParamTransformingOptimizer(*links, params=given, InnerOpt=INNER[inner], **kw)
    elif cls in FRANK_WOLFE:
        opt = getattr(R, cls)(given, **kw)
    else:
        opt = getattr(R, cls)(given, InnerOpt=INNER[inner], **kw)
    case = {"name": f"{kind}-{seed}-{n}", "optimizer": cls, "inner": inner, "dtype": dtype, "kwargs": kwargs, "groups": groups,
            "params": [{"shape": s, "data": p.detach().flatten().tolist()} for s, p in zip(shapes, params)], "steps": []}
    if chain is not None:
        case["chain"] = chain
    for k in range(3):
        grads = [torch.randn(s, dtype=torch_dtype) * rng.choice([1.0, 0.01, 100.0]) for s in shapes]
        for i, g in enumerate(grads):
            style = rng.random()
            if style < 0.15:  # sparse: most entries +0 or -0 (negative * 0); top-q's ties at 0 keep 0
                grads[i] = g * (torch.rand(g.shape) < rng.choice([0.01, 0.05, 0.3])).to(torch_dtype)
            elif style < 0.25 and not top_q:  # a few magnitudes (top-q's ties among them are a known difference)
                grads[i] = torch.sign(g) * torch.randint(1, 4, g.shape).to(torch_dtype)
        if k == 1 and len(shapes) > 1 and kind != "groups":
            grads[1] = None
        if grads[0] is not None and grads[0].dim() > 0 and rng.random() < 0.3:
            grads[0][0] = 0  # a zero datum (the divide-by-zero clamp)
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.clone()
        opt.step()
        case["steps"].append({
            "grads": [None if g is None else g.flatten().tolist() for g in grads],
            "expect": {"params": [p.detach().flatten().tolist() for p in params],
                       "grads": [None if p.grad is None else p.grad.flatten().tolist() for p in params]},
        })
    return case


cases = []
for n in range(count):
    try:
        cases.append(make_case(n))
    except Exception as e:  # the reference refused the configuration: not a case
        print(f"case {n}: rai_toolbox raised {type(e).__name__}: {str(e)[:200]}", file=sys.stderr)
print(json.dumps({"format": 1, "reference": f"rai_toolbox on torch {torch.__version__}", "suite": f"differential-{kind}", "seed": seed, "cases": cases}))
