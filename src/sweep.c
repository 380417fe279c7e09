/* sweep: grid search over MPI. The world is split into groups (MPI_Comm_split); each group runs
 * its share of the configurations one after another through train_run, each into its own log
 * directory, with the group leader's progress lines going to that directory's train.log; a failed
 * configuration is recorded and the group goes on. World rank 0 gathers one record per
 * configuration and writes results.csv, results.md and sweep.png. */
#include "sweep.h"
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "nn_fs.h"
#include "nn_jsonl.h"
#include "plot.h"
#include "train.h"

enum { SW_KEYS = 8, SW_VALS = 32, SW_RUNS = 256, SW_STR = 64 };

struct grid {
  int nk, nconf;
  char key[SW_KEYS][SW_STR];
  int nv[SW_KEYS];
  char val[SW_KEYS][SW_VALS][SW_STR];
};

enum { RUN_NOT_RUN = 0, RUN_DONE, RUN_FAILED, RUN_STOPPED };

/* What a group leader reports of one configuration (plain bytes: gathered to world rank 0). */
struct run_result {
  int status;
  char metric[16];                 /* "accuracy", "bleu" or "" */
  double best_loss, best_metric;   /* over the evaluation lines (NAN when none) */
  double final_loss, seconds;      /* last training loss, wall time */
  char error[240];
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "lr=1e-4,3e-4" -> key lr with two values. */
static nn_status grid_add(struct grid *g, const char *word) {
  const char *eq = strchr(word, '=');
  if (!eq || eq == word || !eq[1]) return nn_fail(NN_ERR_ARG, "option --grid: '%s' is not KEY=V1,V2,...", word);
  if (g->nk >= SW_KEYS) return nn_fail(NN_ERR_ARG, "option --grid: at most %d keys", SW_KEYS);
  int k = g->nk++;
  snprintf(g->key[k], SW_STR, "%.*s", (int)(eq - word), word);
  for (int j = 0; j < k; j++)
    if (!strcmp(g->key[j], g->key[k])) return nn_fail(NN_ERR_ARG, "option --grid: key '%s' given twice", g->key[k]);
  for (const char *p = eq + 1;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (!len || len >= SW_STR) return nn_fail(NN_ERR_ARG, "option --grid: bad value list in '%s'", word);
    if (g->nv[k] >= SW_VALS) return nn_fail(NN_ERR_ARG, "option --grid: at most %d values per key", SW_VALS);
    snprintf(g->val[k][g->nv[k]++], SW_STR, "%.*s", (int)len, p);
    if (!comma) break;
    p = comma + 1;
  }
  return NN_OK;
}

/* Value index of key k in configuration i (the last key varies fastest). */
static int grid_pick(const struct grid *g, int i, int k) {
  for (int j = g->nk - 1; j > k; j--) i /= g->nv[j];
  return i % g->nv[k];
}

/* Run name of configuration i: "lr=0.001_dropout=0.1" ('/' replaced). */
static void grid_name(const struct grid *g, int i, char *out, size_t len) {
  size_t o = 0;
  out[0] = 0;
  for (int k = 0; k < g->nk && o < len; k++)
    o += (size_t)snprintf(out + o, len - o, "%s%s=%s", k ? "_" : "", g->key[k], g->val[k][grid_pick(g, i, k)]);
  for (char *p = out; *p; p++)
    if (*p == '/') *p = '-';
}

/* Configuration i: the base with the grid's values set, logs (and checkpoints) in its own directory. */
static nn_status grid_cfg(const struct grid *g, int i, const struct cfg *base, const char *root, struct cfg *c) {
  *c = *base;
  for (int k = 0; k < g->nk; k++) NN_TRY(cfg_set(c, g->key[k], g->val[k][grid_pick(g, i, k)], "--grid"));
  char name[CFG_STR], v[2 * CFG_STR + 2];
  grid_name(g, i, name, sizeof name);
  if (snprintf(v, sizeof v, "%s/%s", root, name) >= CFG_STR)
    return nn_fail(NN_ERR_ARG, "sweep: run directory %s is too long (%d characters at most)", v, CFG_STR - 1);
  NN_TRY(cfg_set(c, "log_dir", v, "--grid"));
  if (base->ckpt_dir[0]) {
    if (snprintf(v, sizeof v, "%s/%s", base->ckpt_dir, name) >= CFG_STR)
      return nn_fail(NN_ERR_ARG, "sweep: checkpoint directory %s is too long (%d characters at most)", v, CFG_STR - 1);
    NN_TRY(cfg_set(c, "ckpt_dir", v, "--grid"));
  }
  return NN_OK;
}

/* Summary of a finished run from its metrics.jsonl. */
static void read_result(const char *log_dir, struct run_result *r) {
  r->best_loss = r->best_metric = r->final_loss = NAN;
  char path[CFG_STR + 32], line[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", log_dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    double v;
    if (nn_jsonl_is(line, "split", "train")) {
      if (nn_jsonl_num(line, "loss", &v)) r->final_loss = v;
      continue;
    }
    if (!nn_jsonl_is(line, "split", "test") && !nn_jsonl_is(line, "split", "val")) continue;
    if (nn_jsonl_num(line, "loss", &v) && !(v >= r->best_loss)) r->best_loss = v;
    const char *m = nn_jsonl_num(line, "bleu", &v) ? "bleu" : nn_jsonl_num(line, "accuracy", &v) ? "accuracy" : NULL;
    if (m) {
      snprintf(r->metric, sizeof r->metric, "%s", m);
      if (!(v <= r->best_metric)) r->best_metric = v;
    }
  }
  fclose(f);
}

/* Run configuration i on group sub; the leader's stdout goes to <log_dir>/train.log meanwhile. */
static void run_one(const struct grid *g, int i, const struct cfg *base, const char *root, struct comm *sub,
                    struct run_result *r, int *stop) {
  struct cfg c;
  double t0 = now_s();
  nn_status st = grid_cfg(g, i, base, root, &c);
  int saved = -1;
  if (st == NN_OK && sub->rank == 0) {
    st = nn_mkdirs(c.log_dir, "log");
    char path[CFG_STR + 16];
    snprintf(path, sizeof path, "%s/train.log", c.log_dir);
    int fd = st == NN_OK ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (fd >= 0) {
      fflush(stdout);
      saved = dup(1);
      dup2(fd, 1);
      close(fd);
    }
  }
  int agreed = 0, preempted = 0;
  if (st == NN_OK) st = train_run(&c, sub, &agreed, &preempted);
  if (saved >= 0) {
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
  }
  r->seconds = now_s() - t0;
  if (st != NN_OK) {
    r->status = RUN_FAILED;
    snprintf(r->error, sizeof r->error, "%s", nn_errmsg());
    if (!agreed && sub->size > 1) *stop = 1; /* ranks of the group may disagree now: no further runs */
  } else {
    r->status = preempted ? RUN_STOPPED : RUN_DONE;
    *stop |= preempted;
  }
  if (sub->rank == 0) read_result(c.log_dir, r);
}

static void fmt_num(char *b, size_t n, double v) {
  if (isnan(v)) snprintf(b, n, "-");
  else snprintf(b, n, "%.4f", v);
}

static const char *status_name(int s) {
  return s == RUN_DONE ? "done" : s == RUN_FAILED ? "failed" : s == RUN_STOPPED ? "stopped" : "not run";
}

/* results.csv, results.md (best run first) and sweep.png under root (world rank 0). */
static nn_status write_results(const struct grid *g, const struct run_result *res, const char *root, int *failed) {
  char path[CFG_STR + 32], name[CFG_STR], a[32], b[32], c[32];
  const char *metric = "";
  for (int i = 0; i < g->nconf; i++)
    if (res[i].metric[0]) metric = res[i].metric;
  snprintf(path, sizeof path, "%s/results.csv", root);
  FILE *csv = fopen(path, "w");
  snprintf(path, sizeof path, "%s/results.md", root);
  FILE *md = fopen(path, "w");
  if (!csv || !md) {
    if (csv) fclose(csv);
    if (md) fclose(md);
    return nn_fail(NN_ERR_IO, "sweep: cannot write the results in %s", root);
  }
  fprintf(csv, "run");
  fprintf(md, "| rank | run |");
  for (int k = 0; k < g->nk; k++) fprintf(csv, ",%s", g->key[k]), fprintf(md, " %s |", g->key[k]);
  fprintf(csv, ",status,best_val_loss,best_val_%s,final_train_loss,seconds,error\n", metric[0] ? metric : "metric");
  fprintf(md, " status | best val loss | best val %s | final train loss | time (s) |\n|---|---|", metric[0] ? metric : "metric");
  for (int k = 0; k < g->nk; k++) fprintf(md, "---|");
  fprintf(md, "---|---|---|---|---|\n");
  /* order: completed runs by best metric (higher is better) or best loss, then the rest */
  int order[SW_RUNS], n = g->nconf;
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0; j--) {
      const struct run_result *x = &res[order[j]], *y = &res[order[j - 1]];
      double kx = metric[0] ? -x->best_metric : x->best_loss, ky = metric[0] ? -y->best_metric : y->best_loss;
      int better = (x->status == RUN_DONE) > (y->status == RUN_DONE) ||
                   ((x->status == RUN_DONE) == (y->status == RUN_DONE) && !isnan(kx) && (isnan(ky) || kx < ky));
      if (!better) break;
      int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
  *failed = 0;
  for (int i = 0; i < n; i++) {
    const struct run_result *r = &res[i];
    *failed += r->status != RUN_DONE;
    grid_name(g, i, name, sizeof name);
    fprintf(csv, "%s", name);
    for (int k = 0; k < g->nk; k++) fprintf(csv, ",%s", g->val[k][grid_pick(g, i, k)]);
    fmt_num(a, sizeof a, r->best_loss), fmt_num(b, sizeof b, r->best_metric), fmt_num(c, sizeof c, r->final_loss);
    fprintf(csv, ",%s,%s,%s,%s,%.1f,\"", status_name(r->status), a, b, c, r->seconds);
    for (const char *p = r->error; *p; p++) fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, csv);
    fprintf(csv, "\"\n");
  }
  for (int rank = 0; rank < n; rank++) {
    int i = order[rank];
    const struct run_result *r = &res[i];
    grid_name(g, i, name, sizeof name);
    fmt_num(a, sizeof a, r->best_loss), fmt_num(b, sizeof b, r->best_metric), fmt_num(c, sizeof c, r->final_loss);
    fprintf(md, "| %d%s | %s |", rank + 1, rank == 0 && r->status == RUN_DONE ? " (best)" : "", name);
    for (int k = 0; k < g->nk; k++) fprintf(md, " %s |", g->val[k][grid_pick(g, i, k)]);
    fprintf(md, " %s%s%s | %s | %s | %s | %.1f |\n", status_name(r->status), r->error[0] ? ": " : "", r->error, a, b, c,
            r->seconds);
  }
  fclose(csv);
  fclose(md);
  /* one overlaid plot of the runs that wrote metrics */
  char out[CFG_STR + 32], dirs[SW_RUNS][2 * CFG_STR + 2];
  char *argv[SW_RUNS + 4];
  int argc = 0;
  argv[argc++] = "attn_train";
  argv[argc++] = "plot";
  for (int i = 0; i < n && argc < PLOT_MAX_SERIES / 4 + 2; i++) {
    if (res[i].status == RUN_NOT_RUN || isnan(res[i].final_loss)) continue;
    grid_name(g, i, name, sizeof name);
    snprintf(dirs[i], sizeof dirs[i], "%s/%s", root, name);
    argv[argc++] = dirs[i];
  }
  snprintf(out, sizeof out, "%s/sweep.png", root);
  argv[argc++] = "--out";
  argv[argc++] = out;
  if (argc > 4 && plot_main(argc, argv, 2) != NN_OK) printf("sweep: no plot: %s\n", nn_errmsg());
  return NN_OK;
}

static nn_status parse_sweep(int argc, char **argv, int first, struct grid *g, int *rpr, char **fwd, int *nfwd, int *help) {
  memset(g, 0, sizeof *g);
  *rpr = 1;
  *nfwd = 0;
  fwd[(*nfwd)++] = argv[0];
  for (int a = first; a < argc; a++) {
    if (!strcmp(argv[a], "--grid")) {
      int n = 0;
      for (; a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0; n++) NN_TRY(grid_add(g, argv[++a]));
      if (!n) return nn_fail(NN_ERR_ARG, "option --grid needs KEY=V1,V2,... words");
    } else if (!strcmp(argv[a], "--ranks-per-run")) {
      char *end;
      long v = a + 1 < argc ? strtol(argv[a + 1], &end, 10) : 0;
      if (a + 1 >= argc || *end || v < 1 || v > 1 << 20)
        return nn_fail(NN_ERR_ARG, "option --ranks-per-run: '%s' is not a positive rank count", a + 1 < argc ? argv[a + 1] : "");
      *rpr = (int)v;
      a++;
    } else {
      if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) *help = 1;
      fwd[(*nfwd)++] = argv[a];
    }
  }
  if (*help) return NN_OK;
  if (!g->nk) return nn_fail(NN_ERR_ARG, "sweep needs --grid KEY=V1,V2,... (see sweep --help)");
  g->nconf = 1;
  for (int k = 0; k < g->nk; k++) {
    if (g->nconf * g->nv[k] > SW_RUNS) return nn_fail(NN_ERR_ARG, "option --grid: more than %d configurations", SW_RUNS);
    g->nconf *= g->nv[k];
  }
  return NN_OK;
}

nn_status sweep_main(struct comm *world, int argc, char **argv, int first, int *exit_code) {
  struct grid *g = calloc(1, sizeof *g);
  char **fwd = calloc((size_t)argc + 1, sizeof *fwd);
  struct run_result *mine = calloc(SW_RUNS, sizeof *mine), *all = NULL;
  struct cfg base;
  int rpr = 1, nfwd = 0, help = 0;
  *exit_code = 2;
  nn_status st = g && fwd && mine ? NN_OK : nn_fail(NN_ERR_OOM, "sweep: out of memory");
  if (st == NN_OK) st = parse_sweep(argc, argv, first, g, &rpr, fwd, &nfwd, &help);
  if (st == NN_OK) st = cfg_from_args(&base, nfwd, fwd, 1, &help);
  if (st == NN_OK && help) {
    if (world->rank == 0)
      printf("usage: mpirun -np N attn_train sweep --grid KEY=V1,V2,... [KEY=...] [--ranks-per-run R] [training flags]\n"
             "Splits the N ranks into N/R groups; each trains its share of the grid's configurations data-parallel\n"
             "on R ranks into <log-dir>/<KEY=V_...>/ (progress in train.log there). Rank 0 writes <log-dir>/results.csv,\n"
             "results.md (best validation metric per run, best first) and sweep.png. A failed configuration is\n"
             "reported in the table; the others go on. Exit status: 0 every run completed, 4 some did not.\n"
             "Any training flag (attn_train --help) is a grid key or a fixed value for every run.\n");
    *exit_code = 0;
    goto done;
  }
  if (st == NN_OK && world->size % rpr != 0)
    st = nn_fail(NN_ERR_ARG, "option --ranks-per-run: %d does not divide the %d ranks of the job", rpr, world->size);
  if (st == NN_OK && !cfg_given(&base, "log_dir")) st = cfg_set(&base, "log_dir", "runs/sweep", "sweep default");
  struct cfg probe;
  for (int i = 0; st == NN_OK && i < g->nconf; i++) st = grid_cfg(g, i, &base, base.log_dir, &probe);
  if (st == NN_OK && world->rank == 0) st = nn_mkdirs(base.log_dir, "log");
  if (st != NN_OK) goto done; /* the same on every rank: reported once by main */
  int groups = world->size / rpr, color = world->rank / rpr;
  struct comm sub;
  st = comm_split(world, color, &sub);
  if (st != NN_OK) {
    *exit_code = 1;
    goto done;
  }
  if (world->rank == 0)
    printf("sweep: %d configuration%s, %d group%s of %d rank%s, results in %s\n", g->nconf, g->nconf > 1 ? "s" : "", groups,
           groups > 1 ? "s" : "", rpr, rpr > 1 ? "s" : "", base.log_dir);
  fflush(stdout);
  int stop = 0;
  for (int i = color; i < g->nconf && !stop; i += groups) {
    char name[CFG_STR];
    grid_name(g, i, name, sizeof name);
    if (sub.rank == 0) printf("sweep: run %d/%d %s on ranks %d-%d: started\n", i + 1, g->nconf, name, color * rpr, color * rpr + rpr - 1);
    fflush(stdout);
    run_one(g, i, &base, base.log_dir, &sub, &mine[i], &stop);
    if (sub.rank == 0) {
      char a[32], b[32];
      fmt_num(a, sizeof a, mine[i].best_loss), fmt_num(b, sizeof b, mine[i].best_metric);
      if (mine[i].status == RUN_FAILED) printf("sweep: run %d/%d %s: FAILED: %s\n", i + 1, g->nconf, name, mine[i].error);
      else printf("sweep: run %d/%d %s: %s, best val loss %s%s%s%s (%.1f s)\n", i + 1, g->nconf, name, status_name(mine[i].status),
                  a, mine[i].metric[0] ? ", best " : "", mine[i].metric, mine[i].metric[0] ? b : "", mine[i].seconds);
      fflush(stdout);
    }
  }
  if (sub.rank != 0) memset(mine, 0, sizeof *mine * SW_RUNS); /* the leaders report */
  comm_finalize(&sub);
  int bytes = (int)sizeof *mine * g->nconf;
  if (world->rank == 0 && !(all = calloc((size_t)world->size, (size_t)bytes))) st = nn_fail(NN_ERR_OOM, "sweep: out of memory");
  if (st == NN_OK) st = comm_gather_bytes(world, mine, bytes, all, 0);
  if (st != NN_OK) {
    *exit_code = 1;
    goto done;
  }
  int failed = 0;
  if (world->rank == 0) {
    for (int r = 0; r < world->size; r++)
      for (int i = 0; i < g->nconf; i++)
        if (all[(size_t)r * (size_t)g->nconf + (size_t)i].status != RUN_NOT_RUN) mine[i] = all[(size_t)r * (size_t)g->nconf + (size_t)i];
    st = write_results(g, mine, base.log_dir, &failed);
    if (st == NN_OK)
      printf("sweep: %d of %d runs completed; table in %s/results.md, curves in %s/sweep.png\n", g->nconf - failed, g->nconf,
             base.log_dir, base.log_dir);
  }
  double f = failed;
  if (st == NN_OK) st = comm_allreduce_double(world, &f, 1);
  *exit_code = st != NN_OK ? 1 : f > 0 ? 4 : 0;
done:
  free(g);
  free(fwd);
  free(mine);
  free(all);
  return st;
}
