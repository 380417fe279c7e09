"""raw_near.py A B TOTAL TRAINABLE: the params, opt_m and opt_v parts of two `attn_train ckpt raw`
dumps agree to 1e-6 of each buffer's largest magnitude (used by tests/e2e_zero*.sh)."""
import sys, numpy as np
a, b = np.fromfile(sys.argv[1], np.float32), np.fromfile(sys.argv[2], np.float32)
total, tr = int(sys.argv[3]), int(sys.argv[4])
assert a.size == b.size == total + 2 * tr, (a.size, b.size, total, tr)
ok = True
for name, lo, hi in (("params", 0, total), ("opt_m", total, total + tr), ("opt_v", total + tr, total + 2 * tr)):
    x, y = a[lo:hi].astype(np.float64), b[lo:hi].astype(np.float64)
    worst = float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-30))
    print(f"  {name}: max difference {worst:.2e} of the largest magnitude ({hi - lo} floats)")
    ok = ok and worst <= 1e-6 and np.abs(x).max() > 0
sys.exit(0 if ok else 1)
