/* nn_fault: ATTN_FAULT parsing and the injected faults (see nn_fault.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nn_fault.h"
#include "nn_backend.h"
#include "nn_params.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const NAMES[NN_FAULT_NKINDS] = {
    "ckpt_after_shard", "ckpt_after_meta", "ckpt_between_renames", "ckpt_before_latest", "ckpt_during_prune",
    "allreduce_at_step", "nan_at_step", "exit_at_step", "stall_at_step", "diverge_at_step"};

#define MAX_FAULTS 16
static struct fault {
  int kind, rank; /* rank -1: every rank */
  int64_t n;
} faults[MAX_FAULTS];
static int nfaults = -1; /* -1: not parsed yet */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void parse(void) {
  nfaults = 0;
  const char *env = getenv("ATTN_FAULT");
  if (!env || !*env) return;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", env);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    int kind = -1;
    if (colon) {
      *colon = 0;
      for (int k = 0; k < NN_FAULT_NKINDS; k++)
        if (strcmp(tok, NAMES[k]) == 0) kind = k;
    }
    char *end = NULL;
    long long n = colon ? strtoll(colon + 1, &end, 10) : -1;
    long rank = -1;
    if (end && *end == '@') rank = strtol(end + 1, &end, 10);
    if (kind < 0 || !end || end == colon + 1 || *end || n < 0 || nfaults == MAX_FAULTS) {
      fprintf(stderr, "ATTN_FAULT: ignoring '%s' (want KIND:N[@RANK], kinds: ckpt_after_shard, ckpt_after_meta, "
                      "ckpt_between_renames, ckpt_before_latest, ckpt_during_prune, allreduce_at_step, nan_at_step, "
                      "exit_at_step, stall_at_step, diverge_at_step)\n", tok);
      continue;
    }
    faults[nfaults++] = (struct fault){kind, (int)rank, n};
  }
}

int nn_fault_at(enum nn_fault_kind kind, int rank, int64_t n) {
  pthread_mutex_lock(&mu);
  if (nfaults < 0) parse();
  int hit = 0;
  for (int i = 0; i < nfaults && !hit; i++)
    hit = faults[i].kind == (int)kind && faults[i].n == n && (faults[i].rank < 0 || faults[i].rank == rank);
  pthread_mutex_unlock(&mu);
  return hit;
}

void nn_fault_kill_at(enum nn_fault_kind kind, int rank, int64_t n) {
  if (!nn_fault_at(kind, rank, n)) return;
  fprintf(stderr, "ATTN_FAULT: rank %d: %s:%lld: killing this process (SIGKILL)\n", rank, NAMES[kind], (long long)n);
  fflush(NULL);
  raise(SIGKILL);
}

void nn_fault_step(int rank, int64_t step) {
  nn_fault_kill_at(NN_FAULT_EXIT, rank, step);
  if (nn_fault_at(NN_FAULT_STALL, rank, step)) {
    fprintf(stderr, "ATTN_FAULT: rank %d: stall_at_step:%lld: this rank stops answering\n", rank, (long long)step);
    fflush(NULL);
    for (;;) pause();
  }
}

void nn_fault_reset(void) {
  pthread_mutex_lock(&mu);
  nfaults = -1;
  pthread_mutex_unlock(&mu);
}

void nn_fault_diverge(struct nn_params *P, int rank, int64_t step) {
  if (!P->total || !nn_fault_at(NN_FAULT_DIVERGE, rank, step)) return;
  float x;
  nn_be_to_host(P->be, &x, P->data, sizeof x);
  x += 1e-3f;
  nn_be_to_device(P->be, P->data, &x, sizeof x);
  fprintf(stderr, "ATTN_FAULT: rank %d: diverge_at_step:%lld: changed this replica's first parameter\n", rank,
          (long long)step);
}
