#!/usr/bin/python3
"""Reference fixture for tests/test_optim.c: 5 steps of each optimizer (with and without
clip_grad_norm_) and the lr sequence of each schedule, computed with PyTorch.

Run from anywhere with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_optim.py
Writes tests/ref/optim.h5:
  init/<param>            initial values
  grad/<param>            (STEPS, *shape) the gradient set before each step
  <variant>/<param>       (STEPS, *shape) the parameter after each step
  <variant>/norm          (STEPS,) total norm returned by clip_grad_norm_ (clip variants only)
  sched/<kind>            lr of update/epoch 0, 1, ... (step, exp, cosine)
The hyper-parameters below are mirrored in tests/test_optim.c (VARIANTS, SCHEDULES).
"""
import math
import os

import h5py
import numpy as np
import torch

STEPS = 5
# name, shape, weight-decay flag (the minGPT grouping); declaration order = flat-buffer order
PARAMS = [("l1.weight", (5, 3), True), ("l1.bias", (5,), False), ("ln.weight", (3,), False),
          ("l2.weight", (4, 2), True)]
MAX_NORM = 1.0
# name, optimizer class, kwargs for both groups, weight decay of the decay group
VARIANTS = [
    ("sgd", torch.optim.SGD, dict(lr=0.1), 0.0),
    ("sgd_momentum_wd", torch.optim.SGD, dict(lr=0.1, momentum=0.9), 0.01),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), 0.01),
    ("adam", torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8), 0.01),
    ("adamw", torch.optim.AdamW, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8), 0.1),
]


def run(f, name, cls, kw, wd, clip, init, grads):
    params = [torch.nn.Parameter(torch.tensor(init[n])) for n, _, _ in PARAMS]
    decay = [p for p, (_, _, d) in zip(params, PARAMS) if d]
    no_decay = [p for p, (_, _, d) in zip(params, PARAMS) if not d]
    opt = cls([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}], **kw)
    out = {n: [] for n, _, _ in PARAMS}
    norms = []
    for s in range(STEPS):
        for p, (n, _, _) in zip(params, PARAMS):
            p.grad = torch.tensor(grads[n][s])
        if clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, MAX_NORM)))
        opt.step()
        for p, (n, _, _) in zip(params, PARAMS):
            out[n].append(p.detach().numpy().copy())
    for n, _, _ in PARAMS:
        f[f"{name}/{n}"] = np.stack(out[n])
    if clip:
        f[f"{name}/norm"] = np.array(norms, dtype=np.float64)


def lrs(sched_fn, n, base=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = sched_fn(opt)
    seq = []
    for _ in range(n):
        seq.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return np.array(seq, dtype=np.float64)


def warmup_cosine(warmup, total, base, min_lr):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        prog = min(1.0, (step - warmup) / (total - warmup))
        return (min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * prog))) / base
    return f


def main():
    g = torch.Generator().manual_seed(1234)
    init = {n: torch.randn(s, generator=g).numpy() for n, s, _ in PARAMS}
    # step 2 gets small gradients so that clipping leaves them alone there
    scale = [1.0, 0.5, 0.03, 1.5, 1.0]
    grads = {n: np.stack([scale[k] * torch.randn(s, generator=g).numpy() for k in range(STEPS)])
             for n, s, _ in PARAMS}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.h5")
    with h5py.File(path, "w") as f:
        for n, _, _ in PARAMS:
            f[f"init/{n}"] = init[n]
            f[f"grad/{n}"] = grads[n]
        for name, cls, kw, wd in VARIANTS:
            run(f, name, cls, kw, wd, False, init, grads)
            run(f, name + "_clip", cls, kw, wd, True, init, grads)
        f["sched/step"] = lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 20)
        f["sched/exp"] = lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 20)
        f["sched/cosine"] = lrs(lambda o: torch.optim.lr_scheduler.LambdaLR(
            o, warmup_cosine(5, 20, 0.1, 1e-3)), 25)
    print("wrote", path)


if __name__ == "__main__":
    main()
