/* Backend instances: open by device name, registration of backend types. */
#include "nn_backend.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN_MAX_BACKEND_TYPES 8
static const struct nn_kernels *types[NN_MAX_BACKEND_TYPES];
static int ntypes;

int nn_backend_register(const struct nn_kernels *k) {
  if (!k || !k->name || ntypes >= NN_MAX_BACKEND_TYPES) return -1;
  for (int i = 0; i < ntypes; i++)
    if (!strcmp(types[i]->name, k->name)) return 0;
  types[ntypes++] = k;
  return 0;
}

const struct nn_kernels *nn_backend_find(const char *name) {
  if (!strcmp(name, "cpu")) return &nn_cpu_kernels;
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
