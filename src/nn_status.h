/* nn_status: error codes, the per-thread error message, and the programmer-error assert. */
#ifndef NN_STATUS_H
#define NN_STATUS_H
#include <stdio.h>
#include <stdlib.h>

typedef enum {
  NN_OK = 0,
  NN_ERR_ARG,     /* bad flag, config value or argument */
  NN_ERR_IO,      /* file missing, unreadable or unwritable */
  NN_ERR_FORMAT,  /* file exists but its content is wrong */
  NN_ERR_HDF5,    /* HDF5 library error */
  NN_ERR_OOM,     /* out of memory */
  NN_ERR_MPI,     /* MPI failure or timeout */
  NN_ERR_CUDA,    /* CUDA / cuBLAS / NCCL failure */
  NN_ERR_NUMERIC, /* NaN or Inf where the policy is to stop */
  NN_ERR_STATE    /* operation not valid now */
} nn_status;

/* Record a formatted message for the calling thread and return code (for `return nn_fail(...)`). */
nn_status nn_fail(nn_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message recorded by nn_fail on this thread ("" if none). */
const char *nn_errmsg(void);
/* Short name of a status code. */
const char *nn_status_name(nn_status s);

/* Programmer error: print file:line and a formatted message, then abort. */
#define NN_ASSERT(cond, ...)                                                  \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: assertion '%s' failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
      abort();                                                                \
    }                                                                         \
  } while (0)

/* Propagate a non-OK status to the caller. */
#define NN_TRY(expr)                 \
  do {                               \
    nn_status nn_try_s_ = (expr);    \
    if (nn_try_s_ != NN_OK) return nn_try_s_; \
  } while (0)

#endif
