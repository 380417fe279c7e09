/* train: the data-parallel training loop behind `attn_train`. */
#ifndef TRAIN_H
#define TRAIN_H
#include "cfg.h"
#include "comm.h"
#include "nn_optim.h"
#include "nn_sched.h"

/* Train the model c->model on c->data as configured; returns the first error (with its message).
 * *agreed is set when every rank knows of the failure and it has been reported already. */
nn_status train_run(struct cfg *c, struct comm *comm, int *agreed, int *preempted);

/* SIGTERM/SIGUSR1 ask for a checkpoint and exit 3 (TRAIN_EXIT_PREEMPTED); call first thing in main. */
void train_install_signals(void);

/* The optimizer and the learning-rate schedule of configuration c over P, exactly as the trainer sets
 * them up (kind, betas, momentum, weight decay on decay-flagged parameters; schedule over total_steps). */
nn_status train_optim_setup(const struct cfg *c, struct nn_params *P, int64_t total_steps, struct nn_optim *opt,
                            struct nn_sched *sched);

/* Exit status of a run stopped by SIGTERM/SIGUSR1 after writing its checkpoint (Slurm scripts requeue on it). */
#define TRAIN_EXIT_PREEMPTED 3

#endif
