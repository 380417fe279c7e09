#!/usr/bin/python3
"""Write tests/ref/rnn.h5: PyTorch reference values for tests/test_layers.c (the recurrent layers
nn_lstm / nn_gru of src/nn_layers.c against torch.nn.LSTM / torch.nn.GRU with copied weights).

Run with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_rnn.py
Computed in float64, stored as float32. batch_first=True, dropout 0 (the C test checks the
inter-layer dropout on its own).

One group per case (lstm_bi, lstm_uni, gru_bi, gru_uni), each holding:
  config        int32 [input, hidden, layers, bidirectional, bias, has_h0, batch, time]
  x             (B, T, input) input
  h0, c0        (layers*dirs, B, hidden) initial states (only when has_h0; c0 for the LSTM)
  params/<name> the module's parameters under its own names (weight_ih_l0, ..., *_reverse)
  y             (B, T, dirs*hidden) output; hn, cn (layers*dirs, B, hidden) final states
  ry, rh, rc    random weights of the loss  L = sum(y*ry) + sum(hn*rh) [+ sum(cn*rc)]
  grad/x, grad/h0, grad/c0, grad/<name>: dL/d of each input and parameter
  order         int32 character codes of "name,name,..." (PyTorch's named_parameters order)
"""
import os
import h5py
import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn.h5")

# name, module, input, hidden, layers, bidirectional, bias, initial state given, batch, time
CASES = [
    ("lstm_bi", torch.nn.LSTM, 5, 4, 2, True, True, True, 3, 6),
    ("lstm_uni", torch.nn.LSTM, 3, 6, 1, False, False, False, 2, 5),
    ("gru_bi", torch.nn.GRU, 5, 4, 2, True, True, True, 3, 6),
    ("gru_uni", torch.nn.GRU, 4, 3, 3, False, True, False, 2, 7),
]


def put(grp, name, t):
    t = torch.as_tensor(t).detach()
    grp.create_dataset(name, data=(t.to(torch.int32) if not t.is_floating_point() else t.float()).numpy())


def main():
    with h5py.File(OUT, "w") as f:
        for name, cls, I, H, L, bi, bias, has_h0, B, T in CASES:
            g = f.create_group(name)
            lstm = cls is torch.nn.LSTM
            D = 2 if bi else 1
            m = cls(I, H, num_layers=L, bias=bias, batch_first=True, bidirectional=bi)
            with torch.no_grad():  # the default init is U(+-1/sqrt(H)); widen it so every path matters
                for p in m.parameters():
                    p.uniform_(-0.6, 0.6)
            x = torch.randn(B, T, I, requires_grad=True)
            h0 = torch.randn(L * D, B, H, requires_grad=True) if has_h0 else None
            c0 = torch.randn(L * D, B, H, requires_grad=True) if has_h0 and lstm else None
            if lstm:
                y, (hn, cn) = m(x, (h0, c0)) if has_h0 else m(x)
            else:
                y, hn = m(x, h0) if has_h0 else m(x)
                cn = None
            ry, rh = torch.randn_like(y), torch.randn_like(hn)
            loss = (y * ry).sum() + (hn * rh).sum()
            if lstm:
                rc = torch.randn_like(cn)
                loss = loss + (cn * rc).sum()
            loss.backward()
            put(g, "config", torch.tensor([I, H, L, int(bi), int(bias), int(has_h0), B, T]))
            put(g, "x", x)
            put(g, "grad/x", x.grad)
            for k, t in (("h0", h0), ("c0", c0)):
                if t is not None:
                    put(g, k, t)
                    put(g, "grad/" + k, t.grad)
            for k, p in m.named_parameters():
                put(g, "params/" + k, p)
                put(g, "grad/" + k, p.grad)
            put(g, "y", y)
            put(g, "hn", hn)
            put(g, "ry", ry)
            put(g, "rh", rh)
            if lstm:
                put(g, "cn", cn)
                put(g, "rc", rc)
            # PyTorch's parameter order, to check the C declaration order against
            put(g, "order", torch.tensor(list(",".join(k for k, _ in m.named_parameters()).encode())))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
