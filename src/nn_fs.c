#include "nn_fs.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

nn_status nn_mkdirs(const char *path, const char *what) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return nn_fail(NN_ERR_ARG, "path too long: %s", path);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char keep = *s;
    *s = 0;
    struct stat st;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      return nn_fail(NN_ERR_IO, "cannot create %s directory %s: %s", what, p, strerror(errno));
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
      return nn_fail(NN_ERR_IO, "cannot create %s directory %s: not a directory", what, p);
    *s = keep;
    if (!keep) return NN_OK;
  }
}

nn_status nn_mkdirs_parent(const char *path, const char *what) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return nn_fail(NN_ERR_ARG, "path too long: %s", path);
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = 0; /* "data/fmnist/" -> parent "data" */
  char *slash = strrchr(p, '/');
  if (!slash || slash == p) return NN_OK;
  *slash = 0;
  return nn_mkdirs(p, what);
}
