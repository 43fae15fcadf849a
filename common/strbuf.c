/*  =========================================================================
    mw_strbuf - growable string (see strbuf.h).
    ========================================================================= */
#include "common/strbuf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _mw_strbuf_t {
    char *data;
    size_t len, cap;
    bool failed;
};

mw_strbuf_t *
mw_strbuf_new (void)
{
    mw_strbuf_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 256;
    self->data = malloc (self->cap);
    if (!self->data) {
        free (self);
        return NULL;
    }
    self->data[0] = 0;
    return self;
}

void
mw_strbuf_destroy (mw_strbuf_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_reserve (mw_strbuf_t *self, size_t extra)
{
    if (self->failed)
        return -1;
    if (self->len + extra + 1 <= self->cap)
        return 0;
    size_t cap = self->cap;
    while (cap < self->len + extra + 1)
        cap *= 2;
    char *d = realloc (self->data, cap);
    if (!d) {
        self->failed = true;
        return -1;
    }
    self->data = d;
    self->cap = cap;
    return 0;
}

int
mw_strbuf_printf (mw_strbuf_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0 || s_reserve (self, (size_t) n) != 0)
        return -1;
    va_start (ap, fmt);
    vsnprintf (self->data + self->len, self->cap - self->len, fmt, ap);
    va_end (ap);
    self->len += (size_t) n;
    return 0;
}

const char *
mw_strbuf_str (mw_strbuf_t *self)
{
    return self->failed ? NULL : self->data;
}

size_t
mw_strbuf_len (mw_strbuf_t *self)
{
    return self->len;
}

char *
mw_strbuf_take (mw_strbuf_t **self_p)
{
    mw_strbuf_t *self = *self_p;
    char *s = self->failed ? NULL : self->data;
    if (self->failed)
        free (self->data);
    free (self);
    *self_p = NULL;
    return s;
}

int
mw_strbuf_test (bool verbose)
{
    mw_strbuf_t *b = mw_strbuf_new ();
    mw_strbuf_printf (b, "a=%d s=%s", 1, "q");
    for (int i = 0; i < 1000; i++)
        mw_strbuf_printf (b, " ");
    char *s = mw_strbuf_take (&b);
    int ok = s && strncmp (s, "a=1 s=q ", 8) == 0 && strlen (s) == 1007 && !b;
    if (verbose)
        printf ("strbuf: %.40s\n", s ? s : "(null)");
    free (s);
    return ok ? 0 : -1;
}
