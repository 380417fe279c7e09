#include "nn_status.h"
#include <stdarg.h>

static _Thread_local char nn_msg_[1024];

nn_status nn_fail(nn_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(nn_msg_, sizeof nn_msg_, fmt, ap);
  va_end(ap);
  return code;
}

const char *nn_errmsg(void) { return nn_msg_; }

const char *nn_status_name(nn_status s) {
  static const char *names[] = {"ok", "bad argument", "I/O error", "format error", "HDF5 error",
                                "out of memory", "MPI error", "CUDA error", "numeric error",
                                "invalid state"};
  return (s >= 0 && s <= NN_ERR_STATE) ? names[s] : "unknown";
}
