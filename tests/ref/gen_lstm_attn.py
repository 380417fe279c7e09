#!/usr/bin/python3
"""Write tests/ref/lstm_attn.h5: PyTorch reference values for tests/test_lstm_attn.c (the whole
--model lstm-attn of models/lstm_attn.c: forward and backward).

Run with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_lstm_attn.py
The model as a PyTorch module whose parameter names are the C names: one-hot characters ->
torch.nn.LSTM (batch_first) -> single-head self-attention over its outputs with learned
query/key/value/output projections (scale 1/sqrt(width); causal unless bidirectional) -> Linear
to the vocabulary; loss = mean cross-entropy of the next character. Dropout 0, float64, stored
as float32 (tokens as int32).

One group per case: uni (2 layers, forward LSTM, causal attention) and bi (2 layers, the chapter's
bidirectional LSTM, full attention), each holding:
  config        int32 [vocab, hidden, layers, bidirectional, block, batch]
  tokens        (batch, block+1) windows: inputs tokens[:, :block], targets tokens[:, 1:]
  params/<name> the parameters (PyTorch's default init widened to U(-0.5, 0.5) so every path matters)
  loss (1), logits (batch, block, vocab), grad/<name>: d loss / d parameter
"""
import math
import os
import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lstm_attn.h5")
V, H, LAYERS, BLOCK, BATCH = 7, 5, 2, 6, 3


class Attn(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.query, self.key, self.value, self.proj = (nn.Linear(w, w) for _ in range(4))

    def forward(self, x, causal):
        q, k, v = self.query(x), self.key(x), self.value(x)
        s = q @ k.transpose(1, 2) / math.sqrt(x.shape[-1])
        if causal:
            T = x.shape[1]
            s = s.masked_fill(~torch.ones(T, T).tril().bool(), float("-inf"))
        return self.proj(s.softmax(-1) @ v)


class LstmAttn(nn.Module):
    def __init__(self, bi):
        super().__init__()
        self.bi = bi
        w = (2 if bi else 1) * H
        self.lstm = nn.LSTM(V, H, num_layers=LAYERS, batch_first=True, bidirectional=bi)
        self.attn = Attn(w)
        self.out = nn.Linear(w, V)

    def forward(self, ids):
        y, _ = self.lstm(F.one_hot(ids, V).double())
        return self.out(self.attn(y, causal=not self.bi))


def put(grp, name, t):
    t = torch.as_tensor(t).detach()
    grp.create_dataset(name, data=(t.to(torch.int32) if not t.is_floating_point() else t.float()).numpy())


with h5py.File(OUT, "w") as f:
    for name, bi in (("uni", False), ("bi", True)):
        g = f.create_group(name)
        m = LstmAttn(bi)
        with torch.no_grad():
            for p in m.parameters():
                p.uniform_(-0.5, 0.5)
        tokens = torch.randint(0, V, (BATCH, BLOCK + 1))
        logits = m(tokens[:, :BLOCK])
        loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        loss.backward()
        put(g, "config", torch.tensor([V, H, LAYERS, int(bi), BLOCK, BATCH]))
        put(g, "tokens", tokens)
        put(g, "loss", loss.reshape(1))
        put(g, "logits", logits)
        for k, p in m.named_parameters():
            put(g, "params/" + k, p)
            put(g, "grad/" + k, p.grad)
        print(f"{name}: loss {loss.item():.6f}, {len(list(m.parameters()))} parameters")
print("wrote", OUT)
