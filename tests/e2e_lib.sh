# tests/e2e_lib.sh: the common preamble of the end-to-end scripts, sourced first by each:
#   . "$(dirname "$0")/e2e_lib.sh"        (tests/slurm/*: "$(dirname "$0")/../e2e_lib.sh")
# Sets BUILD (ATTN_BUILD_DIR, else the current directory), SRC (ATTN_SOURCE_DIR, else the source tree),
# the Open MPI environment for root and oversubscription, a scratch directory T removed at exit (KEEP_T=DIR
# keeps one), TRAIN, DATA_BIN, MPI ("timeout 300 mpirun -q"; a script may set its own after sourcing), PY;
# the result counters and helpers ok / bad / check / e2e_skip / e2e_end; e2e_corpus, the generated text
# corpus several scripts train on; e2e_pairs, the toy sentence pairs of the translator's tests.
set -u
BUILD=${ATTN_BUILD_DIR:-$(pwd)}
SRC=$(cd "${ATTN_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
T=${KEEP_T:-$(mktemp -d)}; [ -n "${KEEP_T:-}" ] || trap 'rm -rf "$T"' EXIT
mkdir -p "$T"
TRAIN="$BUILD/attn_train"; DATA_BIN="$BUILD/attn_data"
MPI="timeout 300 mpirun -q"; PY=/usr/bin/python3
pass=0; fail=0
ok() { echo "ok   - $1"; pass=$((pass+1)); }
bad() { echo "FAIL - $1"; fail=$((fail+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
# a test that cannot run: one line saying what is missing, exit 77 (never for something `make deps` installs)
e2e_skip() { echo "SKIP: $*"; exit 77; }
# the last line of a script: "[NAME: ]P passed, F failed", exit status 0 only without failures
e2e_end() { echo "${1:+$1: }$pass passed, $fail failed"; [ "$fail" = 0 ]; }

# e2e_corpus FILE SEED LINES WORDS_PER_LINE "WORDS...": a text of LINES lines of WORDS_PER_LINE words drawn
# (Python's random, seeded) from WORDS
e2e_corpus() {
  $PY - "$@" <<'PY'
import random, sys
path, seed, lines, per, words = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split()
random.seed(seed)
open(path, "w").write("\n".join(" ".join(random.choice(words) for _ in range(per)) for _ in range(lines)) + "\n")
PY
}


# e2e_pairs PAIRS CORPUS REORDER: 400 tab-separated sentence pairs of a toy word-for-word English -> French
# (seed 7; REORDER=1 swaps the last two target words of sentences longer than 2) into PAIRS, and a
# 200-line English text into CORPUS (a dataset of another kind for the bad-input checks)
e2e_pairs() {
  $PY - "$@" <<'PY'
import random, sys
random.seed(7)
en = "i you he she we they see eat like want the a red big cat dog apple house".split()
fr = "je tu il elle nous ils vois mange aime veux le un rouge grand chat chien pomme maison".split()
d = dict(zip(en, fr))
rows = []
for _ in range(400):
    n = random.randint(2, 6)
    s = [random.choice(en) for _ in range(n)]
    t = [d[w] for w in s]
    if sys.argv[3] == "1" and n > 2: t[-1], t[-2] = t[-2], t[-1]  # some reordering
    rows.append(" ".join(s).capitalize() + " .\t" + " ".join(t).capitalize() + " .")
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
open(sys.argv[2], "w").write("to be or not to be that is the question\n" * 200)
PY
}
