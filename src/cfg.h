/* cfg: the run configuration. One table of keys serves the command-line flags (--log-dir),
 * the --config file (log_dir = ...) and --help; flags override the file, which overrides the
 * model preset, which overrides the defaults. */
#ifndef CFG_H
#define CFG_H
#include <stdint.h>
#include "nn_status.h"

#define CFG_STR 256

struct cfg {
  /* run */
  char model[64], data[CFG_STR], log_dir[CFG_STR], config[CFG_STR], save_params[CFG_STR];
  /* checkpoints */
  char ckpt_dir[CFG_STR], resume[CFG_STR], init_from[CFG_STR], freeze[CFG_STR];
  int64_t ckpt_every, keep;
  int64_t batch, steps, epochs, seed, threads, accum, log_every, eval_every, eval_batches;
  int64_t drop_last, check_replicas, deterministic;
  /* optimisation */
  char optimizer[16], schedule[16];
  double lr, weight_decay, momentum, beta1, beta2, eps, clip, clip_value, min_lr, gamma;
  int64_t warmup, step_size, nesterov;
  /* communication */
  char comm_mode[16];
  double bucket_mb, first_bucket_mb, comm_timeout;
  char nan_policy[16];
  /* models */
  char attn[16], stem[16], attn_stages[32];
  int64_t sync_bn;
  int64_t heads, n_embd, n_layer, n_head, block, hidden, ffn;
  double dropout;
  /* bookkeeping: which keys were given explicitly (bit per table entry) */
  uint64_t given[2];
};

/* Defaults for every key. */
void cfg_defaults(struct cfg *c);
/* Set key (with '-' or '_') from text value; source names where it came from (for messages). */
nn_status cfg_set(struct cfg *c, const char *key, const char *value, const char *source);
/* Parse argv[first..argc): --key value / --key=value; --help sets *help. Non-flag words are errors. */
nn_status cfg_parse_args(struct cfg *c, int argc, char **argv, int first, int *help);
/* Apply "key = value" lines of a config file (# comments, blank lines). */
nn_status cfg_load_file(struct cfg *c, const char *path);
/* 1 if key was set by a flag or the config file. */
int cfg_given(const struct cfg *c, const char *key);
/* Print every key with its default and help. */
void cfg_print_help(FILE *out);
/* Set every key of a flat JSON object written by cfg_write_json (checkpoints); unknown keys are errors. */
nn_status cfg_load_json(struct cfg *c, const char *json, const char *source);
/* Write the configuration as one JSON object (for logs and checkpoints). */
void cfg_write_json(const struct cfg *c, FILE *out);

#endif
