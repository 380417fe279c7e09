/* cfg: the run configuration. One table of keys serves the command-line flags (--log-dir),
 * the --config file (log_dir = ...) and --help; flags override the file, which overrides the
 * model preset, which overrides the defaults. */
#ifndef CFG_H
#define CFG_H
#include <stdint.h>
#include <stdio.h>
#include "nn_status.h"

#define CFG_STR 256
#define CFG_MODEL_KEYS 48 /* distinct keys of all model families together */

enum cfg_type { CFG_T_STR, CFG_T_INT, CFG_T_FLOAT };

/* A hyperparameter owned by a model family (declared next to its model_def in models/<family>.c);
 * the same name in two families is one key (same type). Flags, config files, --help, config.json
 * and checkpoints treat it like every general key. */
struct cfg_model_key {
  const char *name;
  enum cfg_type type;
  double lo, hi;       /* range of numbers */
  const char *choices; /* "a|b|c" for strings, or NULL */
  const char *def;     /* default, as text */
  const char *help;
};
/* The keys of one family, for --help ("gpt, gpt-small": its models). */
struct cfg_keyset {
  const char *models;
  const struct cfg_model_key *keys;
  int n;
};
/* The i-th distinct key set of the registered models, NULL past the last (models/registry.c:
 * model_def.keys of every model). */
const struct cfg_keyset *cfg_model_keyset(int i);

/* The value of a model key (a slot of struct cfg's key/value area). */
struct cfg_value {
  int64_t i;
  double f;
  char s[64];
};

struct cfg {
  /* run */
  char model[64], data[CFG_STR], log_dir[CFG_STR], config[CFG_STR], save_params[CFG_STR];
  /* checkpoints */
  char ckpt_dir[CFG_STR], stop_file[CFG_STR], resume[CFG_STR], init_from[CFG_STR], freeze[CFG_STR];
  int64_t ckpt_every, keep;
  char device[32]; /* cpu | cuda | cuda:N */
  char precision[8]; /* fp32 | bf16 (GEMM inputs on cuda) */
  int64_t batch, steps, epochs, seed, threads, accum, log_every, eval_every, eval_batches;
  int64_t drop_last, check_replicas;
  /* optimisation */
  char optimizer[16], schedule[16];
  double lr, weight_decay, momentum, beta1, beta2, eps, clip, clip_value, min_lr, gamma;
  int64_t warmup, step_size, nesterov;
  /* communication */
  char comm_mode[16];
  double bucket_mb, first_bucket_mb, comm_timeout;
  int64_t zero; /* ZeRO-1: 1 = optimizer state sharded across ranks (docs/arch/zero.md) */
  char nan_policy[16];
  char augment[16]; /* image augmentation in the loader: none | flip | crop | crop-flip */
  int64_t sync_bn;
  /* models: dropout here, the rest owned by the families (cfg_int(c, "n_embd"), ...) */
  double dropout;
  struct cfg_value model_keys[CFG_MODEL_KEYS];
  /* bookkeeping: which keys were given explicitly (bit per key: general, then model keys) */
  uint64_t given[3];
};

/* Defaults for every key. */
void cfg_defaults(struct cfg *c);
/* Set key (with '-' or '_') from text value; source names where it came from (for messages). */
nn_status cfg_set(struct cfg *c, const char *key, const char *value, const char *source);
/* Parse argv[first..argc): --key value / --key=value; --help sets *help. Non-flag words are errors. */
nn_status cfg_parse_args(struct cfg *c, int argc, char **argv, int first, int *help);
/* The configuration of a command line: defaults < --config file < flags of argv[first..argc). */
nn_status cfg_from_args(struct cfg *c, int argc, char **argv, int first, int *help);
/* Apply "key = value" lines of a config file (# comments, blank lines). */
nn_status cfg_load_file(struct cfg *c, const char *path);
/* 1 if key was set by a flag or the config file. */
int cfg_given(const struct cfg *c, const char *key);
/* A model key's value (the key must be declared by a family with that type: aborts otherwise). */
int64_t cfg_int(const struct cfg *c, const char *key);
double cfg_float(const struct cfg *c, const char *key);
const char *cfg_str(const struct cfg *c, const char *key);
/* Presets: set an integer model key whose value is 0 ("0 = preset") to v. */
void cfg_preset_int(struct cfg *c, const char *key, int64_t v);
/* Print every key with its default and help: general keys, then each family's. */
void cfg_print_help(FILE *out);
/* Set every key of a flat JSON object written by cfg_write_json (checkpoints); unknown keys are errors. */
nn_status cfg_load_json(struct cfg *c, const char *json, const char *source);
/* Write the configuration as one JSON object (for logs and checkpoints). */
void cfg_write_json(const struct cfg *c, FILE *out);

#endif
