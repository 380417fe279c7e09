/* nn_jsonl: reading fields of the flat JSON objects in metrics.jsonl lines (plot, sweep). */
#ifndef NN_JSONL_H
#define NN_JSONL_H

/* 1 and *out = the number of "key" in the one-line JSON object line; 0 when absent or not a number. */
int nn_jsonl_num(const char *line, const char *key, double *out);
/* 1 if "key" holds the string val in line. */
int nn_jsonl_is(const char *line, const char *key, const char *val);

#endif
