#!/usr/bin/python3
"""Reference fixture for tests/test_ckpt.c (--init-from): the state_dict of a tiny PyTorch module
written as one HDF5 dataset per dotted name, as a user would export a PyTorch model for attn_train.

Run from anywhere with Debian's python3-torch and python3-h5py:  /usr/bin/python3 tests/ref/gen_state_dict.py
Writes tests/ref/state_dict.h5: datasets "emb.weight", "enc.0.weight", ..., "bn.num_batches_tracked"
(int64, no attn_train counterpart), root attribute "source". The module is mirrored in
tests/test_ckpt.c (declare_tiny) with nn_declare_embedding / _linear / _layernorm / _conv2d.
"""
import os

import h5py
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 8)
        self.enc = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
        self.ln = nn.LayerNorm(8)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(8, 5)


def main():
    torch.manual_seed(0)
    m = Tiny()
    with torch.no_grad():  # non-default values everywhere, so a skipped copy is visible
        for t in m.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "state_dict.h5")
    with h5py.File(out, "w") as f:
        f.attrs["source"] = "tests/ref/gen_state_dict.py"
        for name, t in m.state_dict().items():
            f.create_dataset(name, data=t.detach().cpu().numpy())
    print("wrote", out)


if __name__ == "__main__":
    main()
