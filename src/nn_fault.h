/* nn_fault: test-only fault injection, compiled in always and inert unless the environment variable
 * ATTN_FAULT is set. Tests use it to hit an exact window (a phase of a checkpoint write, a step)
 * instead of sleeping and hoping. Syntax (tests/README.md):
 *   ATTN_FAULT=KIND:N[@RANK][,KIND:N[@RANK]...]
 * N is the checkpoint step (ckpt_* kinds) or the training step (0-based, the step being computed);
 * @RANK limits the fault to one rank (default: every rank). Kinds (enum nn_fault_kind):
 *   ckpt_after_shard, ckpt_after_meta, ckpt_between_renames, ckpt_before_latest, ckpt_during_prune
 *                     SIGKILL this process at that point of writing checkpoint N;
 *   allreduce_at_step the gradient allreduce of step N fails on the rank (a run-time error);
 *   nan_at_step       the loss of step N is multiplied by NaN on the rank (every gradient non-finite);
 *   exit_at_step      the rank dies (SIGKILL) at the start of step N;
 *   stall_at_step     the rank stops answering (sleeps forever) at the start of step N;
 *   diverge_at_step   after step N's update, the rank's first parameter changes (a diverged replica). */
#ifndef NN_FAULT_H
#define NN_FAULT_H
#include <stdint.h>

enum nn_fault_kind {
  NN_FAULT_CKPT_AFTER_SHARD,
  NN_FAULT_CKPT_AFTER_META,
  NN_FAULT_CKPT_BETWEEN_RENAMES,
  NN_FAULT_CKPT_BEFORE_LATEST,
  NN_FAULT_CKPT_DURING_PRUNE,
  NN_FAULT_ALLREDUCE,
  NN_FAULT_NAN,
  NN_FAULT_EXIT,
  NN_FAULT_STALL,
  NN_FAULT_DIVERGE,
  NN_FAULT_NKINDS
};

/* 1 if ATTN_FAULT asks for fault kind at n on this rank (parsed once; an unparsable ATTN_FAULT is
 * reported on stderr once and ignored). */
int nn_fault_at(enum nn_fault_kind kind, int rank, int64_t n);

/* The kill-type faults: if nn_fault_at(kind, rank, n), print one line to stderr naming the fault and
 * SIGKILL this process (as `kill -9` would). */
void nn_fault_kill_at(enum nn_fault_kind kind, int rank, int64_t n);

/* At the start of training step `step`: exit_at_step (SIGKILL) and stall_at_step (sleep forever). */
void nn_fault_step(int rank, int64_t step);

struct nn_params;
/* diverge_at_step: if it fires, add 1e-3 to the first parameter element of P on this rank. */
void nn_fault_diverge(struct nn_params *P, int rank, int64_t step);

/* Forget the parsed ATTN_FAULT (tests that change it with setenv). */
void nn_fault_reset(void);

#endif
