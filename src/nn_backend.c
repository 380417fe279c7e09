/* Backend instances: open by device name, registration of backend types. */
#include "nn_backend.h"
#include <stddef.h>
#include "nn_optim.h"
#include "ops/act.h"
#include "ops/attn.h"
#include "ops/binary.h"
#include "ops/bnorm.h"
#include "ops/conv.h"
#include "ops/dropout.h"
#include "ops/embed.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/rnn.h"
#include "ops/rnn_seq.h"
#include "ops/rope.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN_MAX_BACKEND_TYPES 8
static const struct nn_kernels *types[NN_MAX_BACKEND_TYPES];
static int ntypes;
#ifdef ATTN_HAVE_CUDA
extern const struct nn_kernels nn_cuda_kernels; /* src/cuda (CUDA builds; referencing it links it in) */
#endif

/* The op families of struct nn_kernels, in declaration order (the assertions below fail to compile
 * when a family pointer is added to the struct but not here). */
#define NN_FAMILIES(X) \
  X(matmul) X(binary) X(act) X(softmax) X(loss) X(layernorm) X(embed) X(dropout) X(conv) X(pool) X(bnorm) \
  X(shape) X(reduce) X(attn) X(rope) X(rnn) X(optim) X(rnn_seq)
#define NN_FAM_COUNT(f) +1
_Static_assert(offsetof(struct nn_kernels, matmul) + (0 NN_FAMILIES(NN_FAM_COUNT)) * sizeof(void *) ==
                   sizeof(struct nn_kernels),
               "NN_FAMILIES (nn_backend.c) must list every op family pointer of struct nn_kernels");
_Static_assert(offsetof(struct nn_kernels, rnn_seq) + sizeof(void *) == sizeof(struct nn_kernels),
               "NN_FAMILIES: rnn_seq is no longer the last family of struct nn_kernels");

typedef void (*nn_kfn)(void);

/* append "what" to buf (comma separated, truncated to n) */
static void miss_add(char *buf, size_t n, int count, const char *what) {
  size_t l = strlen(buf);
  if (l + 1 < n) snprintf(buf + l, n - l, "%s%s", count ? ", " : "", what);
}

/* Slots of a kernel struct (all function pointers) that ref fills and k leaves NULL. */
static int fam_missing(const void *k, const void *ref, size_t bytes, const char *fam, char *buf, size_t n,
                       int count) {
  size_t slots = bytes / sizeof(nn_kfn);
  for (size_t i = 0; i < slots; i++) {
    nn_kfn a = NULL, b = NULL;
    if (ref) memcpy(&b, (const char *)ref + i * sizeof(nn_kfn), sizeof b);
    if (k) memcpy(&a, (const char *)k + i * sizeof(nn_kfn), sizeof a);
    if (b && !a) {
      char what[64];
      snprintf(what, sizeof what, "%s (kernel %zu of %zu)", fam, i + 1, slots);
      miss_add(buf, n, count++, what);
    }
  }
  return count;
}

int nn_backend_missing(const struct nn_kernels *k, const struct nn_kernels *ref, char *buf, size_t n) {
  int count = 0;
  if (buf && n) buf[0] = 0;
  char tmp[1];
  if (!buf || !n) {
    buf = tmp;
    n = 1;
    tmp[0] = 0;
  }
#define NN_TOP(f) \
  if (ref->f && !k->f) miss_add(buf, n, count++, #f);
  NN_TOP(open) NN_TOP(close) NN_TOP(use) NN_TOP(alloc) NN_TOP(free) NN_TOP(to_device) NN_TOP(to_host) NN_TOP(copy)
  NN_TOP(sync) NN_TOP(fill) NN_TOP(axpy) NN_TOP(divide) NN_TOP(gemm)
#undef NN_TOP
#define NN_FAM(f) \
  if (ref->f && !k->f) miss_add(buf, n, count++, #f " (whole family)"); \
  else if (ref->f) count = fam_missing(k->f, ref->f, sizeof *ref->f, #f, buf, n, count);
  NN_FAMILIES(NN_FAM)
#undef NN_FAM
  return count;
}

int nn_backend_register(const struct nn_kernels *k) {
  if (!k || !k->name || ntypes >= NN_MAX_BACKEND_TYPES) return -1;
  for (int i = 0; i < ntypes; i++)
    if (!strcmp(types[i]->name, k->name)) return 0;
  types[ntypes++] = k;
  return 0;
}

const struct nn_kernels *nn_backend_find(const char *name) {
  if (!strcmp(name, "cpu")) return &nn_cpu_kernels;
#ifdef ATTN_HAVE_CUDA
  if (!strcmp(name, "cuda")) return &nn_cuda_kernels;
#endif
  for (int i = 0; i < ntypes; i++)
    if (!strcmp(types[i]->name, name)) return types[i];
  return NULL;
}

nn_status nn_backend_open(const char *device, const struct nn_backend_opts *o, struct nn_backend **out) {
  *out = NULL;
  const char *dev = device && device[0] ? device : "cpu";
  char name[16];
  const char *colon = strchr(dev, ':');
  size_t len = colon ? (size_t)(colon - dev) : strlen(dev);
  if (len == 0 || len >= sizeof name) return nn_fail(NN_ERR_ARG, "option --device: '%s' is not cpu, cuda or cuda:N", dev);
  memcpy(name, dev, len);
  name[len] = 0;
  int index = o ? o->local_rank : 0;
  if (colon) {
    char *end = NULL;
    long v = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || v < 0 || v > 1023)
      return nn_fail(NN_ERR_ARG, "option --device: '%s': the device index after ':' must be a number >= 0", dev);
    index = (int)v;
  }
  if (strcmp(name, "cpu") && strcmp(name, "cuda"))
    return nn_fail(NN_ERR_ARG, "option --device: unknown device '%s' (cpu, cuda or cuda:N)", dev);
  if (!strcmp(name, "cpu") && colon) return nn_fail(NN_ERR_ARG, "option --device: '%s': cpu takes no index", dev);
  const struct nn_kernels *k = nn_backend_find(name);
  if (!k)
    return nn_fail(NN_ERR_ARG, "option --device: %s: this build has no CUDA backend (configure with -DATTN_CUDA=ON "
                               "where the CUDA toolkit is)", dev);
  if (k != &nn_cpu_kernels) { /* a kernel the CPU has but this type lacks would be a NULL call mid-step */
    char miss[256];
    if (nn_backend_missing(k, &nn_cpu_kernels, miss, sizeof miss))
      return nn_fail(NN_ERR_ARG, "option --device: %s: the %s backend lacks kernels the cpu backend has: %s", dev,
                     k->name, miss);
  }
  struct nn_backend *be = calloc(1, sizeof *be);
  if (!be) return nn_fail(NN_ERR_OOM, "out of memory opening backend %s", dev);
  be->k = k;
  be->index = strcmp(name, "cpu") ? index : 0;
  be->threads = o && o->threads > 0 ? o->threads : 0;
  if (strcmp(name, "cpu")) snprintf(be->device, sizeof be->device, "%s:%d", name, be->index);
  else snprintf(be->device, sizeof be->device, "cpu");
  if (k->open) {
    nn_status st = k->open(be, be->index, be->threads);
    if (st != NN_OK) {
      free(be);
      return st;
    }
  }
  nn_backend_use(be);
  *out = be;
  return NN_OK;
}

void nn_backend_close(struct nn_backend *be) {
  if (!be) return;
  if (be->k->close) be->k->close(be);
  free(be);
}

void nn_backend_use(const struct nn_backend *be) {
  if (be && be->k->use) be->k->use(be);
}

void nn_backend_set_threads(struct nn_backend *be, int threads) {
  be->threads = threads > 0 ? threads : 1;
  nn_backend_use(be);
}
