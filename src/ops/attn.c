/* attn ops: forward, backward and shape checks, calling kernels through g->be->k->attn. */
#include "attn.h"
#include "../nn_backend.h"
#include "../nn_rng.h"
#include <math.h>

/* Geometry of one attention call. */
struct attn_dims {
  int64_t B, T, S, H, D;
};

static struct attn_dims attn_dims(const struct nn_tensor *q, const struct nn_tensor *k, const struct nn_tensor *v,
                                  int64_t heads) {
  char s1[64], s2[64], s3[64];
  NN_ASSERT(q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && q->dtype == NN_F32 && k->dtype == NN_F32 &&
                v->dtype == NN_F32,
            "attention: q %s, k %s, v %s must be float (B,T,C), (B,S,C), (B,S,C)", nn_shape_str(q, s1, 64),
            nn_shape_str(k, s2, 64), nn_shape_str(v, s3, 64));
  struct attn_dims d = {q->shape[0], q->shape[1], k->shape[1], heads, 0};
  int64_t C = q->shape[2];
  NN_ASSERT(nn_same_shape(k, v) && k->shape[0] == d.B && k->shape[2] == C,
            "attention: q %s, k %s, v %s must be (B,T,C), (B,S,C), (B,S,C)", nn_shape_str(q, s1, 64),
            nn_shape_str(k, s2, 64), nn_shape_str(v, s3, 64));
  NN_ASSERT(heads > 0 && C % heads == 0, "attention: C of q %s is not a multiple of heads %lld",
            nn_shape_str(q, s1, 64), (long long)heads);
  d.D = C / heads;
  return d;
}

static void attn_backward(struct nn_graph *g, struct nn_node *n) {
  struct nn_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
  struct nn_attn_args a = *(const struct nn_attn_args *)n->attr;
  a.work = nn_scratch(g, sizeof(float) * (size_t)g->be->k->attn->work(g->be, &a, 1));
  if (!a.work) return;
  a.dout = n->out->grad;
  a.dq = q->requires_grad ? q->grad : NULL;
  a.dk = k->requires_grad ? k->grad : NULL;
  a.dv = v->requires_grad ? v->grad : NULL;
  g->be->k->attn->backward(g->be, &a);
}

struct nn_tensor *nn_attention(struct nn_graph *g, struct nn_tensor *q, struct nn_tensor *k, struct nn_tensor *v,
                               int heads, int causal, float dropout_p) {
  return nn_attention_masked(g, q, k, v, heads, causal, dropout_p, NULL);
}

struct nn_tensor *nn_attention_masked(struct nn_graph *g, struct nn_tensor *q, struct nn_tensor *k,
                                      struct nn_tensor *v, int heads, int causal, float dropout_p,
                                      struct nn_tensor *kmask) {
  NN_NULL_IN(q, k, v);
  struct attn_dims d = attn_dims(q, k, v, heads);
  if (kmask) {
    char s1[64], s2[64];
    NN_ASSERT(kmask->dtype == NN_F32 && kmask->ndim == 2 && kmask->shape[0] == d.B && kmask->shape[1] == d.S,
              "attention: key padding mask %s must be float (B,S) for k %s", nn_shape_str(kmask, s1, 64),
              nn_shape_str(k, s2, 64));
  }
  NN_ASSERT(dropout_p >= 0.0f && dropout_p < 1.0f, "attention: dropout_p %g must be in [0,1)", dropout_p);
  NN_ASSERT(!causal || d.T <= d.S, "attention: causal needs T <= S (a query with no key), got T %lld, S %lld",
            (long long)d.T, (long long)d.S);
  struct nn_attn_args a = {.B = d.B, .T = d.T, .S = d.S, .H = d.H, .D = d.D, .scale = 1.0f / sqrtf((float)d.D),
                           .causal = causal, .kmask = kmask ? kmask->data : NULL, .q = q->data, .k = k->data, .v = v->data};
  if (g->training && dropout_p > 0.0f) { /* drop.p stays 0 when no entry is dropped */
    a.drop.p = dropout_p;
    a.drop.seed = g->seed;
    a.drop.step = (uint64_t)g->step;
    a.drop.stream = NN_RNG_STREAM_OPS + (uint32_t)g->rng_calls++;
    a.drop.key0 = g->sample_base;
    a.drop.key_stride = g->sample_stride;
  }
  struct nn_tensor *out = nn_new_like(g, q), *p = nn_new(g, NN_F32, 4, NN_SHAPE(d.B, d.H, d.T, d.S));
  NN_NULL_IN(out, p);
  g->attn_probs = p; /* for an attention probe (nn_probe) */
  int64_t nw = g->be->k->attn->work(g->be, &a, 0);
  a.work = nn_scratch(g, sizeof(float) * (size_t)(nw ? nw : 1));
  NN_NULL_IN(a.work);
  a.out = out->data;
  a.p = p->data;
  g->be->k->attn->forward(g->be, &a);
  struct nn_node *n = nn_record(g, NN_OP_ATTENTION, attn_backward, out, 3, (struct nn_tensor *[]){q, k, v});
  if (n) n->saved[0] = p;
  a.work = NULL; /* the backward takes its own */
  nn_node_attr(g, n, &a, sizeof a);
  return out;
}
