#!/usr/bin/python3
"""PyTorch reference for bench_gpt --device cuda (benchmark, not a test): tokens/s of a minGPT-shaped
training step (zero grad, forward, backward, clip 0.5, AdamW) at the same config as attn_train's
gpt presets, eager fp32, eager bf16 autocast, and torch.compile (when it works), on one device.
  tests/gpu/torch_gpt_bench.py --n-embd 768 --n-head 12 --n-layer 12 --block 1024 --batch 8 [--device cuda]
Vocabulary 65 (the character models'), dropout 0.1, pre-LN blocks with GELU(tanh) MLPs."""
import argparse, time, statistics
import torch, torch.nn as nn, torch.nn.functional as F


class Block(nn.Module):
    def __init__(s, C, H, p):
        super().__init__()
        s.ln1, s.ln2, s.H, s.p = nn.LayerNorm(C), nn.LayerNorm(C), H, p
        s.qkv, s.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        s.fc, s.out, s.drop = nn.Linear(C, 4 * C), nn.Linear(4 * C, C), nn.Dropout(p)

    def forward(s, x):
        B, T, C = x.shape
        q, k, v = s.qkv(s.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, s.H, C // s.H).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # fused (flash) attention, PyTorch >= 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=s.p if s.training else 0.0)
        else:
            a = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
            a = a.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            y = s.drop(a.softmax(-1)) @ v
        x = x + s.drop(s.proj(y.transpose(1, 2).reshape(B, T, C)))
        return x + s.drop(s.out(F.gelu(s.fc(s.ln2(x)), approximate="tanh")))


class GPT(nn.Module):
    def __init__(s, V, C, H, L, T, p):
        super().__init__()
        s.tok, s.pos, s.drop = nn.Embedding(V, C), nn.Embedding(T, C), nn.Dropout(p)
        s.blocks = nn.Sequential(*[Block(C, H, p) for _ in range(L)])
        s.ln, s.head = nn.LayerNorm(C), nn.Linear(C, V, bias=False)

    def forward(s, idx, tgt):
        x = s.drop(s.tok(idx) + s.pos(torch.arange(idx.shape[1], device=idx.device)))
        logits = s.head(s.ln(s.blocks(x)))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))


def bench(a, mode):
    dev = torch.device(a.device)
    torch.manual_seed(1)
    model = GPT(65, a.n_embd, a.n_head, a.n_layer, a.block, 0.1).to(dev)
    try:  # the fused CUDA AdamW where this PyTorch has it
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=dev.type == "cuda")
    except TypeError:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    fwd = torch.compile(model) if mode == "compile" else model
    idx = torch.randint(0, 65, (a.batch, a.block + 1), device=dev)
    x, y = idx[:, :-1], idx[:, 1:]
    times = []
    for s in range(a.warmup + a.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    C, L, T = a.n_embd, a.n_layer, a.block
    flops = 6.0 * (L * 12.0 * C * C + C * 65) * a.batch * T + 6.0 * L * a.batch * T * T * C  # bench_gpt's count
    mfu = f"  MFU {100 * flops / (ms * 1e-3) / (a.peak_tflops * 1e12):.1f}%" if a.peak_tflops > 0 else ""
    print(f"torch {mode:8s} device={a.device} median_ms={ms:.2f} {a.batch * T / (ms * 1e-3):.0f} tok/s "
          f"{flops / (ms * 1e6):.1f} GFLOP/s{mfu} loss {loss.item():.4f}")


def main():
    p = argparse.ArgumentParser()
    for k, v in [("n-embd", 128), ("n-head", 4), ("n-layer", 4), ("block", 128), ("batch", 32), ("steps", 10),
                 ("warmup", 3)]:
        p.add_argument("--" + k, type=int, default=v)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--peak-tflops", type=float, default=0.0)
    p.add_argument("--modes", default="fp32,bf16,compile")
    a = p.parse_args()
    for mode in a.modes.split(","):
        try:
            bench(a, mode)
        except Exception as e:  # torch.compile needs a working compiler toolchain: report, go on
            print(f"torch {mode:8s} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")


if __name__ == "__main__":
    main()
