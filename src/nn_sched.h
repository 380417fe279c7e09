/* nn_sched: learning-rate schedules (constant, step and exponential decay per epoch,
 * linear warm-up then cosine decay per update), as PyTorch's StepLR, ExponentialLR and a
 * warm-up + cosine LambdaLR. */
#ifndef NN_SCHED_H
#define NN_SCHED_H
#include <stdint.h>
#include "nn_status.h"

enum nn_sched_kind { NN_SCHED_CONST, NN_SCHED_STEP, NN_SCHED_EXP, NN_SCHED_WARMUP_COSINE };

struct nn_sched {
  enum nn_sched_kind kind;
  float base_lr;
  float gamma;            /* STEP, EXP: decay factor */
  int64_t step_size;      /* STEP: epochs between decays */
  int64_t warmup, total;  /* WARMUP_COSINE: warm-up updates, total updates */
  float min_lr;           /* WARMUP_COSINE: lr at the end of the cosine */
};

/* The lr for update number `step` (0-based) in epoch `epoch` (0-based). */
float nn_sched_lr(const struct nn_sched *s, int64_t step, int64_t epoch);
/* NN_ERR_ARG naming the field when s is not usable (step_size < 1, total <= warmup, ...). */
nn_status nn_sched_check(const struct nn_sched *s);
/* Name of a schedule kind ("const", "step", "exp", "cosine"). */
const char *nn_sched_name(enum nn_sched_kind kind);
/* Parse "const", "step", "exp" or "cosine"; NN_ERR_ARG naming the value otherwise. */
nn_status nn_sched_parse_kind(const char *s, enum nn_sched_kind *out);

#endif
