/* Learning-rate schedules. */
#include "nn_sched.h"
#include <math.h>
#include <string.h>

static const char *const sched_names[] = {"const", "step", "exp", "cosine"};
#define NSCHED ((int)(sizeof sched_names / sizeof sched_names[0]))

float nn_sched_lr(const struct nn_sched *s, int64_t step, int64_t epoch) {
  double base = s->base_lr;
  switch (s->kind) {
  case NN_SCHED_CONST: return s->base_lr;
  case NN_SCHED_STEP: return (float)(base * pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1))));
  case NN_SCHED_EXP: return (float)(base * pow(s->gamma, (double)epoch));
  case NN_SCHED_WARMUP_COSINE: {
    if (step < s->warmup) return (float)(base * (double)(step + 1) / (double)s->warmup);
    double span = (double)(s->total - s->warmup);
    double prog = span > 0 ? (double)(step - s->warmup) / span : 1.0;
    if (prog > 1.0) prog = 1.0;
    return (float)(s->min_lr + 0.5 * (base - s->min_lr) * (1.0 + cos(M_PI * prog)));
  }
  }
  return s->base_lr;
}

nn_status nn_sched_check(const struct nn_sched *s) {
  if ((int)s->kind < 0 || (int)s->kind >= NSCHED) return nn_fail(NN_ERR_ARG, "lr schedule: unknown kind %d", (int)s->kind);
  if (!(s->base_lr >= 0) || !isfinite(s->base_lr))
    return nn_fail(NN_ERR_ARG, "lr schedule: learning rate %g must be finite and >= 0", s->base_lr);
  if (s->kind == NN_SCHED_STEP && s->step_size < 1)
    return nn_fail(NN_ERR_ARG, "lr schedule step: step size %lld must be >= 1", (long long)s->step_size);
  if ((s->kind == NN_SCHED_STEP || s->kind == NN_SCHED_EXP) && !(s->gamma > 0))
    return nn_fail(NN_ERR_ARG, "lr schedule %s: gamma %g must be > 0", sched_names[s->kind], s->gamma);
  if (s->kind == NN_SCHED_WARMUP_COSINE) {
    if (s->warmup < 0) return nn_fail(NN_ERR_ARG, "lr schedule cosine: warm-up %lld must be >= 0", (long long)s->warmup);
    if (s->total <= s->warmup)
      return nn_fail(NN_ERR_ARG, "lr schedule cosine: total updates %lld must exceed the warm-up %lld",
                     (long long)s->total, (long long)s->warmup);
    if (!(s->min_lr >= 0) || s->min_lr > s->base_lr)
      return nn_fail(NN_ERR_ARG, "lr schedule cosine: min lr %g must be in [0, %g]", s->min_lr, s->base_lr);
  }
  return NN_OK;
}

const char *nn_sched_name(enum nn_sched_kind kind) {
  return (int)kind >= 0 && (int)kind < NSCHED ? sched_names[kind] : "?";
}

nn_status nn_sched_parse_kind(const char *s, enum nn_sched_kind *out) {
  for (int k = 0; k < NSCHED; k++)
    if (s && strcmp(s, sched_names[k]) == 0) {
      *out = (enum nn_sched_kind)k;
      return NN_OK;
    }
  return nn_fail(NN_ERR_ARG, "unknown lr schedule '%s' (expected const, step, exp or cosine)", s ? s : "(null)");
}
