"""Checks on a finished preemptible job (tests/slurm/slurm_preempt.sh), in one process:
  verify_run.py CKPT_DIR METRICS STEPS REF_EXPORT.h5 RUN_EXPORT.h5
- the checkpoint chain: latest -> step_<STEPS>; every step_* directory holds meta.h5 and rank
  shards whose datasets read back (HDF5 verifies their Fletcher32 checksums); nothing else left over;
- final parameters byte-equal to the uninterrupted run (both exported by `attn_train export`);
- metrics.jsonl: train steps 0..STEPS-1, each exactly once, in order.
Prints one line per failed check; exit status 1 if any failed."""
import glob, json, os, sys
import h5py

ckpt, metrics, steps, ref, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
bad = []

latest = os.readlink(os.path.join(ckpt, "latest")) if os.path.islink(os.path.join(ckpt, "latest")) else None
if latest != "step_%08d" % steps:
    bad.append("chain: latest -> %s, not step_%08d" % (latest, steps))
for name in sorted(os.listdir(ckpt)):
    d = os.path.join(ckpt, name)
    if name == "latest":
        continue
    if not (name.startswith("step_") and name[5:].isdigit() and os.path.isdir(d)):
        bad.append("chain: leftover %s" % name)
        continue
    files = glob.glob(os.path.join(d, "*.h5"))
    if not os.path.exists(os.path.join(d, "meta.h5")) or len(files) < 2:
        bad.append("chain: %s incomplete (%s)" % (name, sorted(os.path.basename(f) for f in files)))
    for f in files:
        try:
            with h5py.File(f, "r") as h:
                h.visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)
        except Exception as e:  # a damaged file or a checksum error
            bad.append("chain: %s: %s" % (f, e))


def datasets(path):
    out = {}
    with h5py.File(path, "r") as h:
        h.visititems(lambda n, o: out.__setitem__(n, o[()].tobytes()) if isinstance(o, h5py.Dataset) else None)
    return out


try:
    a, b = datasets(ref), datasets(run)
    if not a or sorted(a) != sorted(b):
        bad.append("parameters: different parameter sets")
    diff = [n for n in a if a[n] != b.get(n)]
    if diff:
        bad.append("parameters: %d differ from the uninterrupted run's: %s" % (len(diff), diff[:4]))
except Exception as e:
    bad.append("parameters: %s" % e)

try:
    got = [j["step"] for j in map(json.loads, open(metrics)) if j.get("split") == "train"]
    if got != list(range(steps)):
        dup = sorted({s for s in got if got.count(s) > 1})
        bad.append("metrics: %d train lines for %d steps; repeated %s; missing %s" % (
            len(got), steps, dup[:5], sorted(set(range(steps)) - set(got))[:5]))
except Exception as e:
    bad.append("metrics: %s" % e)

for b_ in bad:
    print("   " + b_)
sys.exit(1 if bad else 0)
