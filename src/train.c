#define _GNU_SOURCE /* sched_getaffinity */
/* The training loop: data -> forward -> backward with overlapped bucket allreduce -> clip ->
 * optimizer -> schedule -> log (rank 0) -> evaluate at the end of each epoch. */
#include "train.h"
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "comm_grads.h"
#ifdef ATTN_HAVE_CUDA
#include "nn_cuda.h"
#endif
#include "model.h"
#include "nn_sched.h"
#include "export.h"
#include "ckpt.h"
#include "nn_fs.h"
#include "nn_fault.h"
#include <sched.h>
#include <signal.h>

struct trainer {
  struct cfg *cfg;
  struct comm *comm;
  const struct model_def *def;
  void *model;
  struct nn_params P;
  struct nn_optim opt;
  struct nn_sched sched;
  struct nn_backend *be;
  struct nn_graph g;
  struct ds_reader *train, *test;
  struct ds_sampler sampler;
  uint32_t *len_keys;    /* task->bucket: sort keys of the length grouping (seq2seq), or NULL */
  struct ds_loader *loader;
  struct comm_grads *buckets;
  FILE *metrics;
  int64_t step, epoch, total_steps, steps_per_epoch, first_step;
  int preempted;
  int setup_agreed;  /* a collective set-up step failed alike on every rank (exit 2, one message) */
  int64_t last_eval; /* the step of the last evaluation (-1: none yet): one evaluation per step */
  double t_start;
  const struct task *task; /* what the model learns: batches, metrics, evaluation (src/task.h) */
  int64_t len;              /* tokens per sample (task->sample_len): text window - 1, pair length; 0 images */
  struct task_batch eval;   /* evaluation batch buffers */
  struct comm bn_comm;   /* --sync-bn: a copy of comm over its own communicator (BN reductions run
                            in backward, beside the gradient buckets' collectives) */
  int bn_comm_on;
  float *buf_stage;      /* host staging of the buffers (running statistics) broadcast each step */
  int64_t buf_total;     /* their elements (0: the model has none) */
  double gather_s;       /* --zero 1: time in the all-gather of the updated parameters, summed over steps */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Replace "{rank}" and "{local_rank}" in a path (per-rank or node-local data copies). */
static void expand_path(char *out, size_t len, const char *in, const struct comm *c) {
  size_t o = 0;
  while (*in && o + 1 < len) {
    if (strncmp(in, "{rank}", 6) == 0) {
      o += (size_t)snprintf(out + o, len - o, "%d", c->rank);
      in += 6;
    } else if (strncmp(in, "{local_rank}", 12) == 0) {
      o += (size_t)snprintf(out + o, len - o, "%d", c->local_rank);
      in += 12;
    } else {
      out[o++] = *in++;
    }
  }
  out[o < len ? o : len - 1] = 0;
}

/* train_optim_setup over the elements [lo, hi) of the flat buffers; sliced: ZeRO-1's share of this rank. */
static nn_status optim_setup_range(const struct cfg *c, struct nn_params *P, int64_t total_steps, struct nn_optim *opt,
                                   struct nn_sched *sched, int sliced, int64_t lo, int64_t hi) {
  struct nn_optim_cfg oc = {0};
  NN_TRY(nn_optim_parse_kind(c->optimizer, &oc.kind));
  oc.momentum = (float)c->momentum;
  oc.nesterov = (int)c->nesterov;
  oc.beta1 = (float)c->beta1;
  oc.beta2 = (float)c->beta2;
  oc.eps = (float)c->eps;
  oc.weight_decay = (float)(c->weight_decay < 0 ? 0 : c->weight_decay);
  memset(sched, 0, sizeof *sched);
  NN_TRY(nn_sched_parse_kind(c->schedule, &sched->kind));
  sched->base_lr = (float)c->lr;
  sched->gamma = (float)c->gamma;
  sched->step_size = c->step_size;
  sched->warmup = c->warmup < 0 ? 0 : c->warmup;
  sched->total = total_steps;
  sched->min_lr = (float)c->min_lr;
  return sliced ? nn_optim_init_range(opt, P, &oc, lo, hi) : nn_optim_init(opt, P, &oc);
}

nn_status train_optim_setup(const struct cfg *c, struct nn_params *P, int64_t total_steps, struct nn_optim *opt,
                            struct nn_sched *sched) {
  return optim_setup_range(c, P, total_steps, opt, sched, 0, 0, P->trainable);
}

/* ZeRO-1 on more than one rank: the optimizer state, the reduced gradients and the update are this rank's share. */
static int zero_on(const struct trainer *T) { return T->cfg->zero && T->comm->size > 1; }

static nn_status setup_optim(struct trainer *T) {
  struct comm *cm = T->comm;
  int64_t n = T->P.trainable;
  if (zero_on(T))
    return optim_setup_range(T->cfg, &T->P, T->total_steps, &T->opt, &T->sched, 1, comm_share_start(n, cm->rank, cm->size),
                             comm_share_start(n, cm->rank + 1, cm->size));
  return train_optim_setup(T->cfg, &T->P, T->total_steps, &T->opt, &T->sched);
}

/* nn_clip_grad_norm_range's reduce: the sum over the ranks. */
static nn_status sum_ranks(void *ctx, double *x, int n) { return comm_allreduce_double(ctx, x, n); }

/* Global-norm clipping (the global norm whatever the rank holds), then value clipping; *norm for the log. */
static nn_status clip_grads(struct trainer *T, double *norm) {
  struct cfg *c = T->cfg;
  int z = zero_on(T);
  NN_TRY(nn_clip_grad_norm_range(&T->P, T->opt.lo, T->opt.hi, c->clip > 0 ? (float)c->clip : INFINITY,
                                 z ? sum_ranks : NULL, z ? T->comm : NULL, norm));
  if (isfinite(*norm) && c->clip_value > 0) nn_clip_grad_value_range(&T->P, T->opt.lo, T->opt.hi, (float)c->clip_value);
  return NN_OK;
}

static float scalar(struct nn_graph *g, const struct nn_tensor *t) {
  float v;
  nn_be_to_host(g->be, &v, t->data, sizeof v);
  return v;
}

static void log_json(struct trainer *T, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_json(struct trainer *T, const char *fmt, ...) {
  if (!T->metrics) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(T->metrics, fmt, ap);
  va_end(ap);
  fputc('\n', T->metrics);
  fflush(T->metrics);
}

/* Rank 0, once the resume step K is known: a fresh run (K = 0) truncates metrics.jsonl; a resumed
 * run keeps what an uninterrupted run wrote before its checkpoint at K (train lines of steps < K,
 * evaluations of steps < K, the --eval-every evaluation at K, lines without a step) and appends,
 * so a requeued job keeps its history and every step appears once. */
static nn_status metrics_open_for_resume(struct trainer *T) {
  char path[CFG_STR + 32], tmp[CFG_STR + 48];
  snprintf(path, sizeof path, "%s/metrics.jsonl", T->cfg->log_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int64_t K = T->first_step;
  int eval_at_k = T->cfg->eval_every > 0 && K % T->cfg->eval_every == 0; /* written before checkpoint K */
  FILE *in = K > 0 ? fopen(path, "r") : NULL, *out = fopen(K > 0 ? tmp : path, "w");
  if (!out) {
    if (in) fclose(in);
    return nn_fail(NN_ERR_IO, "cannot write %s: %s", K > 0 ? tmp : path, strerror(errno));
  }
  char line[4096];
  int64_t dropped = 0;
  while (in && fgets(line, sizeof line, in)) {
    const char *p = strstr(line, "\"step\": ");
    int keep = 1;
    if (p) {
      long long step = strtoll(p + 8, NULL, 10);
      int train = strstr(line, "\"split\": \"train\"") != NULL;
      keep = step < K || (step == K && !train && eval_at_k);
      if (step == K && !train && eval_at_k) eval_at_k = 0; /* only the first evaluation at K */
    }
    if (keep) fputs(line, out);
    else dropped++;
  }
  if (in) fclose(in);
  if (K > 0) {
    if (fclose(out) != 0 || rename(tmp, path) != 0) return nn_fail(NN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    out = fopen(path, "a");
    if (!out) return nn_fail(NN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (dropped) printf("metrics: %s keeps steps < %lld, %lld later line%s dropped\n", path, (long long)K, (long long)dropped,
                        dropped > 1 ? "s" : "");
  }
  if (T->metrics) fclose(T->metrics);
  T->metrics = out;
  return NN_OK;
}

/* What the task's hooks may use of the trainer. */
static struct task_model task_model_of(struct trainer *T, const struct ds_meta *m) {
  return (struct task_model){.def = T->def, .self = T->model, .P = &T->P, .g = &T->g, .meta = m};
}

/* Loss and the task's metrics on the evaluation split, each rank taking samples rank, rank+N, ...
 * (drawn by the task: images, consecutive text windows, sentence pairs). */
static nn_status evaluate(struct trainer *T, int64_t done) {
  if (!T->test || done == T->last_eval) return NN_OK; /* an epoch's end on an --eval-every step */
  T->last_eval = done;
  struct comm *cm = T->comm;
  struct nn_graph *g = &T->g;
  const struct ds_meta *tm = ds_get_meta(T->test);
  struct task_model tmod = task_model_of(T, tm);
  int64_t B = T->cfg->batch, limit = T->task->eval_count(T->test, T->len);
  if (T->cfg->eval_batches > 0 && T->cfg->eval_batches * B * cm->size < limit) limit = T->cfg->eval_batches * B * cm->size;
  double acc[TASK_NACC] = {0};
  g->training = 0;
  g->grad_enabled = 0;
  nn_status st = NN_OK;
  int64_t *idx = T->eval.b.indices;
  for (int64_t first = cm->rank; st == NN_OK && first < limit; first += B * cm->size) {
    int64_t n = 0;
    for (int64_t i = first; i < limit && n < B; i += cm->size) idx[n++] = i;
    st = T->task->eval_read(T->test, idx, n, &T->eval);
    nn_graph_reset(g);
    struct model_out out = {0};
    if (st == NN_OK) st = T->def->forward(T->model, g, &T->P, &T->eval.b, &out);
    if (st != NN_OK) break;
    acc[TASK_LOSS_SUM] += scalar(g, out.loss) * (double)out.count;
    acc[TASK_COUNT] += (double)out.count;
    if (T->task->account) st = T->task->account(&tmod, &T->eval.b, &out, 0, acc);
  }
  g->training = 1;
  g->grad_enabled = 1;
  NN_TRY(st);
  NN_TRY(comm_allreduce_double(cm, acc, TASK_NACC));
  double loss = acc[TASK_LOSS_SUM] / (acc[TASK_COUNT] > 0 ? acc[TASK_COUNT] : 1);
  if (cm->rank == 0) {
    const char *split = tm->split;
    char line[256], json[256];
    T->task->report(acc, 0, split, line, sizeof line, json, sizeof json);
    printf("eval  step %lld | epoch %lld | %s loss %.4f%s (%lld %s)\n", (long long)done, (long long)T->epoch, split, loss,
           line, (long long)acc[TASK_COUNT], T->task->count_name);
    log_json(T, "{\"step\": %lld, \"epoch\": %lld, \"split\": \"test\", \"loss\": %.6f%s, \"%s\": %lld}", (long long)done,
             (long long)T->epoch, loss, json, T->task->count_name, (long long)acc[TASK_COUNT]);
    fflush(stdout);
  }
  return NN_OK;
}

static void fmt_eta(char *buf, size_t len, double s) {
  if (!(s >= 0) || s > 1e8) snprintf(buf, len, "?");
  else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
  else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* The model's end-of-epoch hook (a sample, ...), if it has one. */
static nn_status epoch_end(struct trainer *T) {
  if (!T->def->epoch_end) return NN_OK;
  struct task_model tmod = task_model_of(T, ds_get_meta(T->train));
  return T->def->epoch_end(&tmod, T->cfg, T->epoch, T->comm->rank);
}

/* One optimizer step: accum micro-batches, allreduce, clip, update. *done is set at the end of training. */
static nn_status train_step(struct trainer *T, double *stats /* TASK_NACC: loss sum, count, the task's */) {
  struct cfg *c = T->cfg;
  struct comm *cm = T->comm;
  struct nn_graph *g = &T->g;
  nn_params_zero_grad(&T->P);
  for (int64_t micro = 0; micro < c->accum; micro++) {
    struct ds_batch *b = NULL;
    NN_TRY(ds_loader_next(T->loader, &b));
    while (b->n == 0) { /* end of an epoch */
      NN_TRY(evaluate(T, T->step));
      NN_TRY(epoch_end(T));
      T->epoch++;
      NN_TRY(ds_loader_next(T->loader, &b));
    }
    nn_graph_reset(g);
    g->step = T->step;
    /* dropout key of local example j: its position in the global batch of this step */
    g->sample_base = micro * c->batch * cm->size + cm->rank;
    g->sample_stride = cm->size;
    struct model_out out = {0};
    NN_TRY(T->def->forward(T->model, g, &T->P, b, &out));
    struct nn_tensor *loss = c->accum > 1 ? nn_scale(g, out.loss, 1.0f / (float)c->accum) : out.loss;
    if (loss && nn_fault_at(NN_FAULT_NAN, cm->rank, T->step)) loss = nn_scale(g, loss, NAN);
    if (!loss) return g->status;
    if (T->task->count_varies && cm->size > 1) { /* the global mean over items (task.h, count_varies) */
      double total = (double)out.count;
      NN_TRY(comm_allreduce_double(cm, &total, 1));
      float w = total > 0 ? (float)((double)out.count * cm->size / total) : 0.0f;
      if (w != 1.0f && !(loss = nn_scale(g, loss, w))) return g->status;
    }
    stats[TASK_LOSS_SUM] += scalar(g, out.loss) * (double)out.count;
    stats[TASK_COUNT] += (double)out.count;
    if (T->task->account) {
      struct task_model tmod = task_model_of(T, ds_get_meta(T->train));
      NN_TRY(T->task->account(&tmod, b, &out, 1, stats));
    }
    int last = micro == c->accum - 1;
    if (T->buckets && last) comm_grads_begin(T->buckets);
    g->grad_ready = T->buckets && last ? comm_grads_grad_ready : NULL;
    NN_TRY(nn_backward(g, loss));
  }
  if (T->buckets) NN_TRY(comm_grads_finish(T->buckets));
  return NN_OK;
}

/* nn_reduce_fn of --sync-bn: sum over the ranks on the BN communicator. */
static nn_status bn_reduce(void *ctx, double *x, int n) { return comm_allreduce_double(ctx, x, n); }

/* Without --sync-bn each rank's running statistics follow its own batches: make them rank 0's after
 * every step (DDP's broadcast_buffers), so replicas, evaluation and checkpoints agree. */
static nn_status sync_buffers(struct trainer *T) {
  if (!T->buf_total || T->comm->size < 2 || T->bn_comm_on) return NN_OK;
  struct nn_params *P = &T->P;
  int64_t o = 0;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].buffer) {
      nn_be_to_host(P->be, T->buf_stage + o, P->p[i].t.data, sizeof(float) * (size_t)P->p[i].t.numel);
      o += P->p[i].t.numel;
    }
  NN_TRY(comm_bcast(T->comm, T->buf_stage, (int64_t)sizeof(float) * T->buf_total, 0));
  o = 0;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].buffer) {
      nn_be_to_device(P->be, P->p[i].t.data, T->buf_stage + o, sizeof(float) * (size_t)P->p[i].t.numel);
      o += P->p[i].t.numel;
    }
  return NN_OK;
}

/* SIGTERM / SIGUSR1 (what Slurm sends before it stops or requeues a job): finish the step, then
 * checkpoint and exit with TRAIN_EXIT_PREEMPTED; the ranks agree on the step collectively. */
static volatile sig_atomic_t stop_signal;
static void on_stop_signal(int sig) { stop_signal = sig; }

/* Called first thing in main (before MPI set-up), so a stop requested during start-up is seen
 * too; SIGPIPE is ignored so a rank whose mpirun died first (scontrol requeue signals every
 * process of the job) still finishes its checkpoint instead of dying on its next printf. */
void train_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* This rank's stop request: a signal, or (rank 0) the --stop-file present. A file is what a job
 * script uses to ask for a stop: unlike a forwarded signal it cannot reach a rank before the rank
 * has installed its handler, nor abort a launcher that is still starting the ranks. 1 = signal,
 * 2 = stop file. */
static int stop_requested(const struct trainer *T) {
  if (stop_signal) return 1;
  return T->comm->rank == 0 && T->cfg->stop_file[0] && access(T->cfg->stop_file, F_OK) == 0 ? 2 : 0;
}

/* A stop requested before the first step (collective): nothing new to checkpoint, exit 3. */
static nn_status stop_before_first_step(struct trainer *T) {
  int here = stop_requested(T);
  double stop = here != 0;
  NN_TRY(comm_allreduce_double(T->comm, &stop, 1));
  if (stop > 0) {
    T->preempted = 1;
    if (T->comm->rank == 0) {
      printf("stop %s during start-up: nothing new to checkpoint (step %lld), exiting\n",
             here == 2 ? "file" : "signal", (long long)T->first_step);
      fflush(stdout);
    }
  }
  return NN_OK;
}

/* Write a checkpoint of the state after `done` completed steps (collective). */
static nn_status save_checkpoint(struct trainer *T, int64_t done) {
  struct ckpt_state s;
  memset(&s, 0, sizeof s);
  s.step = done;
  s.epoch = T->epoch;
  s.sampler_epoch = T->sampler.epoch;
  s.sampler_offset = ds_sampler_consumed(&T->sampler);
  s.seed = (uint64_t)T->cfg->seed;
  snprintf(s.model, sizeof s.model, "%s", T->cfg->model);
  s.data = ds_get_meta(T->train); /* what generate / evaluation need without the dataset */
  FILE *f = fmemopen(s.config_json, sizeof s.config_json - 1, "w");
  if (f) {
    cfg_write_json(T->cfg, f);
    fclose(f);
  }
  double t = now_s();
  NN_TRY(ckpt_save(T->comm, T->cfg->ckpt_dir, &s, &T->P, &T->opt, (int)T->cfg->keep));
  if (T->comm->rank == 0) {
    printf("checkpoint step %lld written to %s/step_%08lld in %.2f s\n", (long long)s.step, T->cfg->ckpt_dir,
           (long long)s.step, now_s() - t);
    fflush(stdout);
  }
  return NN_OK;
}

/* A resumed epoch keeps the length grouping it was begun with: the writer's global batch (its
 * --batch x ranks) and --bucket window, from the checkpoint's configuration. */
static nn_status resume_buckets(struct trainer *T, const struct ckpt_state *s, const char *path) {
  struct cfg *old = malloc(sizeof *old);
  if (!old) return nn_fail(NN_ERR_OOM, "out of memory");
  cfg_defaults(old);
  nn_status st = cfg_load_json(old, s->config_json, path);
  if (st == NN_OK) {
    int64_t unit = old->batch * s->nranks, window = cfg_int(old, "bucket");
    ds_sampler_resume_unit(&T->sampler, s->sampler_epoch, unit, window);
    if (T->sampler.unit_epoch >= 0 && T->comm->rank == 0)
      printf("note: epoch %lld was begun with global batch %lld and --bucket %lld: its rest keeps that order\n",
             (long long)s->sampler_epoch, (long long)unit, (long long)window);
  }
  free(old);
  return st;
}

/* --resume: load parameters, optimizer state, step, epoch and data position (collective). */
static nn_status resume(struct trainer *T) {
  struct cfg *c = T->cfg;
  int is_auto = strcmp(c->resume, "auto") == 0;
  if (is_auto && !c->ckpt_dir[0]) return nn_fail(NN_ERR_ARG, "option --resume auto needs --ckpt-dir");
  char path[CFG_STR + 64];
  nn_status st = ckpt_resolve(T->comm, is_auto ? c->ckpt_dir : c->resume, is_auto, path, sizeof path);
  if (st != NN_OK && is_auto) { /* nothing to resume from: a fresh start */
    if (T->comm->rank == 0) printf("resume auto: no complete checkpoint in %s, starting from step 0\n", c->ckpt_dir);
    return NN_OK;
  }
  NN_TRY(st);
  struct ckpt_state s;
  memset(&s, 0, sizeof s);
  snprintf(s.model, sizeof s.model, "%s", c->model);
  double t = now_s();
  NN_TRY(ckpt_load(T->comm, path, &s, &T->P, &T->opt));
  t = now_s() - t;
  T->first_step = s.step;
  T->epoch = s.epoch;
  ds_sampler_resume(&T->sampler, s.sampler_epoch, s.sampler_offset);
  if (T->len_keys && s.sampler_offset > 0) NN_TRY(resume_buckets(T, &s, path));
  if (T->comm->rank == 0) {
    printf("resumed from %s: step %lld, epoch %lld, %lld examples of the epoch done (written by %d rank%s), read in %.2f s\n",
           path, (long long)s.step, (long long)s.epoch, (long long)s.sampler_offset, s.nranks, s.nranks > 1 ? "s" : "", t);
    fflush(stdout);
  }
  return NN_OK;
}

static nn_status train_loop(struct trainer *T) {
  struct cfg *c = T->cfg;
  struct comm *cm = T->comm;
  double t_last = now_s(), t0 = t_last;
  int64_t ex_since = 0;
  const char *unit = T->task->unit;
  for (T->step = T->first_step; T->step < T->total_steps; T->step++) {
    cm->step = T->step;
    nn_fault_step(cm->rank, T->step);
    double stats[TASK_NACC + 1] = {0}; /* the task's accumulator, then ranks that got a stop signal */
    NN_TRY(train_step(T, stats));
    double norm = 0;
    NN_TRY(clip_grads(T, &norm));
    if (!isfinite(norm)) {
      if (strcmp(c->nan_policy, "stop") == 0)
        return nn_fail(NN_ERR_NUMERIC, "non-finite gradient norm (%g) at step %lld: stopping (--nan-policy stop)", norm,
                       (long long)T->step);
      if (cm->rank == 0) printf("step %lld: non-finite gradient norm, step skipped (--nan-policy skip)\n", (long long)T->step);
      continue;
    }
    float lr = nn_sched_lr(&T->sched, T->step, T->epoch);
    nn_optim_step(&T->opt, lr);
    if (zero_on(T)) { /* every rank's updated share to every rank */
      double t = now_s();
      NN_TRY(comm_params_allgather(cm, &T->P));
      T->gather_s += now_s() - t;
    }
    NN_TRY(sync_buffers(T));
    nn_fault_diverge(&T->P, cm->rank, T->step);
    int stop_here = stop_requested(T);
    stats[TASK_NACC] = stop_here != 0;
    NN_TRY(comm_allreduce_double(cm, stats, TASK_NACC + 1));
    if (c->check_replicas > 0 && (T->step + 1) % c->check_replicas == 0)
      NN_TRY(comm_params_check_replicas(cm, &T->P, T->step));
    double loss = stats[TASK_LOSS_SUM] / (stats[TASK_COUNT] > 0 ? stats[TASK_COUNT] : 1);
    ex_since += (int64_t)stats[TASK_COUNT];
    if (cm->rank == 0) {
      double t = now_s();
      char line[256], acc[256];
      T->task->report(stats, 1, "train", line, sizeof line, acc, sizeof acc);
      log_json(T, "{\"step\": %lld, \"epoch\": %lld, \"split\": \"train\", \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g%s, \"time\": %.3f}",
               (long long)T->step, (long long)T->epoch, loss, lr, norm, acc, t - T->t_start);
      if ((T->step + 1) % c->log_every == 0 || T->step + 1 == T->total_steps) {
        double rate = (double)ex_since / (t - t_last), per_step = (t - t0) / (double)(T->step + 1 - T->first_step);
        char eta[32];
        fmt_eta(eta, sizeof eta, per_step * (double)(T->total_steps - T->step - 1));
        printf("step %lld/%lld | epoch %lld | loss %.4f%s | lr %.3g | %.0f %s | eta %s\n", (long long)T->step + 1,
               (long long)T->total_steps, (long long)T->epoch, loss, line, lr, rate, unit, eta);
        fflush(stdout);
        t_last = t;
        ex_since = 0;
      }
    }
    if (c->eval_every > 0 && (T->step + 1) % c->eval_every == 0) NN_TRY(evaluate(T, T->step + 1));
    if (stats[TASK_NACC] > 0) { /* a stop signal reached some rank: checkpoint and leave */
      if (cm->rank == 0 && stop_here == 2)
        printf("stop file %s: checkpointing at step %lld and exiting\n", c->stop_file, (long long)T->step + 1);
      else if (cm->rank == 0)
        printf("stop signal: checkpointing at step %lld and exiting\n", (long long)T->step + 1);
      if (c->ckpt_dir[0]) NN_TRY(save_checkpoint(T, T->step + 1));
      T->preempted = 1;
      return NN_OK;
    }
    if (c->ckpt_dir[0] && c->ckpt_every > 0 && (T->step + 1) % c->ckpt_every == 0 && T->step + 1 < T->total_steps)
      NN_TRY(save_checkpoint(T, T->step + 1));
  }
  T->step = T->total_steps;
  if (c->ckpt_dir[0] && T->first_step < T->total_steps) NN_TRY(save_checkpoint(T, T->total_steps));
  /* a last evaluation, unless the final step just had one */
  if (!(c->eval_every > 0 && T->total_steps % c->eval_every == 0)) NN_TRY(evaluate(T, T->total_steps));
  if (T->first_step < T->total_steps) NN_TRY(epoch_end(T)); /* the last epoch ends with training */
  return NN_OK;
}

/* --freeze a,b,c: mark parameters whose names start with any prefix as untrainable. */
static nn_status freeze_prefixes(struct nn_params *P, const char *list) {
  char buf[CFG_STR];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
    if (nn_params_freeze(P, tok) == 0) return nn_fail(NN_ERR_ARG, "option --freeze: no parameter name starts with '%s'", tok);
  return NN_OK;
}

static nn_status train_setup(struct trainer *T) {
  struct cfg *c = T->cfg;
  struct comm *cm = T->comm;
  if (!c->model[0]) return nn_fail(NN_ERR_ARG, "no model given: use --model NAME (see --help)");
  T->def = model_find(c->model);
  if (!T->def) return nn_fail(NN_ERR_ARG, "option --model: unknown model '%s' (see --help)", c->model);
  T->task = T->def->task;
  T->def->preset(c);
  if (c->batch < 1) return nn_fail(NN_ERR_ARG, "option --batch: must be at least 1");
  if (!(c->lr > 0)) return nn_fail(NN_ERR_ARG, "option --lr: must be positive");
  if (!c->data[0]) return nn_fail(NN_ERR_ARG, "no dataset given: use --data DIR (attn_data convert ... --out DIR)");
  if (c->zero && strcmp(c->device, "cpu") != 0) /* ZeRO-1 is implemented over host memory (docs/arch/zero.md) */
    return nn_fail(NN_ERR_ARG, "option --zero 1: not available with --device %s (ZeRO-1 runs on --device cpu)", c->device);
  int threads = c->threads > 0 ? (int)c->threads : comm_default_threads(cm);
  NN_TRY(nn_backend_open(c->device, &(struct nn_backend_opts){.threads = threads, .local_rank = cm->local_rank}, &T->be));
  if (strcmp(c->precision, "fp32")) { /* --precision bf16: the CUDA backend's GEMMs */
#ifdef ATTN_HAVE_CUDA
    enum nn_precision prec;
    NN_TRY(nn_precision_parse(c->precision, &prec));
    if (strcmp(T->be->k->name, "cuda"))
      return nn_fail(NN_ERR_ARG, "option --precision %s: needs --device cuda", c->precision);
    nn_cuda_set_precision(T->be, prec);
#else
    return nn_fail(NN_ERR_ARG, "option --precision %s: this build has no CUDA backend", c->precision);
#endif
  }
  nn_graph_init(&T->g, T->be, 0);
  cm->timeout_s = c->comm_timeout;
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) < threads)
    printf("note: rank %d runs %d threads on %d core%s it may use (mpirun binds ranks to cores: add --bind-to none)\n",
           cm->rank, threads, CPU_COUNT(&mask), CPU_COUNT(&mask) > 1 ? "s" : "");
  char data[CFG_STR];
  expand_path(data, sizeof data, c->data, cm);
  char why[1024];
  if (ds_open(&T->train, data, "train") != NN_OK)
    return snprintf(why, sizeof why, "%s", nn_errmsg()), nn_fail(NN_ERR_ARG, "option --data: %s", why);
  const struct ds_meta *m = ds_get_meta(T->train);
  if (m->kind != T->task->data_kind) {
    static const char *const kinds[] = {[DS_IMAGE] = "images (attn_data convert idx|cifar10|images)",
                                        [DS_TEXT] = "text (attn_data convert text)",
                                        [DS_PAIRS] = "sentence pairs (attn_data convert pairs)",
                                        [DS_FEATURES] = "features (attn_train features)"};
    return nn_fail(NN_ERR_ARG, "--data %s: model %s (task %s) needs a dataset of %s, this one holds %s", data, c->model,
                   T->task->name, kinds[T->task->data_kind], kinds[m->kind]);
  }
  /* evaluation split: "test", else "val" */
  if (ds_open(&T->test, data, "test") != NN_OK && ds_open(&T->test, data, "val") != NN_OK) {
    T->test = NULL;
    if (cm->rank == 0) printf("note: %s has no test or val split; no evaluation\n", data);
  }
  /* model and parameters: declared, allocated, initialised (broadcast from rank 0 later) */
  NN_TRY(T->def->build(&T->model, c, m, &T->P));
  NN_TRY(freeze_prefixes(&T->P, c->freeze));
  NN_TRY(nn_params_alloc(&T->P, T->be));
  nn_params_reset(&T->P, (uint64_t)c->seed);
  if (c->init_from[0]) { /* every rank reads the file: same values everywhere, no broadcast needed */
    struct ckpt_import_report r;
    if (ckpt_import(&T->P, c->init_from, &r, cm->rank == 0 ? stdout : NULL) != NN_OK)
      return snprintf(why, sizeof why, "%s", nn_errmsg()), nn_fail(NN_ERR_ARG, "option --init-from: %s", why);
    if (r.matched == 0) return nn_fail(NN_ERR_ARG, "option --init-from %s: no parameter of model %s matched", c->init_from, c->model);
  }
  /* data */
  T->len = T->task->sample_len(c, m);
  int64_t nsamples = ds_num_samples(T->train, T->len);
  if (nsamples < 1)
    return nn_fail(NN_ERR_ARG, "option --block %lld: the training split of --data %s holds no sample of %lld tokens",
                   (long long)T->len, data, (long long)(T->len + 1));
  ds_sampler_init(&T->sampler, nsamples, cm->rank, cm->size, (uint64_t)c->seed, 1, (int)c->drop_last);
  if (T->task->bucket) { /* length-grouped global batches (same on any rank count) */
    int64_t window = 0;
    NN_TRY(T->task->bucket(c, T->train, T->len, nsamples, &T->len_keys, &window));
    ds_sampler_set_buckets(&T->sampler, T->len_keys, c->batch * cm->size, window);
  }
  int64_t per_rank = T->sampler.per_rank;
  T->steps_per_epoch = (c->drop_last ? per_rank / c->batch : (per_rank + c->batch - 1) / c->batch) / c->accum;
  if (T->steps_per_epoch < 1)
    return nn_fail(NN_ERR_ARG, "--batch %lld x --accum %lld x %d ranks is larger than the %lld training examples",
                   (long long)c->batch, (long long)c->accum, cm->size, (long long)nsamples);
  T->total_steps = c->steps > 0 ? c->steps : c->epochs * T->steps_per_epoch;
  if (T->test) NN_TRY(task_batch_alloc(&T->eval, ds_get_meta(T->test), c->batch, T->len));
  NN_TRY(setup_optim(T));
  NN_TRY(ckpt_check_setup(c->ckpt_dir, c->resume, cm->rank, &T->P, &T->opt, cm->size));
  T->g.seed = (uint64_t)c->seed;
  if (cm->rank == 0) {
    NN_TRY(nn_mkdirs(c->log_dir, "log"));
    char path[CFG_STR + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", c->log_dir);
    T->metrics = fopen(path, "a"); /* truncated or trimmed once the resume step is known */
    if (!T->metrics) return nn_fail(NN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/config.json", c->log_dir);
    FILE *f = fopen(path, "w");
    if (f) {
      cfg_write_json(c, f);
      fputc('\n', f);
      fclose(f);
    }
  }
  return NN_OK;
}

/* Set-up steps that talk to the other ranks (after every rank's local set-up succeeded). */
static nn_status train_setup_collective(struct trainer *T) {
  struct cfg *c = T->cfg;
  struct comm *cm = T->comm;
  NN_TRY(comm_params_bcast(cm, &T->P, 0));
  if (c->resume[0]) {
    /* resume's failures are agreed: every rank gets the first failing rank's message (a checkpoint of
     * another model, a damaged shard), so they are reported like a set-up error (once, exit 2),
     * unless MPI itself failed */
    nn_status rs = resume(T);
    if (rs != NN_OK && rs != NN_ERR_MPI) T->setup_agreed = 1;
    NN_TRY(rs);
  }
  if (cm->rank == 0) NN_TRY(metrics_open_for_resume(T));
  struct ds_augment aug = {.pad = strstr(c->augment, "crop") ? 4 : 0, .flip = strstr(c->augment, "flip") != NULL, .seed = (uint64_t)c->seed};
  NN_TRY(ds_loader_start_aug(&T->loader, T->train, &T->sampler, c->batch, T->len, &aug));
  for (int i = 0; i < T->P.n; i++)
    if (T->P.p[i].buffer) T->buf_total += T->P.p[i].t.numel;
  if (cm->size > 1 && c->sync_bn) {
    T->bn_comm = *cm;
    if (MPI_Comm_dup(cm->world, &T->bn_comm.world) != MPI_SUCCESS)
      return nn_fail(NN_ERR_MPI, "option --sync-bn: MPI_Comm_dup failed");
    T->bn_comm_on = 1;
    T->g.reduce = bn_reduce;
    T->g.reduce_ctx = &T->bn_comm;
  } else if (cm->size > 1 && T->buf_total) {
    T->buf_stage = malloc(sizeof(float) * (size_t)T->buf_total);
    if (!T->buf_stage) return nn_fail(NN_ERR_OOM, "out of memory staging %lld buffer values", (long long)T->buf_total);
  }
  if (cm->size > 1) {
    struct comm_grads_opts go = {c->bucket_mb, c->first_bucket_mb,
                                 strcmp(c->comm_mode, "thread") == 0 ? COMM_THREAD : COMM_NONBLOCKING, zero_on(T)};
    NN_TRY(comm_grads_create(&T->buckets, cm, &T->P, &go));
    NN_TRY(nn_graph_track_params(&T->g, T->P.n, comm_grads_grad_ready, T->buckets));
  }
  if (cm->rank == 0) {
    const struct ds_meta *m = ds_get_meta(T->train);
    int threads = c->threads > 0 ? (int)c->threads : comm_default_threads(cm);
    printf("attn_train: model %s (%lld parameters, %lld trainable) | data %s (%lld %s) | %d rank%s x %d thread%s\n",
           c->model, (long long)T->P.total, (long long)T->P.trainable, c->data, (long long)m->count,
           T->task->data_unit, cm->size,
           cm->size > 1 ? "s" : "", threads, threads > 1 ? "s" : "");
    printf("attn_train: batch %lld per rank (%lld global) | %lld steps (%lld per epoch) | %s lr %.3g | %s\n",
           (long long)c->batch, (long long)(c->batch * cm->size * c->accum), (long long)T->total_steps,
           (long long)T->steps_per_epoch, c->optimizer, c->lr, c->log_dir);
    int64_t bufs = (T->opt.m != NULL) + (T->opt.v != NULL), mine = bufs * (T->opt.hi - T->opt.lo) * (int64_t)sizeof(float);
    printf("attn_train: optimizer state %lld bytes on rank 0 (%lld for all %lld trainable parameters) | --zero %lld\n",
           (long long)mine, (long long)(bufs * T->P.trainable * (int64_t)sizeof(float)), (long long)T->P.trainable,
           (long long)c->zero);
    fflush(stdout);
  }
  return stop_before_first_step(T);
}

/* Rank 0: how much of the gradient allreduce was hidden behind backward. */
static void report_comm(struct trainer *T) {
  if (!T->buckets || T->comm->rank != 0 || T->step <= T->first_step) return;
  struct comm_stats st;
  comm_grads_stats(T->buckets, &st);
  double steps = (double)(T->step - T->first_step), hidden = st.comm_s > 0 ? 1.0 - st.wait_s / st.comm_s : 0;
  printf("%s: %d buckets, %.1f MB per step, %.1f ms per step in flight, %.1f ms waited for: %.0f%% hidden behind backward\n",
         zero_on(T) && strcmp(T->cfg->comm_mode, "thread") == 0 ? "reduce-scatter" : "allreduce", comm_grads_count(T->buckets), (double)st.bytes / steps / 1e6, 1e3 * st.comm_s / steps, 1e3 * st.wait_s / steps,
         100.0 * (hidden > 0 ? hidden : 0));
  if (zero_on(T)) printf("all-gather of the updated parameters (--zero 1): %.1f ms per step\n", 1e3 * T->gather_s / steps);
  log_json(T, "{\"split\": \"comm\", \"buckets\": %d, \"bytes_per_step\": %.0f, \"comm_ms_per_step\": %.3f, \"wait_ms_per_step\": %.3f, \"hidden\": %.4f, \"gather_ms_per_step\": %.3f}",
           comm_grads_count(T->buckets), (double)st.bytes / steps, 1e3 * st.comm_s / steps, 1e3 * st.wait_s / steps, hidden,
           1e3 * T->gather_s / steps);
}

static void train_teardown(struct trainer *T) {
  if (T->loader) ds_loader_stop(T->loader);
  ds_sampler_free(&T->sampler);
  free(T->len_keys);
  if (T->buckets) comm_grads_free(T->buckets);
  if (T->train) ds_close(T->train);
  if (T->test) ds_close(T->test);
  if (T->metrics) fclose(T->metrics);
  if (T->def && T->model) T->def->destroy(T->model);
  if (T->opt.P) nn_optim_free(&T->opt);
  nn_graph_destroy(&T->g);
  nn_params_free(&T->P);
  nn_backend_close(T->be);
  task_batch_free(&T->eval);
  free(T->buf_stage);
  if (T->bn_comm_on) MPI_Comm_free(&T->bn_comm.world);
}

nn_status train_run(struct cfg *c, struct comm *comm, int *agreed, int *preempted) {
  struct trainer T;
  memset(&T, 0, sizeof T);
  T.last_eval = -1;
  T.cfg = c;
  T.comm = comm;
  T.t_start = now_s();
  nn_params_init(&T.P);
  /* local set-up on every rank, then agree: a failure on all ranks (a bad flag, a missing data
   * directory) is reported once by rank 0 and every rank exits; a failure on some ranks is
   * reported by each of them, with its rank */
  nn_status st = train_setup(&T);
  double failed = st != NN_OK;
  *agreed = 0;
  nn_status cst = comm_allreduce_double(comm, &failed, 1);
  if (cst != NN_OK) {
    st = cst;
  } else if (failed > 0) {
    *agreed = 1;
    if (st != NN_OK && failed < comm->size)
      fprintf(stderr, "attn_train: rank %d: %s\n", comm->rank, nn_errmsg());
    else if (st != NN_OK && comm->rank == 0)
      fprintf(stderr, "attn_train: %s\n", nn_errmsg());
    if (st == NN_OK) st = nn_fail(NN_ERR_STATE, "another rank failed during set-up");
  }
  if (st == NN_OK) {
    st = train_setup_collective(&T);
    if (st != NN_OK && T.setup_agreed) {
      *agreed = 1;
      if (comm->rank == 0) fprintf(stderr, "attn_train: %s\n", nn_errmsg());
    }
  }
  if (st == NN_OK && !T.preempted) st = train_loop(&T);
  if (st == NN_OK) report_comm(&T);
  if (st == NN_OK && c->save_params[0] && comm->rank == 0) st = export_params(&T.P, c, ds_get_meta(T.train), c->save_params);
  if (st == NN_OK) st = comm_barrier(comm);
  *preempted = T.preempted;
  train_teardown(&T);
  return st;
}
