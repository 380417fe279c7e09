/* Optimizers and gradient clipping over the flat buffers; kernels through P->be->k->optim. */
#include "nn_optim.h"
#include "nn_backend.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const optim_names[] = {"sgd", "adam", "adamw"};
#define NOPTIM ((int)(sizeof optim_names / sizeof optim_names[0]))

struct nn_optim_cfg nn_optim_defaults(enum nn_optim_kind kind) {
  struct nn_optim_cfg c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
  if (kind == NN_OPT_ADAMW) c.weight_decay = 0.01f;
  return c;
}

static nn_status check_cfg(const struct nn_optim_cfg *c) {
  if ((int)c->kind < 0 || (int)c->kind >= NOPTIM) return nn_fail(NN_ERR_ARG, "optimizer: unknown kind %d", (int)c->kind);
  const char *name = optim_names[c->kind];
  if (!(c->weight_decay >= 0)) return nn_fail(NN_ERR_ARG, "%s: weight decay %g must be >= 0", name, c->weight_decay);
  if (c->kind == NN_OPT_SGD) {
    if (!(c->momentum >= 0)) return nn_fail(NN_ERR_ARG, "sgd: momentum %g must be >= 0", c->momentum);
    if (c->nesterov && c->momentum == 0) return nn_fail(NN_ERR_ARG, "sgd: nesterov needs a momentum > 0");
  } else {
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
      return nn_fail(NN_ERR_ARG, "%s: betas (%g, %g) must be in [0, 1)", name, c->beta1, c->beta2);
    if (!(c->eps >= 0)) return nn_fail(NN_ERR_ARG, "%s: eps %g must be >= 0", name, c->eps);
  }
  return NN_OK;
}

/* Runs of consecutive trainable parameters (in flat-buffer order) with the same decay flag. */
static nn_status build_segments(struct nn_optim *o) {
  const struct nn_params *P = o->P;
  o->seg = malloc(sizeof *o->seg * (size_t)(P->n ? P->n : 1));
  if (!o->seg) return nn_fail(NN_ERR_OOM, "optimizer: out of memory for %d segments", P->n);
  o->nseg = 0;
  int64_t end = 0; /* trainable parameters are laid out in declaration order from offset 0 */
  for (int i = 0; i < P->n; i++) {
    const struct nn_param *p = &P->p[i];
    if (!p->trainable || p->t.numel == 0) continue;
    NN_ASSERT(p->offset == end, "optimizer: parameter '%s' at offset %lld, expected %lld", p->name,
              (long long)p->offset, (long long)end);
    int decay = p->decay != 0;
    struct nn_optim_seg *last = o->nseg ? &o->seg[o->nseg - 1] : NULL;
    if (last && last->decay == decay)
      last->n += p->t.numel;
    else
      o->seg[o->nseg++] = (struct nn_optim_seg){.off = p->offset, .n = p->t.numel, .decay = decay};
    end += p->t.numel;
  }
  NN_ASSERT(end == P->trainable, "optimizer: trainable parameters cover %lld of %lld elements",
            (long long)end, (long long)P->trainable);
  return NN_OK;
}

/* A zeroed state buffer over n elements. */
static float *state_buffer(const struct nn_params *P, int64_t n) {
  float *x = nn_be_alloc(P->be, sizeof(float) * (size_t)(n ? n : 1));
  if (x && n) nn_be_fill(P->be, x, 0.0f, n);
  return x;
}

static nn_status init(struct nn_optim *o, struct nn_params *P, const struct nn_optim_cfg *cfg, int64_t lo, int64_t hi,
                     int sliced) {
  memset(o, 0, sizeof *o);
  NN_ASSERT(P->data && P->be, "optimizer: nn_optim_init before nn_params_alloc");
  NN_ASSERT(0 <= lo && lo <= hi && hi <= P->trainable, "optimizer: range [%lld, %lld) outside [0, %lld)", (long long)lo,
            (long long)hi, (long long)P->trainable);
  NN_TRY(check_cfg(cfg));
  o->cfg = *cfg;
  o->P = P;
  o->lo = lo;
  o->hi = hi;
  o->sliced = sliced;
  NN_TRY(build_segments(o));
  int need_m = cfg->kind != NN_OPT_SGD || cfg->momentum != 0, need_v = cfg->kind != NN_OPT_SGD;
  if (need_m && !(o->m = state_buffer(P, hi - lo))) goto oom;
  if (need_v && !(o->v = state_buffer(P, hi - lo))) goto oom;
  return NN_OK;
oom:
  nn_optim_free(o);
  return nn_fail(NN_ERR_OOM, "optimizer: out of memory for the %s state of %lld parameters",
                 optim_names[cfg->kind], (long long)(hi - lo));
}

nn_status nn_optim_init_range(struct nn_optim *o, struct nn_params *P, const struct nn_optim_cfg *cfg, int64_t lo,
                              int64_t hi) {
  return init(o, P, cfg, lo, hi, 1);
}

nn_status nn_optim_init(struct nn_optim *o, struct nn_params *P, const struct nn_optim_cfg *cfg) {
  return init(o, P, cfg, 0, P->trainable, 0);
}

void nn_optim_step(struct nn_optim *o, float lr) {
  const struct nn_backend *be = o->P->be;
  const struct nn_k_optim *k = be->k->optim;
  const struct nn_optim_cfg *c = &o->cfg;
  float *p = o->P->data, *g = o->P->grad;
  o->t++;
  /* torch's bias corrections, in double as Python computes them */
  double bc1 = 1.0 - pow(c->beta1, (double)o->t), bc2 = 1.0 - pow(c->beta2, (double)o->t);
  float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  for (int s = 0; s < o->nseg; s++) {
    const struct nn_optim_seg *sg = &o->seg[s];
    /* the part of the segment in [o->lo, o->hi): the decay flag is per parameter, so a cut keeps it */
    int64_t a0 = sg->off > o->lo ? sg->off : o->lo, a1 = sg->off + sg->n < o->hi ? sg->off + sg->n : o->hi;
    if (a0 >= a1) continue;
    float wd = sg->decay ? c->weight_decay : 0.0f;
    float *m = o->m ? o->m + (a0 - o->lo) : NULL, *v = o->v ? o->v + (a0 - o->lo) : NULL;
    struct nn_optim_args a = {.n = a1 - a0, .lr = lr, .wd = wd, .mu = c->momentum, .nesterov = c->nesterov,
                              .decoupled = c->kind == NN_OPT_ADAMW, .b1 = c->beta1, .b2 = c->beta2, .eps = c->eps,
                              .step_size = step_size, .bc2_sqrt = bc2_sqrt, .p = p + a0, .g = g + a0,
                              .buf = m, .m = m, .v = v};
    if (c->kind == NN_OPT_SGD) /* a zero momentum buffer makes the first update buf = g, as torch */
      k->sgd(be, &a);
    else
      k->adam(be, &a);
  }
}

void nn_optim_free(struct nn_optim *o) {
  if (o->P && o->P->be) {
    nn_be_free(o->P->be, o->m);
    nn_be_free(o->P->be, o->v);
  }
  free(o->seg);
  memset(o, 0, sizeof *o);
}

const char *nn_optim_name(enum nn_optim_kind kind) {
  return (int)kind >= 0 && (int)kind < NOPTIM ? optim_names[kind] : "?";
}

nn_status nn_optim_parse_kind(const char *s, enum nn_optim_kind *out) {
  for (int k = 0; k < NOPTIM; k++)
    if (s && strcmp(s, optim_names[k]) == 0) {
      *out = (enum nn_optim_kind)k;
      return NN_OK;
    }
  return nn_fail(NN_ERR_ARG, "unknown optimizer '%s' (expected sgd, adam or adamw)", s ? s : "(null)");
}

nn_status nn_clip_grad_norm_range(struct nn_params *P, int64_t lo, int64_t hi, float max_norm,
                                  nn_status (*reduce)(void *ctx, double *x, int n), void *ctx, double *norm) {
  double ss = hi > lo ? P->be->k->optim->sumsq(P->be, P->grad + lo, hi - lo) : 0.0;
  if (reduce) NN_TRY(reduce(ctx, &ss, 1));
  *norm = sqrt(ss);
  double coef = (double)max_norm / (*norm + 1e-6);
  if (coef < 1.0 && hi > lo) P->be->k->optim->scale(P->be, P->grad + lo, (float)coef, hi - lo);
  return NN_OK;
}

double nn_clip_grad_norm(struct nn_params *P, float max_norm) {
  double norm = 0.0;
  nn_clip_grad_norm_range(P, 0, P->trainable, max_norm, NULL, NULL, &norm); /* cannot fail without reduce */
  return norm;
}

void nn_clip_grad_value_range(struct nn_params *P, int64_t lo, int64_t hi, float clip) {
  if (hi > lo) P->be->k->optim->clamp(P->be, P->grad + lo, -clip, clip, hi - lo);
}

void nn_clip_grad_value(struct nn_params *P, float clip) { nn_clip_grad_value_range(P, 0, P->trainable, clip); }
