/* CPU kernels of the embedding op. */
#include "../ops/embed.h"
#include <omp.h>
#include <string.h>

/* id k of ids (int32 or int64) */
static inline int64_t id_at(const void *ids, int i64, int64_t k) {
  return i64 ? ((const int64_t *)ids)[k] : (int64_t)((const int32_t *)ids)[k];
}

/* out(n,D) = w(V,D)[ids(n)]; returns the position of the first id outside [0,V), or -1 */
static int64_t emb_forward(float *out, const void *ids, int i64, const float *w, int64_t n, int64_t V, int64_t D) {
  for (int64_t k = 0; k < n; k++) {
    int64_t id = id_at(ids, i64, k);
    if (id < 0 || id >= V) return k;
  }
#pragma omp parallel for schedule(static) if (n * D > 32768)
  for (int64_t k = 0; k < n; k++) memcpy(out + k * D, w + id_at(ids, i64, k) * D, sizeof(float) * (size_t)D);
  return -1;
}

/* dw(V,D)[ids(k)] += dy(n,D)[k]: thread t owns the ids in its slice of the vocabulary and adds
 * their rows in order of k, so there are no races and the sums do not depend on the thread count */
static void emb_backward(float *dw, const float *dy, const void *ids, int i64, int64_t n, int64_t V, int64_t D) {
#pragma omp parallel if (n * D > 32768)
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t lo = V * t / nt, hi = V * (t + 1) / nt;
    for (int64_t k = 0; k < n; k++) {
      int64_t id = id_at(ids, i64, k);
      if (id < lo || id >= hi) continue;
      float *d = dw + id * D;
      const float *s = dy + k * D;
      for (int64_t j = 0; j < D; j++) d[j] += s[j];
    }
  }
}


/* the kernel table: adapters from the argument struct to the kernels above */
static int64_t k_forward(const struct nn_backend *be, const struct nn_embed_args *a) {
  (void)be;
  return emb_forward(a->out, a->ids, a->i64, a->w, a->n, a->V, a->D);
}
static void k_backward(const struct nn_backend *be, const struct nn_embed_args *a) {
  (void)be;
  emb_backward(a->dw, a->dy, a->ids, a->i64, a->n, a->V, a->D);
}
const struct nn_k_embed nn_cpu_embed = {.forward = k_forward, .backward = k_backward};
