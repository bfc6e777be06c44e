# SPDX-License-Identifier: MIT
# Random attack cases in attack.json's format (test/fixtures/golden/README.md):
# rai_toolbox's gradient_ascent (PyTorch 1.13, float64) on the fixture's
# linear Fashion-MNIST model and images, with random optimizers, options,
# targets, use_best, universal perturbations, reductions and initial
# perturbations; for scripts/differential/run.sh.
#
#   PYTHONPATH=<responsible-ai-toolbox>/src /usr/bin/python3 gen_attack.py SEED COUNT > cases.json
import functools
import json
import os
import random
import sys

import rai_toolbox.optim as R
import torch
from rai_toolbox.perturbations import AdditivePerturbation, gradient_ascent

seed, count = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
torch.manual_seed(seed)
fx = json.load(open(os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'golden', 'attack.json')))
W = torch.tensor(fx['model']['W'], dtype=torch.float64).reshape(10, 784)
b = torch.tensor(fx['model']['b'], dtype=torch.float64)
X = torch.tensor(fx['data']['values'], dtype=torch.float64).reshape(fx['data']['shape'])
labels = fx['data']['labels']


def model(x):
    return x.flatten(1) @ W.T + b


INNER = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "RMSprop": torch.optim.RMSprop}
cases = []
for n in range(count):
    opt = rng.choice(["L2ProjectedOptim", "L2ProjectedOptim", "LinfProjectedOptim", "SGD"])
    inner = rng.choice(["SGD", "SGD", "Adam", "RMSprop"]) if opt != "SGD" else "SGD"
    options = {"lr": rng.choice([0.05, 0.2, 0.5])}
    if opt == "L2ProjectedOptim": options["epsilon"] = rng.choice([0.5, 1.0, 3.0]); options["paramNdim"] = rng.choice([-1, None])
    if opt == "LinfProjectedOptim": options["epsilon"] = rng.choice([0.02, 0.05]); options["lr"] = rng.choice([0.005, 0.01])
    if inner == "SGD" and rng.random() < 0.4: options["momentum"] = rng.choice([0.5, 0.9])
    targeted = rng.random() < 0.3
    use_best = rng.random() < 0.6
    delta_ndim = -1 if rng.random() < 0.25 else None
    reduction = rng.choice(["sum", "mean"])
    steps = rng.choice([3, 7, 10])
    target = [(l + 1) % 10 for l in labels] if targeted else list(labels)
    init = None
    shape = list(X.shape) if delta_ndim is None else list(X.shape[1:])
    if rng.random() < 0.3: init = (torch.rand(shape, dtype=torch.float64) * 0.2 - 0.1).flatten().tolist()

    def init_fn(d, init=init):
        if init is not None:
            with torch.no_grad():
                d.copy_(torch.tensor(init, dtype=torch.float64).reshape(d.shape))

    pm = functools.partial(AdditivePerturbation, init_fn=init_fn, delta_ndim=delta_ndim)
    okw = {"paramNdim": "param_ndim"}
    kw = {okw.get(k, k): v for k, v in options.items()}
    Opt = torch.optim.SGD if opt == "SGD" else getattr(R, opt)
    if opt != "SGD": kw["InnerOpt"] = INNER[inner]
    crit = torch.nn.CrossEntropyLoss(reduction="none")
    try:
        xadv, losses = gradient_ascent(model=model, data=X.clone(), target=torch.tensor(target), optimizer=Opt, steps=steps,
                                       perturbation_model=pm, targeted=targeted, use_best=use_best, criterion=crit,
                                       reduction_fn=torch.sum if reduction == "sum" else torch.mean, **kw)
    except Exception as e:  # the reference refused the configuration: not a case
        print(f"case {n}: rai_toolbox raised {e}", file=sys.stderr)
        continue
    preds = model(xadv).argmax(1).tolist()
    fooled = sum(1 for p, l in zip(preds, labels) if p != l) / len(labels)
    cases.append({"name": f"atk-{seed}-{n}", "dtype": "float64", "optimizer": opt, "innerOpt": inner, "options": options, "steps": steps,
                  "targeted": targeted, "useBest": use_best, "target": target, "deltaNdim": delta_ndim, "reduction": reduction, "init": init,
                  "expected": {"xAdv": xadv.detach().flatten().tolist(), "losses": losses.detach().flatten().tolist()}, "fooledFraction": fooled})
print(json.dumps({**fx, "source": f"rai_toolbox gradient_ascent on torch {torch.__version__}", "cases": cases}))
