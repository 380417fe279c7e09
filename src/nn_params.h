/* nn_params: the parameter table. Parameters are declared (name, shape, init, flags), then
 * allocated at once in one flat data buffer and one flat gradient buffer; each parameter is
 * a named view (offset, shape) into them. Trainable parameters come first, in declaration
 * order; frozen ones follow and have no gradient. */
#ifndef NN_PARAMS_H
#define NN_PARAMS_H
#include "nn_status.h"
#include "nn_tensor.h"

struct nn_backend;

enum nn_init {
  NN_INIT_ZEROS,
  NN_INIT_ONES,
  NN_INIT_NORMAL,  /* normal(0, a) */
  NN_INIT_UNIFORM, /* uniform(-a, a) */
};

#define NN_NAME_MAX 128

struct nn_param {
  char name[NN_NAME_MAX];   /* dotted path, the checkpoint key */
  struct nn_tensor t;       /* view: t.data / t.grad point into the flat buffers */
  enum nn_init init;
  float init_a;             /* std (normal) or bound (uniform) */
  int decay;                /* weight decay applies */
  int trainable;            /* receives a gradient and optimizer updates */
  int buffer;               /* state, not a parameter (never trainable, e.g. running mean) */
  int64_t offset;           /* element offset in the flat buffers */
};

struct nn_params {
  struct nn_param *p;
  int n, cap;
  int64_t total;            /* elements of all parameters */
  int64_t trainable;        /* elements of trainable parameters: [0, trainable) of the flat buffers */
  float *data;              /* flat parameter buffer (backend memory), total elements */
  float *grad;              /* flat gradient buffer (backend memory), trainable elements */
  const struct nn_backend *be;
};

/* Empty table. */
void nn_params_init(struct nn_params *P);
/* Free buffers and table. */
void nn_params_free(struct nn_params *P);
/* Declare a parameter; returns its index. Names must be unique (asserted). */
int nn_param_declare(struct nn_params *P, const char *name, int ndim, const int64_t *shape,
                     enum nn_init init, float init_a, int decay);
/* Declare a buffer: saved and broadcast like a parameter, never trained (batchnorm running stats). */
int nn_declare_buffer(struct nn_params *P, const char *name, int ndim, const int64_t *shape, enum nn_init init);
/* Mark every parameter whose name starts with prefix as frozen (before nn_params_alloc); returns the count. */
int nn_params_freeze(struct nn_params *P, const char *prefix);
/* Assign offsets and allocate the flat buffers on backend be; gradients zeroed. */
nn_status nn_params_alloc(struct nn_params *P, const struct nn_backend *be);
/* Initialise every parameter by its rule from a counter-based RNG keyed by seed (same on every rank). */
void nn_params_reset(struct nn_params *P, uint64_t seed);
/* Index of the parameter called name, or -1. */
int nn_params_find(const struct nn_params *P, const char *name);
/* The tensor of parameter i. */
static inline struct nn_tensor *nn_pt(struct nn_params *P, int i) { return &P->p[i].t; }
/* Zero the flat gradient buffer. */
void nn_params_zero_grad(struct nn_params *P);

#endif
