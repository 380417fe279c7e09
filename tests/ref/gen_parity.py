#!/usr/bin/python3
"""Write tests/ref/parity.h5: PyTorch reference values for tests/test_parity.c.

Run from anywhere with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_parity.py
Everything is computed in float64 and stored as float32 (indices as int32).

Groups:
  mlp/    Linear 12->16, ReLU, Linear 16->5, cross-entropy; batch 8
  block/  pre-norm attention block (LayerNorm, q/k/v/proj Linears, causal 2-head attention with an
          explicit softmax, residual, LayerNorm, MLP 4x GELU(tanh), residual, Linear head, cross-entropy
          with one ignored target); B=2, T=5, C=8, vocabulary 7
  ops/    single ops with non-default variants: forward output and input gradients for a fixed
          upstream gradient `gy` (softmax with mask and causal T<S, attention T!=S and causal T<S,
          rope pos0=5, layernorm without affine, cross-entropy 3-D with int64 targets and ignore)
Each model group holds: parameters under their dotted names, x, targets, loss, logits, and
grad/<dotted name> for every parameter.
"""
import os
import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity.h5")


def put(grp, name, t):
    t = t.detach()
    grp.create_dataset(name, data=(t.to(torch.int32) if not t.is_floating_point() else t.float()).numpy())


def save_model(grp, model, x, targets, loss, logits):
    for name, p in model.named_parameters():
        put(grp, name, p)
        put(grp, "grad/" + name, p.grad)
    put(grp, "x", x)
    put(grp, "targets", targets)
    put(grp, "loss", loss.reshape(1))
    put(grp, "logits", logits)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 5)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def attention(q, k, v, heads, causal):
    """Multi-head attention with an explicit softmax; causal mask bottom-right aligned (s > t + S - T)."""
    B, T, C = q.shape
    S, D = k.shape[1], C // heads
    qh, kh, vh = (z.view(B, -1, heads, D).transpose(1, 2) for z in (q, k, v))
    att = qh @ kh.transpose(-2, -1) / D ** 0.5
    if causal:
        keep = torch.ones(T, S).tril(S - T).bool()
        att = att.masked_fill(~keep, float("-inf"))
    return (att.softmax(-1) @ vh).transpose(1, 2).reshape(B, T, C)


class Attn(nn.Module):
    def __init__(self, C, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.proj = (nn.Linear(C, C) for _ in range(4))

    def forward(self, x):
        return self.proj(attention(self.query(x), self.key(x), self.value(x), self.heads, True))


class MLPBlock(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, C, heads, vocab):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = nn.LayerNorm(C), Attn(C, heads), nn.LayerNorm(C), MLPBlock(C)
        self.head = nn.Linear(C, vocab)
        with torch.no_grad():  # non-trivial affine parameters so their use is tested
            for ln in (self.ln1, self.ln2):
                ln.weight.add_(0.3 * torch.randn(C))
                ln.bias.add_(0.2 * torch.randn(C))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return self.head(x)


def run_model(grp, model, x, targets):
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    save_model(grp, model, x, targets, loss, logits)


def op_case(grp, name, fn, inputs, **consts):
    """Store inputs, consts, y = fn(*inputs) and the input gradients for upstream gy."""
    g = grp.create_group(name)
    ins = [t.clone().requires_grad_(True) for t in inputs]
    y = fn(*ins)
    gy = torch.randn_like(y)
    y.backward(gy)
    for i, t in enumerate(ins):
        put(g, f"in{i}", t)
        put(g, f"grad{i}", t.grad)
    for k, t in consts.items():
        put(g, k, t)
    put(g, "y", y.reshape(-1))
    put(g, "gy", gy.reshape(-1))


def rope(x, heads, pos0, base):
    B, T, C = x.shape
    D = C // heads
    inv = base ** (-torch.arange(0, D, 2) / D)
    ang = (pos0 + torch.arange(T))[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    xh = x.view(B, T, heads, D)
    rot = torch.cat([-xh[..., D // 2:], xh[..., : D // 2]], -1)  # HF rotate_half
    return (xh * cos[None, :, None, :] + rot * sin[None, :, None, :]).reshape(B, T, C)


def main():
    with h5py.File(OUT, "w") as f:
        f.attrs["generator"] = "tests/ref/gen_parity.py"
        f.attrs["torch"] = str(torch.__version__)
        run_model(f.create_group("mlp"), MLP(), torch.randn(8, 12), torch.randint(0, 5, (8,)))
        tg = torch.randint(0, 7, (2, 5))
        tg[1, 2] = -100
        run_model(f.create_group("block"), Block(8, 2, 7), torch.randn(2, 5, 8), tg)

        ops = f.create_group("ops")
        mask = torch.randn(3, 5)
        op_case(ops, "softmax_mask_causal", lambda x: (x + mask).masked_fill(
            ~torch.ones(3, 5).tril(2).bool(), float("-inf")).softmax(-1), [torch.randn(2, 3, 5)], mask=mask)
        op_case(ops, "attention_cross", lambda q, k, v: attention(q, k, v, 3, False),
                [torch.randn(2, 3, 9), torch.randn(2, 4, 9), torch.randn(2, 4, 9)])
        op_case(ops, "attention_causal_cache", lambda q, k, v: attention(q, k, v, 2, True),
                [torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)])
        op_case(ops, "rope_pos5", lambda x: rope(x, 2, 5, 10000.0), [torch.randn(2, 3, 12)])
        op_case(ops, "layernorm_plain", lambda x: F.layer_norm(x, (7,), eps=1e-5), [torch.randn(3, 2, 7) * 2 + 1])
        ce_t = torch.randint(0, 6, (2, 4))
        ce_t[0, 1] = 3
        ce_t[1, 3] = 3
        op_case(ops, "cross_entropy_ignore", lambda x: F.cross_entropy(x.reshape(8, 6), ce_t.reshape(8),
                ignore_index=3).reshape(1), [torch.randn(2, 4, 6)], targets=ce_t)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
