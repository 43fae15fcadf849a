/*  =========================================================================
    mw_net - the flat layer list shared by the model builders and backends.

    Padding is resolved here once, with TensorFlow's rules, so that no
    backend has to know what SAME means:
        out = ceil(n / s), pad_total = max((out - 1) * s + k - n, 0),
        before = pad_total / 2, after = pad_total - before.
    Explicit symmetric padding (tfjs `tf.pad` then VALID, as TinyFaceDetector
    does) is given as `pad` on all sides: out = (n + 2 pad - k) / s + 1.
    ========================================================================= */
#include "inference/net.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mw_net_t *
mw_net_new (void)
{
    return calloc (1, sizeof (mw_net_t));
}

void
mw_net_destroy (mw_net_t **self_p)
{
    assert (self_p);
    mw_net_t *self = *self_p;
    if (!self)
        return;
    free (self->tensors);
    free (self->layers);
    free (self->owned);
    free (self);
    *self_p = NULL;
}

static int
s_push_tensor (mw_net_t *self, mw_tdesc_t t)
{
    mw_tdesc_t *n = realloc (self->tensors, (size_t) (self->ntensors + 1) * sizeof (*n));
    if (!n)
        return -1;
    self->tensors = n;
    self->tensors[self->ntensors] = t;
    return self->ntensors++;
}

int
mw_net_tensor (mw_net_t *self, int h, int w, int c)
{
    assert (self && h > 0 && w > 0 && c > 0);
    return s_push_tensor (self, (mw_tdesc_t){h, w, c, -1, 0});
}

int
mw_net_view (mw_net_t *self, int parent, size_t offset, int h, int w, int c)
{
    assert (self && parent >= 0 && parent < self->ntensors && self->tensors[parent].parent == -1);
    assert (offset + (size_t) h * w * c <= mw_net_tensor_elems (self, parent));
    return s_push_tensor (self, (mw_tdesc_t){h, w, c, parent, offset});
}

size_t
mw_net_tensor_elems (const mw_net_t *self, int id)
{
    assert (self && id >= 0 && id < self->ntensors);
    const mw_tdesc_t *t = &self->tensors[id];
    return (size_t) t->h * t->w * t->c;
}

void
mw_net_pad_same (int n, int k, int s, int *out, int *before, int *after)
{
    int o = (n + s - 1) / s;
    int total = (o - 1) * s + k - n;
    if (total < 0)
        total = 0;
    *out = o;
    *before = total / 2;
    *after = total - total / 2;
}

int
mw_net_add (mw_net_t *self, mw_op_t op, const char *name, int in, int out, int k, int stride, bool same,
            int pad, int cout, const float *weights, const float *bias, mw_act_t act)
{
    assert (self && in >= 0 && in < self->ntensors && k >= 1 && stride >= 1);
    const mw_tdesc_t ti = self->tensors[in];
    mw_layer_t l;
    memset (&l, 0, sizeof l);
    l.op = op;
    l.in = in;
    l.k = k;
    l.stride = stride;
    l.act = act;
    l.cin = ti.c;
    l.cout = op == MW_OP_CONV ? cout : ti.c;
    l.weights = weights;
    l.bias = bias;
    snprintf (l.name, sizeof l.name, "%s", name);
    int oh, ow;
    if (same) {
        mw_net_pad_same (ti.h, k, stride, &oh, &l.pad_t, &l.pad_b);
        mw_net_pad_same (ti.w, k, stride, &ow, &l.pad_l, &l.pad_r);
    }
    else {
        l.pad_t = l.pad_l = l.pad_b = l.pad_r = pad;
        oh = (ti.h + 2 * pad - k) / stride + 1;
        ow = (ti.w + 2 * pad - k) / stride + 1;
    }
    if (oh < 1 || ow < 1)
        return -1;
    if (out < 0)
        out = mw_net_tensor (self, oh, ow, l.cout);
    if (out < 0)
        return -1;
    const mw_tdesc_t to = self->tensors[out];
    if (to.h != oh || to.w != ow || to.c != l.cout)
        return -1;
    l.out = out;
    double pixels = (double) oh * ow;
    if (op == MW_OP_CONV)
        l.flops = 2.0 * pixels * k * k * l.cin * l.cout;
    else if (op == MW_OP_DWCONV)
        l.flops = 2.0 * pixels * k * k * l.cin;
    else
        l.flops = pixels * k * k * l.cin;   //  comparisons
    mw_layer_t *nl = realloc (self->layers, (size_t) (self->nlayers + 1) * sizeof (*nl));
    if (!nl)
        return -1;
    self->layers = nl;
    self->layers[self->nlayers++] = l;
    return out;
}

double
mw_net_flops (const mw_net_t *self)
{
    assert (self);
    double f = 0;
    for (int i = 0; i < self->nlayers; i++)
        f += self->layers[i].flops;
    return f;
}

int
mw_net_test (bool verbose)
{
    int fails = 0, o, b, a;
    //  TF SAME examples: 207 -> 104 (pad 0/1), 13 stride 1 k 2 -> 13 (0/1),
    //  512 k3 s2 -> 256 (0/1), 32 k3 s1 -> 32 (1/1).
    mw_net_pad_same (207, 2, 2, &o, &b, &a);
    fails += !(o == 104 && b == 0 && a == 1);
    mw_net_pad_same (13, 2, 1, &o, &b, &a);
    fails += !(o == 13 && b == 0 && a == 1);
    mw_net_pad_same (512, 3, 2, &o, &b, &a);
    fails += !(o == 256 && b == 0 && a == 1);
    mw_net_pad_same (32, 3, 1, &o, &b, &a);
    fails += !(o == 32 && b == 1 && a == 1);
    mw_net_pad_same (414, 2, 2, &o, &b, &a);
    fails += !(o == 207 && b == 0 && a == 0);
    mw_net_t *net = mw_net_new ();
    int in = mw_net_tensor (net, 416, 416, 3);
    int t = mw_net_add (net, MW_OP_CONV, "c0", in, -1, 3, 1, false, 0, 16, NULL, NULL, MW_ACT_LEAKY);
    fails += !(t >= 0 && net->tensors[t].h == 414 && net->tensors[t].c == 16);
    t = mw_net_add (net, MW_OP_MAXPOOL, "p0", t, -1, 2, 2, true, 0, 0, NULL, NULL, MW_ACT_NONE);
    fails += !(t >= 0 && net->tensors[t].h == 207);
    t = mw_net_add (net, MW_OP_DWCONV, "d1", t, -1, 3, 1, false, 1, 0, NULL, NULL, MW_ACT_NONE);
    fails += !(t >= 0 && net->tensors[t].h == 207 && net->tensors[t].c == 16);
    //  A wrongly shaped explicit output is refused.
    int bad = mw_net_tensor (net, 5, 5, 5);
    fails += mw_net_add (net, MW_OP_MAXPOOL, "p1", t, bad, 2, 2, true, 0, 0, NULL, NULL, MW_ACT_NONE) != -1;
    if (verbose)
        printf ("  net: %d layers, %.1f MFLOP\n", net->nlayers, mw_net_flops (net) / 1e6);
    mw_net_destroy (&net);
    fails += net != NULL;
    return fails ? -1 : 0;
}
