/* attn_data: convert public datasets to sharded HDF5, print what a dataset holds, verify every shard. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ds_convert.h"

static const char *const usage =
    "usage: attn_data convert idx|cifar10|images|text|pairs INPUT... --out DIR [options]\n"
    "       attn_data info DIR\n"
    "       attn_data verify DIR\n"
    "\n"
    "convert  write a sharded HDF5 dataset (datasets/FORMAT.md); the output appears atomically\n"
    "  idx      MNIST / Fashion-MNIST IDX files, gzip or raw, or the directory holding them\n"
    "           (e.g. /usr/share/datasets/fashion-mnist): splits train and test\n"
    "  cifar10  CIFAR-10 binary batches data_batch_1..5.bin, test_batch.bin, or their directory\n"
    "  images   an image-folder tree DIR: DIR/train/<class>/*.png|jpg, DIR/val/<class>/..., DIR/test/...\n"
    "           (classes sorted by name; 3 channels unless every image is grayscale)\n"
    "  text     UTF-8 text files: a character-level token stream; the tail is split val\n"
    "  pairs    tab-separated sentence pairs (source, target; extra columns ignored), normalised\n"
    "           as in the PyTorch translation tutorial; vocabularies from the train split\n"
    "options:\n"
    "  --out DIR             output directory (required)\n"
    "  --shards N            shards of the train split (default 1; smaller splits get fewer)\n"
    "  --val-fraction F      hold out F of train as split val (default: idx/cifar10 0, text/pairs 0.1)\n"
    "  --seed S              which examples go to val (default 0)\n"
    "  --max-len N           pairs: keep sentences of fewer than N words (default 10; 0 = no limit)\n"
    "  --prefixes FILE       pairs: keep pairs whose normalised source starts with a line of FILE\n"
    "  --class-names A,B,..  idx/cifar10: class names (default: from the input)\n"
    "  --classes LIST        idx/cifar10/images: keep these classes only (0-4, 5,7,9), relabelled 0..k-1\n"
    "  --size S              images: resize every image to S x S (bilinear); default: all must agree\n"
    "  --compress            chunked + deflate shards (default: contiguous, uncompressed)\n"
    "  --force               replace a non-empty output directory\n"
    "  --quiet               no progress lines\n"
    "info     print the kind, metadata and splits of a dataset\n"
    "verify   check every shard of every split (same dataset id, counts add up, none missing,\n"
    "         every example readable and in range)\n";

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* Progress: one line per stage on stderr, at most every 2 s within a stage; cancels after a signal. */
static int progress(void *ctx, const char *what, int64_t done, int64_t total) {
  static char last[256];
  static time_t last_t;
  time_t now = time(NULL);
  if (!ctx && (strcmp(last, what) || now - last_t >= 2)) {
    fprintf(stderr, "attn_data: %s (%lld/%lld)\n", what, (long long)done, (long long)total);
    snprintf(last, sizeof last, "%s", what);
    last_t = now;
  }
  return interrupted != 0;
}

static int fail(const char *msg) {
  fprintf(stderr, "attn_data: %s\n", msg);
  return 1;
}

static int bad_usage(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "attn_data: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, " (see attn_data --help)\n");
  return 2;
}

/* Parse a whole-string integer in [lo, hi]. */
static int parse_int(const char *s, long long lo, long long hi, long long *v) {
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return !*s || *end || errno || *v < lo || *v > hi;
}

static const char *const kinds[] = {"idx", "cifar10", "text", "pairs", "images"};
#define NKINDS 5
#define IS_IMAGES(k) ((k) <= 1 || (k) == 4)

/* Parse `convert KIND ...` into o and inputs (argc entries); 0, or the exit code of a usage error. */
static int parse_convert(int argc, char **argv, int kind, struct ds_convert_opts *out, const char **inputs, int *ninputs) {
  struct ds_convert_opts o = {.val_fraction = -1, .max_len = -1, .w = {.shards = 1, .progress = progress}};
  int quiet = 0;
  *ninputs = 0;
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i], *val = NULL;
    char flag[64];
    if (strncmp(a, "--", 2)) {
      inputs[(*ninputs)++] = a;
      continue;
    }
    const char *eq = strchr(a, '=');
    snprintf(flag, sizeof flag, "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
    int boolean = !strcmp(flag, "--compress") || !strcmp(flag, "--force") || !strcmp(flag, "--quiet");
    static const char *const valued[] = {"--out", "--shards", "--val-fraction", "--seed", "--max-len", "--prefixes",
                                         "--class-names", "--classes", "--size"};
    int known = boolean;
    for (int k = 0; k < 9; k++) known |= !strcmp(flag, valued[k]);
    if (!known) return bad_usage("unknown flag '%s'%s", flag, "");
    if (boolean) {
      if (eq) return bad_usage("%s takes no value%s", flag, "");
      if (!strcmp(flag, "--compress")) o.w.compress = 1;
      else if (!strcmp(flag, "--force")) o.w.force = 1;
      else quiet = 1;
      continue;
    }
    val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) return bad_usage("%s needs a value%s", flag, "");
    long long v;
    char *end;
    if (!strcmp(flag, "--out")) o.out = val;
    else if (!strcmp(flag, "--prefixes")) o.prefixes = val;
    else if (!strcmp(flag, "--class-names")) o.class_names = val;
    else if (!strcmp(flag, "--classes")) o.classes = val;
    else if (!strcmp(flag, "--size")) {
      if (parse_int(val, 1, 4096, &v)) return bad_usage("--size: '%s' is not a whole number in 1..4096%s", val, "");
      o.size = v;
    }
    else if (!strcmp(flag, "--shards")) {
      if (parse_int(val, 1, 99999, &v)) return bad_usage("--shards: '%s' is not a whole number in 1..99999%s", val, "");
      o.w.shards = (int)v;
    } else if (!strcmp(flag, "--seed")) {
      if (parse_int(val, 0, 0x7fffffffffffffffLL, &v)) return bad_usage("--seed: '%s' is not a non-negative integer%s", val, "");
      o.seed = (uint64_t)v;
    } else if (!strcmp(flag, "--max-len")) {
      if (parse_int(val, 0, 1 << 20, &v)) return bad_usage("--max-len: '%s' is not a whole number in 0..1048576%s", val, "");
      o.max_len = v;
    } else {
      errno = 0;
      o.val_fraction = strtod(val, &end);
      if (!*val || *end || errno || !(o.val_fraction >= 0 && o.val_fraction < 1))
        return bad_usage("--val-fraction: '%s' is not a number in [0, 1)%s", val, "");
    }
  }
  if (!o.out) return bad_usage("convert %s: --out DIR is required%s", kinds[kind], "");
  if (!*ninputs) return bad_usage("convert %s: no INPUT given%s", kinds[kind], "");
  if (o.max_len >= 0 && kind != 3) return bad_usage("--max-len applies to convert pairs only%s%s", "", "");
  if (o.prefixes && kind != 3) return bad_usage("--prefixes applies to convert pairs only%s%s", "", "");
  if (o.class_names && kind > 1) return bad_usage("--class-names applies to convert idx and cifar10 only%s%s", "", "");
  if (o.classes && !IS_IMAGES(kind)) return bad_usage("--classes applies to convert idx, cifar10 and images only%s%s", "", "");
  if (o.size && kind != 4) return bad_usage("--size applies to convert images only%s%s", "", "");
  o.w.ctx = quiet ? (void *)1 : NULL;
  *out = o;
  return 0;
}

static int cmd_convert(int argc, char **argv) {
  nn_status (*const fns[])(const char *const *, int, const struct ds_convert_opts *) = {
      ds_convert_idx, ds_convert_cifar10, ds_convert_text, ds_convert_pairs, ds_convert_images};
  if (argc < 3) return bad_usage("convert: which format? (%s%s)", "idx, cifar10, images, text, pairs", "");
  int kind = -1, ninputs;
  for (int k = 0; k < NKINDS; k++)
    if (!strcmp(argv[2], kinds[k])) kind = k;
  if (kind < 0) return bad_usage("convert: unknown input format '%s' (%s)", argv[2], "idx, cifar10, images, text, pairs");
  struct ds_convert_opts o;
  const char **inputs = calloc((size_t)argc, sizeof *inputs);
  if (!inputs) return fail("out of memory");
  int rc = parse_convert(argc, argv, kind, &o, inputs, &ninputs);
  if (rc == 0) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = fns[kind](inputs, ninputs, &o) != NN_OK ? fail(nn_errmsg()) : 0;
    if (rc == 0 && !o.w.ctx) fprintf(stderr, "attn_data: wrote %s\n", o.out);
  }
  free(inputs);
  return rc;
}

/* Print a vocabulary entry readably (control characters escaped). */
static void print_token(const char *t) {
  putchar('\'');
  for (; *t; t++) {
    if (*t == '\n') fputs("\\n", stdout);
    else if (*t == '\t') fputs("\\t", stdout);
    else if (*t == '\r') fputs("\\r", stdout);
    else if ((unsigned char)*t < 0x20) printf("\\x%02x", *t);
    else putchar(*t);
  }
  putchar('\'');
}

static void print_list(const char *label, char **v, int n, int max) {
  printf("%-10s%d:", label, n);
  for (int i = 0; i < n && i < max; i++) {
    putchar(' ');
    print_token(v[i]);
  }
  printf("%s\n", n > max ? " ..." : "");
}

static void print_meta(const struct ds_meta *m) {
  printf("%-10s%s\n%-10s%s\n", "id", m->id, "kind", ds_kind_name(m->kind));
  if (m->kind == DS_IMAGE) {
    printf("%-10suint8 %lld x %lld x %lld (C x H x W), int32 labels\n", "images", (long long)m->c, (long long)m->h, (long long)m->w);
    print_list("classes", m->class_names, m->nclasses, 100);
    if (m->has_norm) {
      printf("%-10s", "mean/std");
      for (int64_t k = 0; k < m->c; k++) printf("%s%.4f/%.4f", k ? ", " : "", m->mean[k], m->std[k]);
      printf(" (per channel, of pixels/255 over train)\n");
    }
  } else if (m->kind == DS_FEATURES) {
    printf("%-10sfloat32 %lld (layer %s), int32 labels\n", "features", (long long)m->feature_dim, m->layer);
    print_list("classes", m->class_names, m->nclasses, 100);
  } else if (m->kind == DS_TEXT) {
    print_list("vocab", m->vocab, m->vocab_size, 100);
  } else {
    print_list("src vocab", m->src_vocab, m->src_vocab_size, 20);
    print_list("tgt vocab", m->tgt_vocab, m->tgt_vocab_size, 20);
    printf("%-10spad %d, sos %d, eos %d, unk %d; max_len %lld tokens (EOS included)\n", "special", m->pad_id,
           m->sos_id, m->eos_id, m->unk_id, (long long)m->max_len);
  }
}

/* info (verify = 0) or verify (1) of dataset directory dir. */
static int cmd_inspect(int argc, char **argv, int verify) {
  if (argc != 3) return bad_usage("%s takes one DIR%s", argv[1], "");
  const char *dir = argv[2];
  char names[DS_MAX_SPLITS][16];
  int n;
  if (ds_list_splits(dir, names, DS_MAX_SPLITS, &n) != NN_OK) return fail(nn_errmsg());
  if (n == 0) {
    fprintf(stderr, "attn_data: %s: no dataset shards here (expected files like train-00000-of-00001.h5)\n", dir);
    return 1;
  }
  if (!verify) printf("%-10s%s\n%-10s%s version %d\n", "dataset", dir, "format", DS_FORMAT_NAME, DS_FORMAT_VERSION);
  int64_t shards = 0;
  for (int i = 0; i < n; i++) {
    struct ds_reader *r;
    if (ds_open(&r, dir, names[i]) != NN_OK) return fail(nn_errmsg());
    const struct ds_meta *m = ds_get_meta(r);
    if (!verify && i == 0) print_meta(m);
    nn_status s = verify ? ds_verify_split(r, progress, NULL) : NN_OK;
    if (s == NN_OK)
      printf("%-10s%-6s %10lld %s in %d shard%s, %.1f MB%s\n", "split", m->split, (long long)m->count,
             m->kind == DS_TEXT ? "tokens" : "examples", m->nshards, m->nshards > 1 ? "s" : "",
             (double)ds_reader_bytes(r) / 1e6, verify ? ": OK" : "");
    shards += m->nshards;
    ds_close(r);
    if (s != NN_OK) return fail(nn_errmsg());
  }
  if (verify) printf("%s: OK (%d splits, %lld shards)\n", dir, n, (long long)shards);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 0;
    }
  if (!strcmp(cmd, "convert")) return cmd_convert(argc, argv);
  if (!strcmp(cmd, "info")) return cmd_inspect(argc, argv, 0);
  if (!strcmp(cmd, "verify")) return cmd_inspect(argc, argv, 1);
  return bad_usage("unknown command '%s' (convert, info, verify)%s", cmd, "");
}
