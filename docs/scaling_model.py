#!/usr/bin/env python3
"""The cost model of docs/SCALING.md: step time and scaling efficiency of data-parallel training
with a ring allreduce of the gradient buckets overlapped with backward.
  python3 docs/scaling_model.py            # prints the tables of docs/SCALING.md
Inputs are the numbers measured on the development machine (see SCALING.md, "Measured")."""

# measured (CPU time on one core of the development machine; see SCALING.md for the commands)
GPT = dict(name="gpt (batch 64 x 128 tokens per rank)", params=25_352_192, core_s=64 / 4 * 1.43, bwd_frac=2 / 3)
R50 = dict(name="ResNet-50 (batch 64 per rank)", params=25_557_032, core_s=64 * (0.450 + 0.529) / 2,
           bwd_frac=0.529 / (0.450 + 0.529))
NODE_CORES, NODE_EFF = 64, 0.7   # a CPU node: 64 cores at 70% parallel efficiency (an assumption)
GPU_SPEEDUP = 50                 # what-if: one GPU rank 50x a CPU node (e.g. ~40 TFLOP/s achieved fp32)
LINKS = {"25 Gb/s": (25e9 / 8, 20e-6), "100 Gb/s": (100e9 / 8, 5e-6), "400 Gb/s": (400e9 / 8, 3e-6)}  # bytes/s, alpha
NODES = [2, 8, 32, 128, 512]


def buckets(total, first=1e6, cap=25e6):
    """attn_train's buckets: a small first one (--first-bucket-mb), then --bucket-mb caps."""
    out, left = [min(first, total)], total - min(first, total)
    while left > 0:
        out.append(min(cap, left))
        left -= out[-1]
    return out


def t_allreduce(nbytes, n, bw, alpha):
    """ring: reduce-scatter + allgather, 2(n-1) steps of nbytes/n each"""
    return 0.0 if n == 1 else 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * alpha


def step(m, n, link, speed=1.0, cap=25e6, overlap=True, accum=1):
    bw, alpha = LINKS[link]
    comp = accum * m["core_s"] / (NODE_CORES * NODE_EFF) / speed
    bwd = comp * m["bwd_frac"] / accum          # the last micro-batch's backward hides communication
    bs = buckets(4 * m["params"], cap=cap)
    ar = [t_allreduce(b, n, bw, alpha) for b in bs]
    if not overlap:
        exposed = sum(ar)
    else:  # buckets go out in backward order while backward runs; the last one (the first layers) after it
        exposed = max(sum(ar[1:]) - bwd, 0.0) + ar[0]
    return comp + exposed, comp


def eff(m, n, link, **kw):
    t, comp = step(m, n, link, **kw)
    return comp / t, t


if __name__ == "__main__":
    for speed, label in [(1.0, "CPU node (64 cores)"), (GPU_SPEEDUP, "GPU rank (what-if: 50x a CPU node)")]:
        for m in (GPT, R50):
            t1 = step(m, 1, "25 Gb/s", speed)[0]
            print(f"\n{label}, {m['name']}: compute {t1 * 1e3:.1f} ms/step, gradients {4 * m['params'] / 1e6:.1f} MB")
            print("| link | " + " | ".join(f"{n} nodes" for n in NODES) + " |")
            print("| --- |" + " --- |" * len(NODES))
            for link in LINKS:
                cells = []
                for n in NODES:
                    e, t = eff(m, n, link, speed=speed)
                    cells.append(f"{t * 1e3:.0f} ms, {100 * e:.0f}%")
                print(f"| {link} | " + " | ".join(cells) + " |")
    m, link = GPT, "100 Gb/s"
    print(f"\nGPU what-if, gpt, {link}: bucket size, overlap, accumulation (step time per optimizer step, efficiency)")
    for n in (8, 128, 512):
        row = []
        for kw, lab in [(dict(cap=100e6, overlap=False), "1 bucket, no overlap"), (dict(cap=25e6), "25 MB, overlap"),
                        (dict(cap=5e6), "5 MB, overlap"), (dict(cap=25e6, accum=4), "25 MB + accum 4")]:
            e, t = eff(m, n, link, speed=GPU_SPEEDUP, **kw)
            row.append(f"{lab}: {t * 1e3:.0f} ms, {100 * e:.0f}%")
        print(f"| {n} | " + " | ".join(row) + " |")
