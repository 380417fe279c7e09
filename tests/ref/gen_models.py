#!/usr/bin/python3
"""Write tests/ref/models.h5: PyTorch reference values for tests/test_model_parity.c.

Run with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_models.py
The two language models of models/ (gpt, transformer) are rebuilt here as plain PyTorch modules
whose parameter names are the C names, with dropout 0. Everything is computed in float64 and
stored as float32 (tokens and flags as int32).

Tiny configuration of both: vocabulary 11, width 16, 2 heads, 2 layers, block 8, batch 3
(transformer: feed-forward 24).

Each group (gpt/, transformer/) holds:
  tokens        (3, 9) token windows; inputs are tokens[:, :8], targets tokens[:, 1:]
  params/<name> initial parameters (random, biases and layernorms included, so every use is tested)
  decay/<name>  1 if the optimizer applies weight decay to the parameter, else 0
  loss (1), logits (3, 8, 11), grad/<name>: the first forward / backward
  lr (3), losses (3): learning rate and loss of each of 3 optimizer steps on the same batch
                (clip_grad_norm, then the preset's optimizer)
  step3/<name>  parameters after the 3 steps
gpt: AdamW lr 3e-4, betas (0.9, 0.95), weight decay 10 on linear weights only, clip 0.5 (the preset's 0.1
     would change a weight by 9e-5 of itself over 3 steps, below the test's 1e-4 tolerance: 10 makes a
     wrong decay visible, 9e-3 of each decayed weight).
transformer: Adam lr 1e-4 (betas 0.9, 0.999), linear warm-up (1 update) then cosine decay over
3 updates exactly as src/nn_sched.c, clip 5.
"""
import math
import os
import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models.h5")
V, C, HEADS, LAYERS, BLOCK, BATCH, FFN, STEPS = 11, 16, 2, 2, 8, 3, 24, 3


def put(grp, name, t):
    t = torch.as_tensor(t).detach()
    grp.create_dataset(name, data=(t.to(torch.int32) if not t.is_floating_point() else t.float()).numpy())


def attention(q, k, v, heads):
    """Causal multi-head attention with an explicit softmax; q, k, v (B, T, C), head h on columns h*D.."""
    B, T, Cw = q.shape
    D = Cw // heads
    qh, kh, vh = (z.view(B, T, heads, D).transpose(1, 2) for z in (q, k, v))
    att = qh @ kh.transpose(-2, -1) / math.sqrt(D)
    att = att.masked_fill(~torch.ones(T, T).tril().bool(), float("-inf"))
    return (att.softmax(-1) @ vh).transpose(1, 2).reshape(B, T, Cw)


def rope(x, heads, base=10000.0):
    """Rotary embedding, rotate-half (GPT-NeoX) convention: per head x1, x2 = halves,
    out = (x1 cos - x2 sin, x2 cos + x1 sin), angle t * base^(-2i/D)."""
    B, T, Cw = x.shape
    D = Cw // heads
    inv = base ** (-torch.arange(0, D, 2) / D)
    ang = torch.arange(T)[:, None] * inv[None, :]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xh = x.view(B, T, heads, D)
    x1, x2 = xh[..., : D // 2], xh[..., D // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).reshape(B, T, Cw)


class Attn(nn.Module):
    def __init__(self, width, heads, bias, rotary):
        super().__init__()
        self.heads, self.rotary = heads, rotary
        self.query, self.key, self.value, self.proj = (nn.Linear(width, width, bias=bias) for _ in range(4))

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        if self.rotary:
            q, k = rope(q, self.heads), rope(k, self.heads)
        return self.proj(attention(q, k, v, self.heads))


class GPTBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = Attn(C, HEADS, True, False)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C), nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """minGPT: models/gpt.c."""

    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Parameter(0.02 * torch.randn(1, BLOCK, C))
        self.blocks = nn.ModuleList(GPTBlock() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb[:, : idx.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1, self.w2, self.w3 = nn.Linear(C, FFN, bias=False), nn.Linear(C, FFN, bias=False), nn.Linear(FFN, C, bias=False)

    def forward(self, x):
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


class TFLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = Attn(C, HEADS, False, True)
        self.ffn = SwiGLU()

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class AdaptiveEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 4 * C)
        self.proj = nn.Linear(4 * C, C, bias=False)

    def forward(self, idx):
        return self.proj(self.emb(idx))


class Transformer(nn.Module):
    """The character Transformer: models/transformer.c."""

    def __init__(self):
        super().__init__()
        self.embed = AdaptiveEmbedding()
        self.layers = nn.ModuleList(TFLayer() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(C)
        self.out = nn.Linear(C, V)

    def forward(self, idx):
        x = self.embed(idx)
        for layer in self.layers:
            x = layer(x)
        return self.out(self.ln_f(x))


def perturb(model):
    """Non-trivial layernorms and biases, so that every parameter's use is tested."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(0.3 * torch.randn(C))
                m.bias.add_(0.2 * torch.randn(C))
            elif isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.normal_(0, 0.1)


def loss_of(model, tokens):
    logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1)), logits


def run(grp, model, decayed, optimizer, clip, lrs):
    """Store the initial state, the first forward/backward, then STEPS optimizer steps."""
    perturb(model)
    tokens = torch.randint(0, V, (BATCH, BLOCK + 1))
    put(grp, "tokens", tokens)
    for name, p in model.named_parameters():
        put(grp, "params/" + name, p)
        put(grp, "decay/" + name, torch.tensor([int(name in decayed)]))
    loss, logits = loss_of(model, tokens)
    loss.backward()
    put(grp, "loss", loss.reshape(1))
    put(grp, "logits", logits)
    for name, p in model.named_parameters():
        put(grp, "grad/" + name, p.grad)
    losses = []
    for s in range(STEPS):
        model.zero_grad()
        loss, _ = loss_of(model, tokens)
        loss.backward()
        losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for gr in optimizer.param_groups:
            gr["lr"] = lrs[s]
        optimizer.step()
    put(grp, "lr", torch.tensor(lrs))
    put(grp, "losses", torch.tensor(losses))
    for name, p in model.named_parameters():
        put(grp, "step3/" + name, p)


def warmup_cosine(base, warmup, total, step, min_lr=0.0):
    """src/nn_sched.c NN_SCHED_WARMUP_COSINE."""
    if step < warmup:
        return base * (step + 1) / warmup
    prog = min((step - warmup) / (total - warmup), 1.0)
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * prog))


GPT_WD = 10.0  # tests/test_model_parity.c sets --weight-decay 10 for gpt


def main():
    with h5py.File(OUT, "w") as f:
        f.attrs["generator"] = "tests/ref/gen_models.py"
        f.attrs["torch"] = str(torch.__version__)

        gpt = GPT()
        decayed = {n for n, p in gpt.named_parameters()
                   if n.endswith(".weight") and p.dim() == 2 and not n.startswith("tok_emb")}
        groups = [{"params": [p for n, p in gpt.named_parameters() if n in decayed], "weight_decay": GPT_WD},
                  {"params": [p for n, p in gpt.named_parameters() if n not in decayed], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95))
        run(f.create_group("gpt"), gpt, decayed, opt, 0.5, [3e-4] * STEPS)

        tf = Transformer()
        decayed = {n for n, p in tf.named_parameters() if n.endswith(".weight") and p.dim() == 2
                   and not n.startswith("embed.emb")}
        opt = torch.optim.Adam(tf.parameters(), lr=1e-4)
        lrs = [warmup_cosine(1e-4, 1, STEPS, s) for s in range(STEPS)]
        run(f.create_group("transformer"), tf, decayed, opt, 5.0, lrs)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
