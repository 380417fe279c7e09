/* attn_train features: run a model's backbone forward only (no tape) over every split of an image dataset,
 * data-parallel, and write the activation of one layer as a `features` dataset (datasets/FORMAT.md) —
 * the chapter's "precompute the activations once" (§9.5).
 *   mpirun -np N attn_train features --init-from W.h5 --model cnn --layer fc1 --data D --out F
 * Rank r of N computes rows [count*r/N, count*(r+1)/N) of each split and writes shard r of N of it, which
 * is exactly the row range the format gives shard r: the shards land in F.tmp-features/, renamed to F by
 * rank 0 once every rank has written its part. */
#include "features_cmd.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cfg.h"
#include "ckpt.h"
#include "ds_h5.h"
#include "ds_write.h"
#include "model.h"
#include "nn_fs.h"

struct feat_opts {
  const char *ckpt, *layer, *out, *splits;
  int force, random;
};

static const char *const feat_usage =
    "usage: mpirun -np N attn_train features (--ckpt DIR | --init-from W.h5 | --random) --layer NAME --data DIR --out DIR\n"
    "                                       [--model NAME] [--splits train,test] [--batch B] [--force] [training flags]\n"
    "  --ckpt DIR        a checkpoint (its model and configuration are used)\n"
    "  --init-from W.h5  parameters by name (an export, or a converted PyTorch state_dict); the model comes from\n"
    "                    --model and the model flags, or from the file's 'config' attribute (an attn_train export)\n"
    "  --random          the model as initialised by --seed (a random-backbone baseline)\n"
    "  --layer NAME      the layer whose activation is written (cnn: flatten, fc1; resnet: avgpool)\n"
    "  --data DIR        an image dataset; every split is converted unless --splits is given\n"
    "  --out DIR         the features dataset to write (kind 'features': features (N, F) float32 + labels)\n"
    "  --force           replace a non-empty --out\n"
    "  --batch B         examples per forward pass (default: the model's batch)\n";

/* Split argv into the features flags (o) and the rest (cfg flags) in rest[0..*nrest). */
static nn_status feat_parse(struct feat_opts *o, int argc, char **argv, int first, char **rest, int *nrest, int *help) {
  *o = (struct feat_opts){0};
  *nrest = 0;
  for (int a = first; a < argc; a++) {
    const char *f = argv[a];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) *help = 1;
    else if (!strcmp(f, "--force")) o->force = 1;
    else if (!strcmp(f, "--random")) o->random = 1;
    else if (!strcmp(f, "--ckpt") || !strcmp(f, "--layer") || !strcmp(f, "--out") || !strcmp(f, "--splits")) {
      if (a + 1 >= argc) return nn_fail(NN_ERR_ARG, "option %s needs a value (see features --help)", f);
      const char *v = argv[++a];
      if (!strcmp(f, "--ckpt")) o->ckpt = v;
      else if (!strcmp(f, "--layer")) o->layer = v;
      else if (!strcmp(f, "--out")) o->out = v;
      else o->splits = v;
    } else {
      rest[(*nrest)++] = argv[a];
    }
  }
  return NN_OK;
}

/* The 'config' attribute of an attn_train export, if h5 has one (else "" in json). */
static void feat_file_config(const char *path, char *json, size_t size) {
  json[0] = 0;
  ds_h5_lock();
  hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
  if (f >= 0) {
    if (H5Aexists(f, "config") > 0 && ds_attr_get_str(f, path, "config", json, size) != NN_OK) json[0] = 0;
    H5Fclose(f);
  }
  ds_h5_unlock();
}

static uint64_t feat_fnv(uint64_t h, const char *s) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return (h ^ 0xff) * 0x100000001b3ull;
}

static double feat_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct feat_run {
  struct comm *comm;
  struct cfg cfg;
  struct feat_opts o;
  const struct model_def *def;
  void *model;
  struct nn_backend *be;
  struct nn_params P;
  struct nn_graph g;
  int graph_on;
  struct ds_reader *base; /* the train split: the model was built from its metadata */
  char tmp[CFG_STR + 32];
};

/* Set-up every rank does alike: configuration, model, parameters. */
static nn_status feat_setup(struct feat_run *R, int argc, char **argv, int first, int *help) {
  struct cfg *c = &R->cfg;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int nrest = 0;
  if (!rest) return nn_fail(NN_ERR_OOM, "out of memory");
  rest[nrest++] = argv[0];
  nn_status st = feat_parse(&R->o, argc, argv, first, rest + 1, &nrest, help);
  nrest += 1;
  cfg_defaults(c);
  struct ckpt_state s;
  char path[1024] = "";
  if (st == NN_OK && !*help) {
    int sources = (R->o.ckpt != NULL) + R->o.random;
    for (int i = 1; i < nrest; i++) sources += !strcmp(rest[i], "--init-from") || !strncmp(rest[i], "--init-from=", 12);
    if (sources != 1)
      st = nn_fail(NN_ERR_ARG, "features: give exactly one of --ckpt DIR, --init-from W.h5, --random (see features --help)");
    else if (!R->o.layer) st = nn_fail(NN_ERR_ARG, "features: --layer NAME is required (see features --help)");
    else if (!R->o.out) st = nn_fail(NN_ERR_ARG, "features: --out DIR is required (see features --help)");
  }
  if (st == NN_OK && !*help && R->o.ckpt) { /* the checkpoint's configuration, then the flags */
    memset(&s, 0, sizeof s);
    st = ckpt_resolve(R->comm, R->o.ckpt, 0, path, sizeof path);
    if (st == NN_OK) st = ckpt_read_state(path, &s);
    if (st == NN_OK) st = cfg_load_json(c, s.config_json, R->o.ckpt);
  }
  if (st == NN_OK) st = cfg_parse_args(c, nrest, rest, 1, help);
  if (st == NN_OK && !*help && c->init_from[0]) { /* an export carries its configuration: flags still win */
    static char json[8192];
    feat_file_config(c->init_from, json, sizeof json);
    if (json[0]) {
      struct cfg fc;
      cfg_defaults(&fc);
      if (cfg_load_json(&fc, json, c->init_from) == NN_OK) {
        st = cfg_parse_args(&fc, nrest, rest, 1, help);
        if (st == NN_OK) *c = fc;
      }
    }
  }
  free(rest);
  NN_TRY(st);
  if (*help) return NN_OK;
  if (!c->model[0]) return nn_fail(NN_ERR_ARG, "features: no model given: use --model NAME (or --ckpt)");
  if (!c->data[0]) return nn_fail(NN_ERR_ARG, "features: --data DIR is required");
  R->def = model_find(c->model);
  if (!R->def) return nn_fail(NN_ERR_ARG, "option --model: unknown model '%s' (see --help)", c->model);
  if (!R->def->features)
    return nn_fail(NN_ERR_ARG, "features: model %s has no feature hook (--layer); models with one: cnn, resnet*", c->model);
  R->def->preset(c);
  if (c->batch < 1) c->batch = 128;
  int threads = c->threads > 0 ? (int)c->threads : comm_default_threads(R->comm);
  NN_TRY(nn_backend_open(c->device, &(struct nn_backend_opts){.threads = threads, .local_rank = R->comm->local_rank}, &R->be));
  NN_TRY(ds_open(&R->base, c->data, "train"));
  const struct ds_meta *m = ds_get_meta(R->base);
  if (m->kind != DS_IMAGE)
    return nn_fail(NN_ERR_ARG, "--data %s: features are computed from an image dataset, this one is of kind '%s'", c->data,
                   m->kind == DS_TEXT ? "text" : m->kind == DS_PAIRS ? "pairs" : "features");
  NN_TRY(R->def->build(&R->model, c, m, &R->P));
  NN_TRY(nn_params_alloc(&R->P, R->be));
  nn_params_reset(&R->P, (uint64_t)c->seed);
  if (R->o.ckpt) {
    snprintf(s.model, sizeof s.model, "%s", c->model);
    NN_TRY(ckpt_load(R->comm, path, &s, &R->P, NULL));
  } else if (c->init_from[0]) {
    struct ckpt_import_report r;
    NN_TRY(ckpt_import(&R->P, c->init_from, &r, R->comm->rank == 0 ? stdout : NULL));
    if (r.matched == 0) return nn_fail(NN_ERR_ARG, "option --init-from %s: no parameter of model %s matched", c->init_from, c->model);
  }
  nn_graph_init(&R->g, R->be, 0);
  R->graph_on = 1;
  R->g.training = 0;
  R->g.grad_enabled = 0;
  /* check --layer now, on one blank image, so that a bad name is a set-up error every rank reports alike */
  uint8_t *px = calloc((size_t)(m->c * m->h * m->w), 1);
  int32_t label = 0;
  int64_t idx = 0;
  struct ds_batch probe = {.n = 1, .pixels = px, .labels = &label, .indices = &idx};
  struct nn_tensor *t = NULL;
  nn_status st2 = px ? R->def->features(R->model, &R->g, &R->P, &probe, R->o.layer, &t) : nn_fail(NN_ERR_OOM, "out of memory");
  free(px);
  nn_graph_reset(&R->g);
  return st2;
}

/* This rank's rows [a, b) of split `split`: their features x(b-a, *F) (malloc'd) and labels. */
static nn_status feat_compute(struct feat_run *R, struct ds_reader *r, int64_t a, int64_t b, float **x, int32_t **labels,
                              int64_t *F) {
  const struct ds_meta *m = ds_get_meta(r);
  int64_t B = R->cfg.batch, row = m->c * m->h * m->w, n = b - a;
  uint8_t *px = malloc((size_t)(B * row));
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)B);
  *labels = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
  *x = NULL;
  nn_status st = px && idx && *labels ? NN_OK : nn_fail(NN_ERR_OOM, "out of memory");
  for (int64_t s = a; st == NN_OK && s < b; s += B) {
    int64_t k = b - s < B ? b - s : B;
    for (int64_t i = 0; i < k; i++) idx[i] = s + i;
    struct ds_batch batch = {.n = k, .pixels = px, .labels = *labels + (s - a), .indices = idx};
    st = ds_read_images(r, idx, k, px, batch.labels);
    nn_graph_reset(&R->g);
    struct nn_tensor *t = NULL;
    if (st == NN_OK) st = R->def->features(R->model, &R->g, &R->P, &batch, R->o.layer, &t);
    if (st == NN_OK && (!t || t->ndim != 2 || t->shape[0] != k))
      st = nn_fail(NN_ERR_STATE, "features: layer %s did not give one row per example", R->o.layer);
    if (st == NN_OK && !*x) {
      *F = t->shape[1];
      if (!(*x = malloc(sizeof(float) * (size_t)(n * *F)))) st = nn_fail(NN_ERR_OOM, "out of memory for %lld x %lld features", (long long)n, (long long)*F);
    }
    if (st == NN_OK) nn_be_to_host(R->g.be, *x + (s - a) * *F, t->data, sizeof(float) * (size_t)(k * *F));
  }
  free(px);
  free(idx);
  return st;
}

/* Compute and write this rank's shard of every split (collective agreement on errors after each split). */
static nn_status feat_splits(struct feat_run *R) {
  struct comm *cm = R->comm;
  char names[DS_MAX_SPLITS][16];
  int nsplits = 0;
  if (R->o.splits) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", R->o.splits);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && nsplits < DS_MAX_SPLITS; t = strtok_r(NULL, ",", &save))
      snprintf(names[nsplits++], 16, "%s", t);
  } else {
    NN_TRY(ds_list_splits(R->cfg.data, names, DS_MAX_SPLITS, &nsplits));
  }
  const struct ds_meta *bm = ds_get_meta(R->base);
  uint64_t h = feat_fnv(feat_fnv(feat_fnv(0xcbf29ce484222325ull, bm->id), R->cfg.model), R->o.layer);
  h = feat_fnv(h, R->o.ckpt ? R->o.ckpt : R->cfg.init_from[0] ? R->cfg.init_from : "random");
  char seed[32];
  snprintf(seed, sizeof seed, "%lld", (long long)R->cfg.seed);
  h = feat_fnv(h, seed);
  char source[3 * CFG_STR];
  snprintf(source, sizeof source, "features of %.200s, layer %.60s of model %.60s (%.200s)", R->cfg.data, R->o.layer,
           R->cfg.model, R->o.ckpt ? R->o.ckpt : R->cfg.init_from[0] ? R->cfg.init_from : "random initialisation");
  struct ds_spec sp = {.meta = {.kind = DS_FEATURES, .nclasses = bm->nclasses, .class_names = bm->class_names}, .source = source};
  snprintf(sp.meta.id, sizeof sp.meta.id, "features-%016llx", (unsigned long long)h);
  snprintf(sp.meta.layer, sizeof sp.meta.layer, "%s", R->o.layer);
  int64_t F0 = -1;
  for (int i = 0; i < nsplits; i++) {
    struct ds_reader *r = NULL;
    double t0 = feat_now();
    nn_status st = ds_open(&r, R->cfg.data, names[i]), any;
    int64_t count = st == NN_OK ? ds_get_meta(r)->count : 0, F = 0;
    if (st == NN_OK && ds_get_meta(r)->kind != DS_IMAGE) st = nn_fail(NN_ERR_ARG, "--data %s: split %s is not images", R->cfg.data, names[i]);
    if (st == NN_OK && count < cm->size)
      st = nn_fail(NN_ERR_ARG, "--data %s: split %s has %lld examples, fewer than the %d ranks", R->cfg.data, names[i],
                   (long long)count, cm->size);
    int64_t a = count * cm->rank / cm->size, b = count * (cm->rank + 1) / cm->size;
    float *x = NULL;
    int32_t *labels = NULL;
    if (st == NN_OK) st = feat_compute(R, r, a, b, &x, &labels, &F);
    if (st == NN_OK && F0 >= 0 && F != F0) st = nn_fail(NN_ERR_STATE, "features: split %s gives %lld features, not %lld", names[i], (long long)F, (long long)F0);
    if (st == NN_OK) {
      sp.meta.feature_dim = F0 = F;
      sp.nsplits = 1;
      sp.split[0] = (struct ds_split_data){.name = names[i], .count = count, .features = x, .labels = labels, .base = a};
      st = ds_write_one_shard(R->tmp, &sp, 0, cm->rank, cm->size, 0);
    }
    free(x);
    free(labels);
    if (r) ds_close(r);
    NN_TRY(comm_any_error(cm, st, &any));
    if (any != NN_OK) return st != NN_OK ? st : nn_fail(any, "features: another rank failed on split %s", names[i]);
    if (cm->rank == 0) {
      printf("features: split %-5s %lld examples -> (%lld, %lld) float32, layer %s, %d shard%s, %.1f s\n", names[i],
             (long long)count, (long long)count, (long long)F, R->o.layer, cm->size, cm->size > 1 ? "s" : "", feat_now() - t0);
      fflush(stdout);
    }
  }
  return NN_OK;
}

int features_main(struct comm *cm, int argc, char **argv, int first) {
  struct feat_run R;
  memset(&R, 0, sizeof R);
  R.comm = cm;
  nn_params_init(&R.P);
  int help = 0;
  nn_status st = feat_setup(&R, argc, argv, first, &help), any = NN_OK;
  if (help) {
    if (cm->rank == 0) fputs(feat_usage, stdout);
  } else {
    /* set-up failures: a usage error every rank saw is reported once (exit 2) */
    nn_status cst = comm_any_error(cm, st, &any);
    if (cst != NN_OK) any = st = cst;
    if (any != NN_OK && cm->rank == 0) fprintf(stderr, "attn_train features: %s\n", st != NN_OK ? nn_errmsg() : "another rank failed during set-up");
    if (any == NN_OK) { /* rank 0 prepares the temporary directory */
      snprintf(R.tmp, sizeof R.tmp, "%s.tmp-features", R.o.out);
      if (cm->rank == 0) {
        ds_write_discard(R.tmp); /* a stale one from a killed run */
        st = ds_write_check_out(R.o.out, R.o.force);
        if (st == NN_OK) st = nn_mkdirs(R.tmp, "features output");
      }
      cst = comm_any_error(cm, st, &any);
      if (any != NN_OK || cst != NN_OK) {
        if (cm->rank == 0) fprintf(stderr, "attn_train features: %s\n", nn_errmsg());
        st = any != NN_OK ? any : cst;
      } else {
        st = feat_splits(&R);
        if (st == NN_OK && cm->rank == 0) st = ds_write_commit(R.tmp, R.o.out, R.o.force);
        if (st != NN_OK) {
          fprintf(stderr, "attn_train features: rank %d: %s\n", cm->rank, nn_errmsg());
          if (cm->rank == 0) ds_write_discard(R.tmp);
        } else if (cm->rank == 0) {
          printf("features: wrote %s\n", R.o.out);
        }
        comm_barrier(cm);
      }
    }
  }
  if (R.model) R.def->destroy(R.model);
  if (R.graph_on) nn_graph_destroy(&R.g);
  nn_params_free(&R.P);
  nn_backend_close(R.be);
  if (R.base) ds_close(R.base);
  if (help) return 0;
  return st == NN_OK ? 0 : (any != NN_OK && st == any) || st == NN_ERR_ARG ? 2 : 1;
}
