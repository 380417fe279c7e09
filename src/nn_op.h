/* nn_op: the list of differentiable ops. Every op here has a gradient-check case
 * (tests/gradcheck); the gradcheck suite fails when one is missing. */
#ifndef NN_OP_H
#define NN_OP_H

enum nn_op {
  /* matmul.c */ NN_OP_MATMUL, NN_OP_LINEAR,
  /* binary.c */ NN_OP_ADD, NN_OP_SUB, NN_OP_MUL, NN_OP_SCALE,
  /* act.c */ NN_OP_RELU, NN_OP_GELU_TANH, NN_OP_GELU_ERF, NN_OP_SILU, NN_OP_SIGMOID, NN_OP_TANH,
  /* softmax.c */ NN_OP_SOFTMAX,
  /* loss.c */ NN_OP_CROSS_ENTROPY,
  /* layernorm.c */ NN_OP_LAYERNORM,
  /* embed.c */ NN_OP_EMBEDDING,
  /* dropout.c */ NN_OP_DROPOUT,
  /* conv.c */ NN_OP_CONV2D,
  /* pool.c */ NN_OP_MAXPOOL2D, NN_OP_AVGPOOL2D, NN_OP_ADAPTIVE_AVGPOOL2D,
  /* bnorm.c */ NN_OP_BATCHNORM2D,
  /* shape.c */ NN_OP_RESHAPE, NN_OP_PERMUTE, NN_OP_NARROW, NN_OP_CONCAT,
  /* reduce.c */ NN_OP_SUM, NN_OP_MEAN,
  /* attn.c */ NN_OP_ATTENTION,
  /* rope.c */ NN_OP_ROPE,
  /* rnn.c */ NN_OP_LSTM_CELL, NN_OP_GRU_CELL,
  /* rnn_seq.c */ NN_OP_LSTM_SEQ,
  /* extra ops: append new ones here, one line each, with the file that defines them */
  NN_OP_COUNT
};

/* Printable name of an op ("matmul"). */
const char *nn_op_name(enum nn_op op);

#endif
