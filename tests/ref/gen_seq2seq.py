#!/usr/bin/python3
"""Write tests/ref/seq2seq.h5: PyTorch reference values for tests/test_seq2seq.c (models/seq2seq.c).

Run with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_seq2seq.py
The model is written out with torch ops (torch.nn.GRU's formulas, explicit attention) in float64,
stored as float32; dropout 0, teacher forcing ratio 1.

  params/<name>   the model's parameters under models/seq2seq.c's names
  src, tgt        int32 (B, L) pairs as the dataset stores them: ids, EOS (2), PAD (0) after
  loss            mean cross-entropy over the non-PAD target tokens (teacher forcing 1)
  grad/<name>     d loss / d parameter
  dec/src         int32 one source sentence (EOS included, no padding)
  dec/prefix      int32 decoder inputs SOS, y1, y2
  dec/logits      (1, 3, Vt) the decoder's logits for the prefix (the attention step over the
                  encoder states of dec/src, from the encoder's final state)
"""
import math
import os
import h5py
import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seq2seq.h5")
VS, VT, H, HEADS, L, B = 9, 7, 8, 2, 5, 3
PAD, SOS, EOS = 0, 1, 2

shapes = {}
def lin(name, i, o, bias=True):
    shapes[name + ".weight"] = (o, i)
    if bias:
        shapes[name + ".bias"] = (o,)
def gru(name):
    for k in ("weight_ih_l0", "weight_hh_l0"):
        shapes[f"{name}.{k}"] = (3 * H, H)
    for k in ("bias_ih_l0", "bias_hh_l0"):
        shapes[f"{name}.{k}"] = (3 * H,)
shapes["encoder.embed.weight"] = (VS, H)
shapes["encoder.pos.weight"] = (L, H)
for p in ("query", "key", "value", "proj"):
    lin("encoder.attn." + p, H, H)
gru("encoder.gru")
shapes["decoder.embed.weight"] = (VT, H)
gru("decoder.gru")
lin("decoder.attn", H, H, bias=False)
lin("decoder.concat", 2 * H, H)
lin("decoder.out", H, VT)
P = {k: (torch.randn(*s) * 0.5).requires_grad_() for k, s in shapes.items()}

def linear(x, name):
    y = x @ P[name + ".weight"].T
    return y + P[name + ".bias"] if name + ".bias" in P else y

def run_gru(name, x, h0):
    """torch.nn.GRU's formulas (gates r, z, n), batch_first, one layer; returns (y, hn)."""
    wi, wh = P[name + ".weight_ih_l0"], P[name + ".weight_hh_l0"]
    bi, bh = P[name + ".bias_ih_l0"], P[name + ".bias_hh_l0"]
    h, ys = h0[0], []
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ wi.T + bi, h @ wh.T + bh
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys, 1), h.unsqueeze(0)

def attention(q, k, v, heads, kmask):
    Bq, T, C = q.shape
    S, D = k.shape[1], C // heads
    qh = q.view(Bq, T, heads, D).transpose(1, 2)
    kh = k.view(Bq, S, heads, D).transpose(1, 2)
    vh = v.view(Bq, S, heads, D).transpose(1, 2)
    sc = qh @ kh.transpose(-1, -2) / math.sqrt(D)
    sc = sc.masked_fill(kmask[:, None, None, :] == 0, float("-inf"))
    return (torch.softmax(sc, -1) @ vh).transpose(1, 2).reshape(Bq, T, C)

def encode(src, kmask, last):
    S = src.shape[1]
    x = P["encoder.embed.weight"][src] + P["encoder.pos.weight"][torch.arange(S)]
    a = attention(linear(x, "encoder.attn.query"), linear(x, "encoder.attn.key"), linear(x, "encoder.attn.value"),
                  HEADS, kmask)
    x = x + linear(a, "encoder.attn.proj")
    enc, _ = run_gru("encoder.gru", x, torch.zeros(1, src.shape[0], H))
    h0 = enc[torch.arange(src.shape[0]), last].unsqueeze(0)
    return enc, h0

def decode(enc, kmask, h, ids):
    y, hn = run_gru("decoder.gru", P["decoder.embed.weight"][ids], h)
    c = attention(linear(y, "decoder.attn"), enc, enc, 1, kmask)
    ht = torch.tanh(linear(torch.cat([c, y], 2), "decoder.concat"))
    return linear(ht, "decoder.out"), hn

# a batch: source lengths 5 (full), 3, 2; target lengths 4, 5, 1 (EOS included)
def sent(n, V):
    return torch.randint(4, V, (n - 1,)).tolist() + [EOS] + [PAD] * (L - n)
src = torch.tensor([sent(5, VS), sent(3, VS), sent(2, VS)])
tgt = torch.tensor([sent(4, VT), sent(5, VT), sent(1, VT)])
ns = (src != PAD).sum(1)
nt = (tgt != PAD).sum(1)
kmask = (src != PAD).double()
dec_in = torch.full((B, L), PAD)
targets = torch.full((B, L), -100)
for i in range(B):
    dec_in[i, 0] = SOS
    for j in range(1, nt[i]):
        dec_in[i, j] = tgt[i, j - 1]
    targets[i, :nt[i]] = tgt[i, :nt[i]]
enc, h0 = encode(src, kmask, ns - 1)
logits, _ = decode(enc, kmask, h0, dec_in)
loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VT), targets.reshape(-1), ignore_index=-100)
loss.backward()

# decoding: the second source sentence alone (no padding), prefix SOS y1 y2
dsrc = src[1:2, : ns[1]]
prefix = torch.tensor([[SOS, 4, 5]])
with torch.no_grad():
    denc, dh0 = encode(dsrc, torch.ones(1, dsrc.shape[1]), torch.tensor([dsrc.shape[1] - 1]))
    dlogits, _ = decode(denc, torch.ones(1, dsrc.shape[1]), dh0, prefix)

with h5py.File(OUT, "w") as f:
    f.attrs["config"] = [VS, VT, H, HEADS, L, B]
    for k, v in P.items():
        f.create_dataset("params/" + k, data=v.detach().float().numpy())
        f.create_dataset("grad/" + k, data=v.grad.float().numpy())
    f.create_dataset("src", data=src.int().numpy())
    f.create_dataset("tgt", data=tgt.int().numpy())
    f.create_dataset("loss", data=loss.detach().float().reshape(1).numpy())
    f.create_dataset("dec/src", data=dsrc.int().numpy())
    f.create_dataset("dec/prefix", data=prefix.int().numpy())
    f.create_dataset("dec/logits", data=dlogits.float().numpy())
print(f"wrote {OUT}: loss {loss.item():.6f}, {len(P)} parameters")
