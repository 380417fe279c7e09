#!/usr/bin/python3
"""Convert a torchvision ResNet (or any torch state_dict) to the HDF5 layout --init-from reads:
one float32 dataset per state_dict name ("conv1.weight", "layer1.0.bn1.running_mean", ...).

Usage:
  /usr/bin/python3 tools/torchvision_to_h5.py --arch resnet18 [--classes 10] [--stem cifar|imagenet]
        [--in-channels 3] [--weights FILE.pth] [--seed 0] OUT.h5
  /usr/bin/python3 tools/torchvision_to_h5.py --state-dict FILE.pth OUT.h5

--arch builds torchvision.models.<arch>(num_classes=--classes) (random init, seeded), loads
--weights (a state_dict saved with torch.save) when given, and applies --stem cifar (conv1 3x3
stride 1, no max-pool, as attn_train's --stem cifar) and --in-channels (conv1 for 1-channel
images). Every tensor is written as float32 (num_batches_tracked, an int64 counter, too: attn_train
keeps it as a float buffer).
Needs Debian's python3-torch, python3-torchvision and python3-h5py (make torch-deps).
"""
import argparse
import sys

import h5py
import torch


def build(arch, classes, stem, in_channels, weights, seed):
    import torchvision
    torch.manual_seed(seed)
    ctor = getattr(torchvision.models, arch, None)
    if ctor is None or not arch.startswith("resnet"):
        sys.exit(f"torchvision_to_h5: --arch {arch}: not a torchvision ResNet (resnet18, resnet34, resnet50, ...)")
    m = ctor(num_classes=classes)
    if weights:
        sd = torch.load(weights, map_location="cpu")
        m.load_state_dict(sd.get("state_dict", sd) if isinstance(sd, dict) else sd)
    if stem == "cifar":
        m.conv1 = torch.nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        m.maxpool = torch.nn.Identity()
    elif in_channels != 3:
        m.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    return m


def write(state_dict, out, source):
    n = 0
    with h5py.File(out, "w") as f:
        f.attrs["source"] = source
        for name, t in state_dict.items():
            f.create_dataset(name, data=t.detach().cpu().float().numpy())
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--arch")
    ap.add_argument("--state-dict")
    ap.add_argument("--weights")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--stem", choices=["cifar", "imagenet"], default="imagenet")
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if bool(a.arch) == bool(a.state_dict):
        sys.exit("torchvision_to_h5: give exactly one of --arch NAME or --state-dict FILE")
    if a.arch:
        sd = build(a.arch, a.classes, a.stem, a.in_channels, a.weights, a.seed).state_dict()
        source = f"torchvision {a.arch} classes={a.classes} stem={a.stem} in_channels={a.in_channels}"
    else:
        sd = torch.load(a.state_dict, map_location="cpu")
        sd = sd.get("state_dict", sd)
        source = a.state_dict
    n = write(sd, a.out, source)
    print(f"torchvision_to_h5: wrote {n} tensors to {a.out}")


if __name__ == "__main__":
    main()
