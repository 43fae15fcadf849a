/*  =========================================================================
    mw_net - a model as a flat list of layers: the contract between the
    model builders (tiny_face.c, ssd_mobilenet.c) and the backends.

    A model builder turns the dequantised weights into an mw_net_t for one
    input size: tensor descriptors (NHWC, batch 1, float32) and layers that
    read one tensor and write another, with every padding already resolved
    to explicit top/left/bottom/right amounts (TF SAME/VALID rules applied
    here, once) and batch-norm already folded into per-channel weights and
    biases.  A backend only has to implement three ops:

      MW_OP_CONV     k x k convolution (k = 1 or 3), stride s, explicit zero
                     padding, HWIO weights [k][k][cin][cout], optional bias,
                     activation.  k = 1, s = 1 is a plain GEMM on NHWC.
      MW_OP_DWCONV   3x3 depthwise, stride s, explicit zero padding, weights
                     [3][3][c], optional bias, activation.
      MW_OP_MAXPOOL  k x k max pool, stride s, explicit padding where the
                     padded cells are ignored (TF SAME).

    Activations: none, ReLU6 (clip 0..6), leaky 0.1 computed as tfjs does
    (relu(x - 0.1x) + 0.1x).

    A tensor may be a view into a root tensor at an element offset: that is
    how the SSD box predictors write straight into one [5118,4] boxes and
    one [5118,3] scores output (their concatenation is free).  The net has
    one input tensor and up to MW_NET_MAX_OUTPUTS outputs.
    ========================================================================= */
#ifndef MW_NET_H_INCLUDED
#define MW_NET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define MW_NET_MAX_OUTPUTS 4

typedef enum { MW_OP_CONV = 0, MW_OP_DWCONV, MW_OP_MAXPOOL } mw_op_t;
typedef enum { MW_ACT_NONE = 0, MW_ACT_RELU6, MW_ACT_LEAKY } mw_act_t;

typedef struct {
    int h, w, c;
    int parent;      //  -1: a root tensor with its own storage
    size_t offset;   //  element offset into the parent (views only)
} mw_tdesc_t;

typedef struct {
    mw_op_t op;
    int in, out;   //  tensor ids
    int k, stride;
    int pad_t, pad_l, pad_b, pad_r;
    mw_act_t act;
    int cin, cout;          //  cout == cin for DWCONV and MAXPOOL
    const float *weights;   //  CONV: [k][k][cin][cout]; DWCONV: [3][3][c]; MAXPOOL: NULL
    const float *bias;      //  [cout] or NULL
    char name[48];
    double flops;   //  multiply-adds x 2 (for the benchmark)
} mw_layer_t;

typedef struct {
    mw_tdesc_t *tensors;
    int ntensors;
    mw_layer_t *layers;
    int nlayers;
    int input;   //  tensor id, [S,S,3]
    int outputs[MW_NET_MAX_OUTPUTS];
    int noutputs;
    //  Storage the builder allocated (folded weights) freed with the net.
    float *owned;
} mw_net_t;

//  Builder helpers (used by the model files).
mw_net_t *mw_net_new (void);
void mw_net_destroy (mw_net_t **self_p);
//  Add a root tensor; returns its id or -1 on allocation failure.
int mw_net_tensor (mw_net_t *self, int h, int w, int c);
//  Add a view of `parent` at `offset` elements; returns its id or -1.
int mw_net_view (mw_net_t *self, int parent, size_t offset, int h, int w, int c);
//  TF padding for one dimension: out size and the before/after pads.
void mw_net_pad_same (int n, int k, int s, int *out, int *before, int *after);
//  Append a layer reading `in`; creates the output tensor (or uses `out` if
//  >= 0, which must have the right shape).  same = TF SAME padding,
//  otherwise `pad` zeros on every side (VALID = 0).  Returns the output
//  tensor id, or -1 (out of memory or a shape mismatch).
int mw_net_add (mw_net_t *self, mw_op_t op, const char *name, int in, int out, int k, int stride, bool same,
                int pad, int cout, const float *weights, const float *bias, mw_act_t act);
//  Total FLOPs of the net.
double mw_net_flops (const mw_net_t *self);
size_t mw_net_tensor_elems (const mw_net_t *self, int id);

int mw_net_test (bool verbose);

#endif
