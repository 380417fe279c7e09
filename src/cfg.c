#include "cfg.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg_key {
  const char *name;
  enum cfg_type type;
  size_t off, size;
  double lo, hi;      /* allowed range for numbers */
  const char *choices; /* allowed values for strings ("a|b|c"), or NULL */
  const char *def;
  const char *help;
};

#define FIELD(f) offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f)
#define S(f, ch, d, h) {#f, CFG_T_STR, FIELD(f), 0, 0, ch, d, h}
#define I(f, lo, hi, d, h) {#f, CFG_T_INT, FIELD(f), lo, hi, NULL, d, h}
#define F(f, lo, hi, d, h) {#f, CFG_T_FLOAT, FIELD(f), lo, hi, NULL, d, h}

static const struct cfg_key keys[] = {
    S(model, NULL, "", "model: cnn (see --help for the list)"),
    S(data, NULL, "", "dataset directory (attn_data convert ...)"),
    S(config, NULL, "", "config file of 'key = value' lines (flags override it)"),
    S(log_dir, NULL, "runs/latest", "directory for metrics.jsonl"),
    S(save_params, NULL, "", "write the final parameters to this HDF5 file (one dataset per parameter)"),
    S(ckpt_dir, NULL, "", "checkpoint directory (step_NNNNNNNN/ per checkpoint, latest -> newest)"),
    I(ckpt_every, 0, 1e15, "0", "steps between checkpoints (0 = only at the end and on SIGTERM/SIGUSR1)"),
    I(keep, 0, 1e9, "3", "checkpoints to keep (0 = all)"),
    S(resume, NULL, "", "resume from 'auto' (newest complete checkpoint of --ckpt-dir) or a checkpoint path"),
    S(stop_file, NULL, "", "when this file exists (checked by rank 0 every step), checkpoint and exit 3, as on SIGUSR1"),
    S(init_from, NULL, "", "initialise matching parameters (same name and shape) from an HDF5 file"),
    S(freeze, NULL, "", "comma-separated name prefixes of parameters to freeze (no gradient, no update)"),
    I(batch, 0, 1e9, "0", "examples per rank per step (as in DDP); 0 = model preset"),
    I(steps, 0, 1e15, "0", "optimizer steps to run (0 = use --epochs)"),
    I(epochs, 0, 1e9, "1", "epochs over the training split (when --steps is 0)"),
    F(lr, 0, 1e3, "0", "learning rate (0 = model preset)"),
    I(seed, 0, 9.2e18, "1", "random seed (same on every rank)"),
    I(threads, 0, 4096, "0", "threads per rank (0 = cores of the node / ranks on it)"),
    S(device, NULL, "cpu", "compute device: cpu | cuda | cuda:N (cuda without :N: the rank's local index)"),
    S(precision, "fp32|bf16", "fp32", "cuda GEMM inputs: fp32 | bf16 (autocast; fp32 weights, accumulation, optimizer)"),
    I(accum, 1, 1e6, "1", "gradient accumulation: micro-batches per optimizer step"),
    I(log_every, 1, 1e9, "10", "steps between progress lines"),
    I(eval_every, 0, 1e9, "0", "steps between evaluations (0 = end of each epoch)"),
    I(eval_batches, 0, 1e9, "0", "batches per evaluation (0 = the whole test split)"),
    I(drop_last, 0, 1, "1", "drop the last incomplete batch of an epoch (1) or pad it (0)"),
    I(check_replicas, 0, 1e9, "0", "compare a parameter checksum across ranks every K steps (0 = off)"),
    S(optimizer, "sgd|adam|adamw", "", "sgd | adam | adamw (default: model preset)"),
    S(schedule, "const|step|exp|cosine", "", "learning-rate schedule: const | step | exp | cosine (warm-up + cosine)"),
    F(weight_decay, -1, 10, "-1", "weight decay on decay-flagged weights (-1 = model preset)"),
    F(momentum, 0, 1, "0", "SGD momentum"),
    I(nesterov, 0, 1, "0", "SGD Nesterov momentum"),
    F(beta1, 0, 1, "0.9", "Adam beta1"),
    F(beta2, 0, 1, "0.999", "Adam beta2"),
    F(eps, 0, 1, "1e-8", "Adam epsilon"),
    F(clip, -1, 1e9, "-1", "clip gradients to this global L2 norm (0 = off, -1 = model preset)"),
    F(clip_value, 0, 1e9, "0", "clip every gradient to [-v, v] (0 = off)"),
    I(warmup, -1, 1e15, "-1", "warm-up steps of the cosine schedule (-1 = model preset)"),
    F(min_lr, 0, 1e3, "0", "final learning rate of the cosine schedule"),
    F(gamma, 0, 1, "0.1", "decay factor of the step / exp schedules"),
    I(step_size, 1, 1e9, "1", "epochs between decays of the step schedule"),
    S(comm_mode, "nonblocking|thread", "nonblocking", "gradient allreduce: nonblocking (MPI_Iallreduce) | thread"),
    F(bucket_mb, 0.001, 1e5, "25", "gradient bucket cap in MB"),
    F(first_bucket_mb, 0.001, 1e5, "1", "size of the first (smallest) gradient bucket in MB"),
    I(zero, 0, 1, "0", "ZeRO-1: 1 = shard the optimizer state across ranks (gradients reduce-scattered, parameters all-gathered)"),
    F(comm_timeout, 0, 1e7, "300", "seconds a collective may wait before the job aborts (0 = forever)"),
    S(nan_policy, "stop|skip", "stop", "on a NaN/Inf loss or gradient: stop the job | skip the step"),
    S(augment, "none|flip|crop|crop-flip", "none", "image augmentation in the loader: random crop with 4-pixel zero padding and/or horizontal flip"),
    I(sync_bn, 0, 1, "0", "batch norm: 1 = statistics of the global batch (an allreduce per BN layer each way) | 0 = per rank (DDP)"),
    F(dropout, -1, 1, "-1", "dropout probability (-1 = model preset)"),
};
#define NGENERAL ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(sizeof keys / sizeof keys[0] + CFG_MODEL_KEYS <= 64 * sizeof(((struct cfg *)0)->given) / sizeof(uint64_t),
               "cfg.given holds a bit per key");

/* Every key: the general table, then the distinct keys of the model families (built once). */
static struct cfg_key all[NGENERAL + CFG_MODEL_KEYS];
static int nall;
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

static void build_keys(void) {
  memcpy(all, keys, sizeof keys);
  nall = NGENERAL;
  for (int s = 0; cfg_model_keyset(s); s++)
    for (int j = 0; j < cfg_model_keyset(s)->n; j++) {
      const struct cfg_model_key *mk = &cfg_model_keyset(s)->keys[j];
      int dup = -1;
      for (int i = 0; i < nall; i++)
        if (strcmp(all[i].name, mk->name) == 0) dup = i;
      NN_ASSERT(dup < 0 || (dup >= NGENERAL && all[dup].type == mk->type),
                "cfg: model key %s of %s clashes with another key of that name", mk->name, cfg_model_keyset(s)->models);
      if (dup >= 0) continue;
      NN_ASSERT(nall < NGENERAL + CFG_MODEL_KEYS, "cfg: more than %d model keys (raise CFG_MODEL_KEYS)", CFG_MODEL_KEYS);
      size_t slot = offsetof(struct cfg, model_keys) + sizeof(struct cfg_value) * (size_t)(nall - NGENERAL);
      size_t off = mk->type == CFG_T_STR ? offsetof(struct cfg_value, s)
                   : mk->type == CFG_T_INT ? offsetof(struct cfg_value, i) : offsetof(struct cfg_value, f);
      size_t size = mk->type == CFG_T_STR ? sizeof(((struct cfg_value *)0)->s) : 8;
      all[nall++] = (struct cfg_key){mk->name, mk->type, slot + off, size, mk->lo, mk->hi, mk->choices, mk->def, mk->help};
    }
}

static int nkeys(void) {
  pthread_once(&all_once, build_keys);
  return nall;
}
#define NKEYS nkeys()

static int find_key(const char *name) {
  char k[64];
  size_t n = strlen(name);
  if (n >= sizeof k) return -1;
  for (size_t i = 0; i < n && i < sizeof k - 1; i++) k[i] = name[i] == '-' ? '_' : name[i];
  k[n] = 0;
  for (int i = 0; i < NKEYS; i++)
    if (strcmp(all[i].name, k) == 0) return i;
  return -1;
}

static const void *model_slot(const struct cfg *c, const char *key, enum cfg_type type) {
  int i = find_key(key);
  NN_ASSERT(i >= NGENERAL && all[i].type == type, "cfg: '%s' is not a model key of that type", key);
  return (const char *)c + all[i].off;
}

int64_t cfg_int(const struct cfg *c, const char *key) { return *(const int64_t *)model_slot(c, key, CFG_T_INT); }
double cfg_float(const struct cfg *c, const char *key) { return *(const double *)model_slot(c, key, CFG_T_FLOAT); }
const char *cfg_str(const struct cfg *c, const char *key) { return model_slot(c, key, CFG_T_STR); }

void cfg_preset_int(struct cfg *c, const char *key, int64_t v) {
  int64_t *p = (int64_t *)model_slot(c, key, CFG_T_INT);
  if (*p == 0) *p = v;
}

static nn_status set_key(struct cfg *c, int i, const char *v, const char *source, int mark) {
  const struct cfg_key *k = &all[i];
  char *p = (char *)c + k->off, *end;
  if (k->type == CFG_T_STR) {
    if (strlen(v) >= k->size)
      return nn_fail(NN_ERR_ARG, "%s: value of '%s' is too long", source, k->name);
    if (k->choices && *v) {
      int ok = 0;
      const char *s = k->choices;
      size_t n = strlen(v);
      while (s && *s) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (len == n && strncmp(s, v, n) == 0) ok = 1;
        s = bar ? bar + 1 : NULL;
      }
      if (!ok) return nn_fail(NN_ERR_ARG, "%s: bad value '%s' for %s (expected %s)", source, v, k->name, k->choices);
    }
    strcpy(p, v);
  } else {
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
      return nn_fail(NN_ERR_ARG, "%s: bad value '%s' for %s (expected a number)", source, v, k->name);
    if (x < k->lo || x > k->hi)
      return nn_fail(NN_ERR_ARG, "%s: %s = %s is out of range [%g, %g]", source, k->name, v, k->lo, k->hi);
    if (k->type == CFG_T_INT) {
      if (x != floor(x)) return nn_fail(NN_ERR_ARG, "%s: %s = %s must be an integer", source, k->name, v);
      *(int64_t *)p = (int64_t)x;
    } else {
      *(double *)p = x;
    }
  }
  if (mark) c->given[i / 64] |= 1ull << (i % 64);
  return NN_OK;
}

void cfg_defaults(struct cfg *c) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < NKEYS; i++) {
    nn_status s = set_key(c, i, all[i].def, "default", 0);
    NN_ASSERT(s == NN_OK, "cfg: bad default of %s: %s", all[i].name, nn_errmsg());
  }
}

nn_status cfg_set(struct cfg *c, const char *key, const char *value, const char *source) {
  int i = find_key(key);
  if (i < 0) return nn_fail(NN_ERR_ARG, "%s: unknown option '%s' (see --help)", source, key);
  return set_key(c, i, value, source, 1);
}

nn_status cfg_parse_args(struct cfg *c, int argc, char **argv, int first, int *help) {
  *help = 0;
  for (int a = first; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      *help = 1;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) return nn_fail(NN_ERR_ARG, "unexpected argument '%s' (options are --key value)", arg);
    char key[64];
    const char *eq = strchr(arg, '='), *val;
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n >= sizeof key) return nn_fail(NN_ERR_ARG, "unknown option '%s'", arg);
    memcpy(key, arg + 2, n);
    key[n] = 0;
    if (find_key(key) < 0) return nn_fail(NN_ERR_ARG, "unknown option '--%s' (see --help)", key);
    if (eq) {
      val = eq + 1;
    } else {
      if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "option '--%s' needs a value", key);
      val = argv[++a];
    }
    char src[96];
    snprintf(src, sizeof src, "option --%s", key);
    NN_TRY(cfg_set(c, key, val, src));
  }
  return NN_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

nn_status cfg_load_file(struct cfg *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return nn_fail(NN_ERR_IO, "config file %s: cannot open (%s)", path, strerror(errno));
  char line[1024];
  int lineno = 0;
  nn_status st = NN_OK;
  while (st == NN_OK && fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = trim(line);
    if (!*s) continue;
    char *eq = strchr(s, '=');
    char src[CFG_STR + 32];
    snprintf(src, sizeof src, "%s:%d", path, lineno);
    if (!eq) {
      st = nn_fail(NN_ERR_ARG, "%s: expected 'key = value', got '%s'", src, s);
      break;
    }
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    size_t n = strlen(val);
    if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) {
      val[n - 1] = 0;
      val++;
    }
    st = cfg_set(c, key, val, src);
  }
  fclose(f);
  return st;
}

int cfg_given(const struct cfg *c, const char *key) {
  int i = find_key(key);
  return i >= 0 && (c->given[i / 64] >> (i % 64) & 1);
}

static void print_key(FILE *out, const char *name, const char *help, const char *def) {
  char flag[64];
  snprintf(flag, sizeof flag, "--%s", name);
  for (char *p = flag + 2; *p; p++)
    if (*p == '_') *p = '-';
  fprintf(out, "  %-20s %s", flag, help);
  if (def[0]) fprintf(out, " [%s]", def);
  fputc('\n', out);
}

void cfg_print_help(FILE *out) {
  for (int i = 0; i < NGENERAL; i++) print_key(out, keys[i].name, keys[i].help, keys[i].def);
  for (int s = 0; cfg_model_keyset(s); s++) {
    fprintf(out, "\nkeys of %s:\n", cfg_model_keyset(s)->models);
    for (int j = 0; j < cfg_model_keyset(s)->n; j++) {
      const struct cfg_model_key *k = &cfg_model_keyset(s)->keys[j];
      print_key(out, k->name, k->help, k->def);
    }
  }
}

void cfg_write_json(const struct cfg *c, FILE *out) {
  fputc('{', out);
  for (int i = 0; i < NKEYS; i++) {
    const char *p = (const char *)c + all[i].off;
    fprintf(out, "%s\"%s\": ", i ? ", " : "", all[i].name);
    if (all[i].type == CFG_T_STR) {
      fputc('"', out);
      for (const char *s = p; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
      }
      fputc('"', out);
    } else if (all[i].type == CFG_T_INT) {
      fprintf(out, "%lld", (long long)*(const int64_t *)p);
    } else {
      fprintf(out, "%.9g", *(const double *)p);
    }
  }
  fputs("}", out);
}

/* Parse a JSON string or number token at *p into buf; advances *p. */
static int json_token(const char **p, char *buf, size_t len) {
  const char *s = *p;
  size_t o = 0;
  while (isspace((unsigned char)*s)) s++;
  if (*s == '"') {
    for (s++; *s && *s != '"'; s++) {
      if (*s == '\\' && s[1]) s++;
      if (o + 1 < len) buf[o++] = *s;
    }
    if (*s != '"') return 0;
    s++;
  } else {
    while (*s && *s != ',' && *s != '}' && !isspace((unsigned char)*s))
      if (o + 1 < len) buf[o++] = *s++;
      else s++;
    if (!o) return 0;
  }
  buf[o] = 0;
  *p = s;
  return 1;
}

/* Keys that configurations written by earlier versions may hold and that mean nothing now:
 * "deterministic" (runs on the CPU are bit-identical for a seed, rank count and thread count
 * whatever it said; the flag was read nowhere and is gone). */
static int retired(const char *key) { return strcmp(key, "deterministic") == 0; }

nn_status cfg_load_json(struct cfg *c, const char *json, const char *source) {
  const char *p = json;
  while (isspace((unsigned char)*p)) p++;
  if (*p++ != '{') return nn_fail(NN_ERR_FORMAT, "%s: configuration is not a JSON object", source);
  char key[64], val[CFG_STR];
  for (;;) {
    while (isspace((unsigned char)*p) || *p == ',') p++;
    if (*p == '}') return NN_OK;
    if (!json_token(&p, key, sizeof key)) break;
    while (isspace((unsigned char)*p)) p++;
    if (*p++ != ':' || !json_token(&p, val, sizeof val)) break;
    if (!retired(key)) NN_TRY(cfg_set(c, key, val, source));
  }
  return nn_fail(NN_ERR_FORMAT, "%s: malformed configuration JSON near '%.20s'", source, p);
}

nn_status cfg_from_args(struct cfg *c, int argc, char **argv, int first, int *help) {
  struct cfg flags;
  cfg_defaults(c);
  cfg_defaults(&flags);
  nn_status st = cfg_parse_args(&flags, argc, argv, first, help);
  if (st == NN_OK && flags.config[0] && (st = cfg_load_file(c, flags.config)) != NN_OK && !strstr(nn_errmsg(), "--config")) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nn_errmsg());
    st = nn_fail(st, "option --config: %s", msg);
  }
  if (st == NN_OK) st = cfg_parse_args(c, argc, argv, first, help);
  return st;
}
