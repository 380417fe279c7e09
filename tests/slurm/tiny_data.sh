# Sourced by tests/slurm/*.sh: a generated character corpus (no dependency on /work/shared) and
# the tiny GPT the Slurm tests train on it ($GPT; add --steps etc.).
make_tiny_text() {
  /usr/bin/python3 - "$1.txt" <<'PY'
import random, sys
random.seed(3)
words = "the quick brown fox jumps over a lazy dog and then sleeps in the warm sun".split()
open(sys.argv[1], "w").write("\n".join(" ".join(random.choice(words) for _ in range(12)) for _ in range(3000)) + "\n")
PY
  "$BUILD/attn_data" convert text "$1.txt" --out "$1" >/dev/null 2>&1 || { echo "FAIL: attn_data convert text"; return 1; }
  GPT="--model gpt-small --data $1 --n-layer 2 --n-embd 64 --n-head 2 --block 64 --dropout 0.1 --batch 8 --eval-batches 1"
}
