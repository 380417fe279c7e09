/* Unit tests of ckpt (single process): round trip, bad inputs with messages naming the file
 * (truncated or corrupt shard, metadata without shards, other model or shapes, unwritable directory,
 * full disk), export, and import by name from an export, from nested groups and from the PyTorch
 * state_dict fixture tests/ref/state_dict.h5 (tests/ref/gen_state_dict.py). */
#include <CUnit/Basic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include "nn_fault.h"
#include "ckpt_common.h"
#include "ckpt_impl.h"
#include "comm.h"
#include "fixture.h"

static struct comm C;
static char ROOT[256];

/* ROOT/name. */
static const char *at(const char *name) {
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", ROOT, name);
  return buf[k];
}

static int has(const char *msg, const char *part) {
  if (strstr(msg, part)) return 1;
  fprintf(stderr, "\n  message '%s' lacks '%s'\n", msg, part);
  return 0;
}

/* Save model+Adam filled with key under dir at step. */
static nn_status save_filled(const char *dir, int64_t step, uint32_t key, int keep) {
  struct nn_params P;
  struct nn_optim o;
  ck_model(&P, 3001, 0);
  ck_adam(&o, &P);
  ck_fill(&P, &o, key);
  struct ckpt_state s = ck_state(step);
  nn_status st = ckpt_save(&C, dir, &s, &P, &o, keep);
  nn_optim_free(&o);
  nn_params_free(&P);
  return st;
}

/* Load path into a fresh model+Adam; returns the status, *diff the differing elements against key. */
static nn_status load_fresh(const char *path, uint32_t key, int64_t *diff, struct ckpt_state *s) {
  struct nn_params P;
  struct nn_optim o;
  ck_model(&P, 3001, 0);
  ck_adam(&o, &P);
  memset(s, 0, sizeof *s);
  nn_status st = ckpt_load(&C, path, s, &P, &o);
  if (diff) *diff = ck_diff(&P, &o, key);
  nn_optim_free(&o);
  nn_params_free(&P);
  return st;
}

static void test_roundtrip(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", at("rt"));
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 5, 1, 0), NN_OK);
  struct ckpt_state s, want = ck_state(5);
  int64_t diff = -1;
  char step5[600];
  snprintf(step5, sizeof step5, "%s/step_00000005", dir);
  CU_ASSERT_EQUAL(load_fresh(step5, 1, &diff, &s), NN_OK);
  CU_ASSERT_EQUAL(diff, 0);
  CU_ASSERT(ck_state_eq(&s, &want));
  CU_ASSERT_EQUAL(s.nranks, 1);
  char out[512], link[64] = "";
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT_STRING_EQUAL(out, step5);
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 0, out, sizeof out), NN_OK); /* a root: its latest */
  CU_ASSERT_STRING_EQUAL(out, step5);
  CU_ASSERT(readlink(at("rt/latest"), link, sizeof link - 1) > 0);
  CU_ASSERT_STRING_EQUAL(link, "step_00000005");
  /* saving the same step again replaces it */
  CU_ASSERT_EQUAL(save_filled(dir, 5, 2, 0), NN_OK);
  CU_ASSERT_EQUAL(load_fresh(step5, 2, &diff, &s), NN_OK);
  CU_ASSERT_EQUAL(diff, 0);
  CU_ASSERT_NOT_EQUAL(ckpt_resolve(&C, at("nothing"), 0, out, sizeof out), NN_OK);
  CU_ASSERT(has(nn_errmsg(), at("nothing")));
  CU_ASSERT_EQUAL(ckpt_resolve(&C, at("nothing"), 1, out, sizeof out), NN_ERR_IO);
}

/* Checkpoints at steps 1 and 2 of dir, the second damaged by fn; load of step 2 fails naming
 * `file` (and `why`), resolve auto falls back to step 1. */
static void damaged(const char *dir, void (*fn)(const char *shard), const char *why) {
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 1, 1, 0), NN_OK);
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 2, 2, 0), NN_OK);
  char step2[512], shard[600], out[512];
  snprintf(step2, sizeof step2, "%s/step_00000002", dir);
  snprintf(shard, sizeof shard, "%s/shard-00000-of-00001.h5", step2);
  fn(shard);
  struct ckpt_state s;
  CU_ASSERT_NOT_EQUAL(load_fresh(step2, 2, NULL, &s), NN_OK);
  CU_ASSERT(has(nn_errmsg(), shard));
  CU_ASSERT(has(nn_errmsg(), why));
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000001"));
}

static void truncate_half(const char *shard) {
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(shard, &st), 0);
  CU_ASSERT_EQUAL(truncate(shard, st.st_size / 2), 0);
}

static void flip_params(const char *shard) { CU_ASSERT_EQUAL(ck_flip_byte(shard, "params"), 0); }
static void flip_opt_v(const char *shard) { CU_ASSERT_EQUAL(ck_flip_byte(shard, "opt_v"), 0); }
static void unlink_shard(const char *shard) { CU_ASSERT_EQUAL(unlink(shard), 0); }

/* (main opened a truncated shard with HDF5: "cannot open"; now its size against meta.h5 says so first) */
static void test_truncated_shard(void) { damaged(at("trunc"), truncate_half, "truncated"); }
static void test_corrupt_shard(void) {
  damaged(at("flip"), flip_params, "checksum");
  damaged(at("flipv"), flip_opt_v, "checksum");
  /* the Fletcher32 checksums of the datasets are there too: reading the shard names the dataset */
  char step2[600];
  snprintf(step2, sizeof step2, "%s/step_00000002", at("flipv"));
  struct ckpt_meta m;
  CU_ASSERT_EQUAL_FATAL(ckpt_meta_read(step2, &m), NN_OK);
  CU_ASSERT_NOT_EQUAL(ckpt_shard_verify(step2, &m, 0), NN_OK);
  CU_ASSERT(has(nn_errmsg(), "opt_v"));
  ckpt_meta_free(&m);
}
static void test_meta_without_shards(void) { damaged(at("noshard"), unlink_shard, "missing"); }

static void test_other_model(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", at("other"));
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 3, 3, 0), NN_OK);
  char path[600];
  snprintf(path, sizeof path, "%s/step_00000003", dir);
  struct nn_params P;
  struct nn_optim o;
  struct ckpt_state s;
  ck_model(&P, 3001, 0);
  ck_adam(&o, &P);
  memset(&s, 0, sizeof s);
  snprintf(s.model, sizeof s.model, "gpt");
  CU_ASSERT_EQUAL(ckpt_load(&C, path, &s, &P, &o), NN_ERR_FORMAT);
  CU_ASSERT(has(nn_errmsg(), "meta.h5") && has(nn_errmsg(), "'tiny'") && has(nn_errmsg(), "'gpt'"));
  memset(&s, 0, sizeof s);
  struct nn_optim sgd;
  struct nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_SGD);
  cfg.momentum = 0.9f;
  CU_ASSERT_EQUAL_FATAL(nn_optim_init(&sgd, &P, &cfg), NN_OK);
  CU_ASSERT_EQUAL(ckpt_load(&C, path, &s, &P, &sgd), NN_ERR_FORMAT);
  CU_ASSERT(has(nn_errmsg(), "'adam'") && has(nn_errmsg(), "'sgd'"));
  CU_ASSERT_EQUAL(ckpt_load(&C, path, &s, &P, NULL), NN_OK); /* parameters only */
  nn_optim_free(&sgd);
  nn_optim_free(&o);
  nn_params_free(&P);
  ck_model(&P, 3001, 1); /* enc.fc.weight (6,13) */
  CU_ASSERT_EQUAL(ckpt_load(&C, path, &s, &P, NULL), NN_ERR_FORMAT);
  CU_ASSERT(has(nn_errmsg(), "meta.h5") && has(nn_errmsg(), "enc.fc.weight (5,13)"));
  nn_params_free(&P);
  ck_model(&P, 3002, 0); /* another size */
  CU_ASSERT_EQUAL(ckpt_load(&C, path, &s, &P, NULL), NN_ERR_FORMAT);
  CU_ASSERT(has(nn_errmsg(), "tok.big.weight"));
  nn_params_free(&P);
}

static void test_unwritable(void) {
  FILE *f = fopen(at("plainfile"), "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fclose(f);
  CU_ASSERT_EQUAL(save_filled(at("plainfile/ckpt"), 1, 1, 0), NN_ERR_IO);
  CU_ASSERT(has(nn_errmsg(), "plainfile"));
  /* a full disk, as a file size limit (an in-process ENOSPC is not possible without root; HDF5 1.10
   * cannot survive a write failing inside H5Fclose, so ckpt checks space before writing) */
  char dir[512];
  snprintf(dir, sizeof dir, "%s", at("full"));
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 1, 1, 0), NN_OK);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 16384;
  signal(SIGXFSZ, SIG_IGN);
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
  nn_status st = save_filled(dir, 2, 2, 0);
  setrlimit(RLIMIT_FSIZE, &old);
  CU_ASSERT_NOT_EQUAL(st, NN_OK);
  CU_ASSERT(has(nn_errmsg(), "shard-00000-of-00001.h5"));
  CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0); /* no HDF5 file left open */
  struct stat sb;
  CU_ASSERT_NOT_EQUAL(stat(at("full/step_00000002.tmp"), &sb), 0);
  CU_ASSERT_NOT_EQUAL(stat(at("full/step_00000002"), &sb), 0);
  char out[512];
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000001"));
  int64_t diff = -1;
  struct ckpt_state s;
  CU_ASSERT_EQUAL(load_fresh(out, 1, &diff, &s), NN_OK);
  CU_ASSERT_EQUAL(diff, 0);
}

static void test_keep_and_leftovers(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", at("keep"));
  for (int k = 1; k <= 4; k++) CU_ASSERT_EQUAL(save_filled(dir, k * 10, (uint32_t)k, 2), NN_OK);
  struct stat sb;
  CU_ASSERT_NOT_EQUAL(stat(at("keep/step_00000010"), &sb), 0);
  CU_ASSERT_NOT_EQUAL(stat(at("keep/step_00000020"), &sb), 0);
  CU_ASSERT_EQUAL(stat(at("keep/step_00000030"), &sb), 0);
  CU_ASSERT_EQUAL(stat(at("keep/step_00000040"), &sb), 0);
  /* a killed writer's temporary directory (newer, with a valid-looking meta.h5) is ignored, then removed */
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "cp -r %s/step_00000040 %s/step_00000050.tmp", dir, dir);
  CU_ASSERT_EQUAL(system(cmd), 0);
  char out[512];
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000040"));
  CU_ASSERT_EQUAL(save_filled(dir, 45, 5, 2), NN_OK);
  CU_ASSERT_NOT_EQUAL(stat(at("keep/step_00000050.tmp"), &sb), 0);
  CU_ASSERT_NOT_EQUAL(stat(at("keep/step_00000030"), &sb), 0);
}

/* ---- export and import ---- */

static void test_export_import(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", at("exp"));
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 7, 7, 0), NN_OK);
  CU_ASSERT_EQUAL_FATAL(ckpt_export(dir, at("exp.h5")), NN_OK); /* the root: its latest */
  struct nn_params P;
  ck_model(&P, 3001, 0);
  memset(P.data, 0, sizeof(float) * (size_t)P.total);
  struct ckpt_import_report r;
  CU_ASSERT_EQUAL(ckpt_import(&P, at("exp.h5"), &r, NULL), NN_OK);
  CU_ASSERT_EQUAL(r.matched, P.n);
  CU_ASSERT_EQUAL(r.missing + r.mismatched + r.unused, 0);
  CU_ASSERT_EQUAL(ck_diff(&P, NULL, 7), 0);
  nn_params_free(&P);
  /* another model: enc.fc with 6 outputs (2 mismatched), head.ln (2 matched), new.proj (missing) */
  nn_params_init(&P);
  nn_declare_linear(&P, "enc.fc", 13, 6, 1);
  nn_declare_layernorm(&P, "head.ln", 5);
  nn_declare_linear(&P, "new.proj", 4, 4, 0);
  CU_ASSERT_EQUAL_FATAL(nn_params_alloc(&P, &nn_cpu_backend), NN_OK);
  for (int64_t i = 0; i < P.total; i++) P.data[i] = 42.0f;
  char *txt = NULL;
  size_t len = 0;
  FILE *rep = open_memstream(&txt, &len);
  CU_ASSERT_EQUAL(ckpt_import(&P, at("exp.h5"), &r, rep), NN_OK);
  fclose(rep);
  CU_ASSERT_EQUAL(r.matched, 2);
  CU_ASSERT_EQUAL(r.mismatched, 2);
  CU_ASSERT_EQUAL(r.missing, 1);
  CU_ASSERT_EQUAL(r.unused, 3); /* emb.weight, bn.running_mean, tok.big.weight */
  CU_ASSERT(has(txt, "2 of 5 parameters"));
  CU_ASSERT(has(txt, "enc.fc.weight: model (6,13), file (5,13)"));
  CU_ASSERT(has(txt, "missing in file (1): new.proj.weight"));
  CU_ASSERT(has(txt, "bn.running_mean") && has(txt, "tok.big.weight"));
  free(txt);
  int ln = nn_params_find(&P, "head.ln.weight"), fc = nn_params_find(&P, "enc.fc.weight");
  struct nn_params Q; /* offsets of the saved model */
  ck_model(&Q, 3001, 0);
  int qln = nn_params_find(&Q, "head.ln.weight");
  for (int64_t i = 0; i < 5; i++) {
    float want = ck_value(7, 0, Q.p[qln].offset + i);
    CU_ASSERT_EQUAL(memcmp(&P.p[ln].t.data[i], &want, 4), 0);
  }
  CU_ASSERT_EQUAL(P.p[fc].t.data[0], 42.0f); /* mismatched: left as it was */
  nn_params_free(&Q);
  nn_params_free(&P);
}

static void test_import_groups_and_bad_file(void) {
  hid_t f = H5Fcreate(at("groups.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2(f, "head/ln", lcpl, H5P_DEFAULT, H5P_DEFAULT); /* head.ln.bias as groups */
  H5Pclose(lcpl);
  hsize_t n = 5;
  double x[5] = {1, 2, 3, 4, 5}; /* float64 in the file: converted */
  hid_t sp = H5Screate_simple(1, &n, NULL), d = H5Dcreate2(g, "bias", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Dclose(d);
  H5Sclose(sp);
  H5Gclose(g);
  H5Fclose(f);
  struct nn_params P;
  ck_model(&P, 3001, 0);
  struct ckpt_import_report r;
  CU_ASSERT_EQUAL(ckpt_import(&P, at("groups.h5"), &r, NULL), NN_OK);
  CU_ASSERT_EQUAL(r.matched, 1);
  CU_ASSERT_EQUAL(r.missing, P.n - 1);
  CU_ASSERT_EQUAL(r.unused, 0);
  int b = nn_params_find(&P, "head.ln.bias");
  CU_ASSERT_EQUAL(P.p[b].t.data[4], 5.0f);
  FILE *t = fopen(at("notes.txt"), "w");
  fputs("not hdf5\n", t);
  fclose(t);
  CU_ASSERT_EQUAL(ckpt_import(&P, at("notes.txt"), &r, NULL), NN_ERR_IO);
  CU_ASSERT(has(nn_errmsg(), "notes.txt"));
  CU_ASSERT_EQUAL(ckpt_import(&P, at("absent.h5"), &r, NULL), NN_ERR_IO);
  CU_ASSERT(has(nn_errmsg(), "absent.h5"));
  CU_ASSERT_NOT_EQUAL(ckpt_export(at("absent"), at("x.h5")), NN_OK);
  CU_ASSERT(has(nn_errmsg(), "absent"));
  nn_params_free(&P);
}

/* The module of tests/ref/gen_state_dict.py, declared with attn_train's PyTorch-named helpers. */
static void declare_tiny(struct nn_params *P) {
  nn_params_init(P);
  nn_declare_embedding(P, "emb", 11, 8);
  nn_declare_linear(P, "enc.0", 8, 16, 1);
  nn_declare_linear(P, "enc.2", 16, 8, 1);
  nn_declare_layernorm(P, "ln", 8);
  nn_declare_conv2d(P, "conv", 3, 4, 3, 1);
  nn_param_declare(P, "bn.weight", 1, NN_SHAPE(4), NN_INIT_ONES, 0, 0);
  nn_param_declare(P, "bn.bias", 1, NN_SHAPE(4), NN_INIT_ZEROS, 0, 0);
  nn_declare_buffer(P, "bn.running_mean", 1, NN_SHAPE(4), NN_INIT_ZEROS);
  nn_declare_buffer(P, "bn.running_var", 1, NN_SHAPE(4), NN_INIT_ONES);
  nn_declare_linear(P, "head", 8, 5, 1);
  NN_ASSERT(nn_params_alloc(P, &nn_cpu_backend) == NN_OK, "out of memory");
  nn_params_reset(P, 1);
}

static void test_import_state_dict(void) {
  hid_t fx = fx_open("state_dict.h5");
  CU_ASSERT_FATAL(fx >= 0);
  struct nn_params P;
  declare_tiny(&P);
  struct ckpt_import_report r;
  char *txt = NULL;
  size_t len = 0;
  FILE *rep = open_memstream(&txt, &len);
  CU_ASSERT_EQUAL(ckpt_import(&P, "ref/state_dict.h5", &r, rep), NN_OK);
  fclose(rep);
  CU_ASSERT_EQUAL(r.matched, P.n);
  CU_ASSERT_EQUAL(r.missing, 0);
  CU_ASSERT_EQUAL(r.mismatched, 0);
  CU_ASSERT_EQUAL(r.unused, 1);
  CU_ASSERT(has(txt, "unused in file (1): bn.num_batches_tracked"));
  free(txt);
  for (int i = 0; i < P.n; i++) {
    int64_t n = 0;
    float *want = fx_floats(fx, P.p[i].name, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_EQUAL(n, P.p[i].t.numel);
    CU_ASSERT_EQUAL(memcmp(P.p[i].t.data, want, sizeof(float) * (size_t)n), 0);
    free(want);
  }
  nn_params_free(&P);
  H5Fclose(fx);
}

/* Directory names of root whose names start with step_, sorted, joined by spaces, into out. */
static void names_of(const char *root, char *out, size_t len) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep '^step_' | sort | tr '\\n' ' '", root);
  FILE *p = popen(cmd, "r");
  size_t k = p ? fread(out, 1, len - 1, p) : 0;
  out[k] = 0;
  if (p) pclose(p);
}

/* A new run in a directory holding an older run's higher-numbered checkpoints: resume auto takes what
 * was written last (the new run's), pruning removes only the new run's own old checkpoints.
 * (main: resume took the old run's step 20, and pruning deleted the new run's newest.) */
static void test_lineage(void) {
  char dir[512], out[600], names[600];
  snprintf(dir, sizeof dir, "%s", at("lineage"));
  ckpt_lineage_reset();
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 10, 1, 2), NN_OK);
  CU_ASSERT_EQUAL_FATAL(save_filled(dir, 20, 2, 2), NN_OK);
  ckpt_lineage_reset(); /* a new run, not resuming, same directory */
  for (int s = 1; s <= 3; s++) CU_ASSERT_EQUAL_FATAL(save_filled(dir, s, 10 + (uint32_t)s, 2), NN_OK);
  names_of(dir, names, sizeof names);
  CU_ASSERT_STRING_EQUAL(names, "step_00000002 step_00000003 step_00000010 step_00000020 ");
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000003"));
  struct ckpt_state s;
  int64_t diff = -1;
  CU_ASSERT_EQUAL(load_fresh(out, 13, &diff, &s), NN_OK);
  CU_ASSERT_EQUAL(diff, 0);
  CU_ASSERT_EQUAL(s.seq, 3);
  /* latest dangling (its target removed by hand): the newest written complete one, not the highest step */
  char p[600];
  snprintf(p, sizeof p, "%s/step_00000003", dir);
  ck_rmrf(p);
  CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000002"));
  /* resuming continues the lineage: its next save prunes its own, still not the other run's */
  CU_ASSERT_EQUAL(load_fresh(out, 12, &diff, &s), NN_OK);
  CU_ASSERT_EQUAL(save_filled(dir, 4, 14, 1), NN_OK);
  names_of(dir, names, sizeof names);
  CU_ASSERT_STRING_EQUAL(names, "step_00000004 step_00000010 step_00000020 ");
  ckpt_lineage_reset();
}

/* A shard replaced by a valid shard of another save of the same step (Fletcher32 intact): the CRC-32
 * in meta.h5 catches it (main: accepted and loaded the wrong values). */
static void test_swapped_shard(void) {
  char a[512], b[512], cmd[1400], out[600];
  snprintf(a, sizeof a, "%s", at("swapA"));
  snprintf(b, sizeof b, "%s", at("swapB"));
  CU_ASSERT_EQUAL_FATAL(save_filled(a, 1, 1, 0), NN_OK);
  CU_ASSERT_EQUAL_FATAL(save_filled(a, 2, 2, 0), NN_OK);
  CU_ASSERT_EQUAL_FATAL(save_filled(b, 2, 3, 0), NN_OK);
  snprintf(cmd, sizeof cmd, "cp %s/step_00000002/shard-00000-of-00001.h5 %s/step_00000002/", b, a);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  CU_ASSERT_EQUAL(ckpt_resolve(&C, a, 1, out, sizeof out), NN_OK);
  CU_ASSERT(has(out, "step_00000001"));
  int bad = -1;
  char *txt = NULL;
  size_t len = 0;
  FILE *rep = open_memstream(&txt, &len);
  CU_ASSERT_EQUAL(ckpt_verify(a, NULL, rep, &bad), NN_OK);
  CU_ASSERT_EQUAL(ckpt_list(a, rep), NN_OK);
  fclose(rep);
  CU_ASSERT_EQUAL(bad, 1);
  CU_ASSERT(has(txt, "step_00000002: FAILED") && has(txt, "CRC-32"));
  CU_ASSERT(has(txt, "step_00000001: complete"));
  CU_ASSERT(has(txt, "INCOMPLETE (latest)"));
  free(txt);
}

/* Saving the same step again, killed (SIGKILL from ATTN_FAULT) between the two renames or before latest
 * moves: resume auto finds a complete copy, and the next save puts the old copy back instead of pruning
 * it (main: latest dangled and the next prune deleted the .old copy, the only complete one). */
static void test_resave_killed(void) {
  const char *phases[] = {"ckpt_between_renames:5", "ckpt_before_latest:5", "ckpt_after_meta:5", "ckpt_after_shard:5"};
  for (int k = 0; k < 4; k++) {
    char dir[512], out[600], name[32];
    snprintf(name, sizeof name, "resave%d", k);
    snprintf(dir, sizeof dir, "%s", at(name));
    ckpt_lineage_reset();
    CU_ASSERT_EQUAL_FATAL(save_filled(dir, 4, 4, 0), NN_OK);
    CU_ASSERT_EQUAL_FATAL(save_filled(dir, 5, 5, 0), NN_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* the killed writer: saves step 5 again with other values */
      setenv("ATTN_FAULT", phases[k], 1);
      nn_fault_reset();
      save_filled(dir, 5, 6, 0);
      _exit(0);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CU_ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    CU_ASSERT_EQUAL(ckpt_resolve(&C, dir, 1, out, sizeof out), NN_OK);
    struct ckpt_state s;
    int64_t d5 = -1, d6 = -1;
    CU_ASSERT_EQUAL(load_fresh(out, 5, &d5, &s), NN_OK);
    load_fresh(out, 6, &d6, &s);
    CU_ASSERT(d5 == 0 || (k == 1 && d6 == 0)); /* the old copy, or (renamed in place) the new one */
    CU_ASSERT_EQUAL(s.step, 5);
    /* the next save (step 6, keep 2) keeps a complete step 5 */
    CU_ASSERT_EQUAL(save_filled(dir, 6, 7, 2), NN_OK);
    char p[600];
    snprintf(p, sizeof p, "%s/step_00000005", dir);
    CU_ASSERT_EQUAL(load_fresh(p, k == 1 ? 6 : 5, &d5, &s), NN_OK);
    CU_ASSERT_EQUAL(d5, 0);
  }
  ckpt_lineage_reset();
}

/* Set-up checks name the flag: an uncreatable --ckpt-dir, --resume of nothing, --resume auto alone. */
static void test_setup_checks(void) {
  struct nn_params P;
  struct nn_optim o;
  ck_model(&P, 3001, 0);
  ck_adam(&o, &P);
  CU_ASSERT_EQUAL(ckpt_check_setup("/proc/x", "", 0, &P, &o, 2), NN_ERR_ARG);
  CU_ASSERT(has(nn_errmsg(), "--ckpt-dir /proc/x"));
  CU_ASSERT_EQUAL(ckpt_check_setup(NULL, "/nonexistent", 0, &P, &o, 2), NN_ERR_ARG);
  CU_ASSERT(has(nn_errmsg(), "--resume /nonexistent"));
  CU_ASSERT_EQUAL(ckpt_check_setup("", "auto", 0, &P, &o, 2), NN_ERR_ARG);
  CU_ASSERT(has(nn_errmsg(), "--ckpt-dir"));
  CU_ASSERT_EQUAL(ckpt_check_setup(at("setup/ok"), "", 0, &P, &o, 2), NN_OK);
  nn_optim_free(&o);
  nn_params_free(&P);
}

int main(int argc, char **argv) {
  if (comm_init(&C, &argc, &argv) != NN_OK) {
    fprintf(stderr, "%s\n", nn_errmsg());
    return 1;
  }
  snprintf(ROOT, sizeof ROOT, "/tmp/test_ckpt_XXXXXX");
  if (!mkdtemp(ROOT)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("ckpt", NULL, NULL);
  CU_add_test(s, "save/load round trip of every buffer and field", test_roundtrip);
  CU_add_test(s, "truncated shard: error naming it, auto falls back", test_truncated_shard);
  CU_add_test(s, "flipped byte: checksum error naming the shard, auto falls back", test_corrupt_shard);
  CU_add_test(s, "metadata without its shard", test_meta_without_shards);
  CU_add_test(s, "checkpoint of another model, optimizer or shapes", test_other_model);
  CU_add_test(s, "unwritable directory and full disk leave earlier checkpoints", test_unwritable);
  CU_add_test(s, "keep prunes, killed writers' temporaries are ignored", test_keep_and_leftovers);
  CU_add_test(s, "export then import; mismatched names and shapes", test_export_import);
  CU_add_test(s, "import from nested groups, float64, bad files", test_import_groups_and_bad_file);
  CU_add_test(s, "import of a PyTorch state_dict", test_import_state_dict);
  CU_add_test(s, "lineage: a new run's checkpoints beside an older run's higher steps", test_lineage);
  CU_add_test(s, "a valid shard of another save: CRC-32 mismatch, verify and list say so", test_swapped_shard);
  CU_add_test(s, "re-saving a step killed in each phase: a complete copy survives", test_resave_killed);
  CU_add_test(s, "set-up checks of --ckpt-dir and --resume name the flag", test_setup_checks);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  int failures = (int)CU_get_number_of_failures();
  CU_cleanup_registry();
  if (failures == 0) ck_rmrf(ROOT);
  else fprintf(stderr, "test files kept in %s\n", ROOT);
  comm_finalize(&C);
  return failures ? 1 : 0;
}
