/*  =========================================================================
    mw_strbuf - a growable string, for text views (tables, the Prometheus
    exposition).  JSON is never pasted together here: documents are built
    with json-c (common/json.h), which escapes strings.
    ========================================================================= */
#ifndef MW_STRBUF_H_INCLUDED
#define MW_STRBUF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _mw_strbuf_t mw_strbuf_t;

mw_strbuf_t *mw_strbuf_new (void);
void mw_strbuf_destroy (mw_strbuf_t **self_p);
//  Append formatted text.  Returns 0, -1 on allocation failure (the buffer
//  then stays failed and mw_strbuf_str returns NULL).
int mw_strbuf_printf (mw_strbuf_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
const char *mw_strbuf_str (mw_strbuf_t *self);
size_t mw_strbuf_len (mw_strbuf_t *self);
//  Hand the string over (caller frees); the buffer is destroyed.
char *mw_strbuf_take (mw_strbuf_t **self_p);

int mw_strbuf_test (bool verbose);

#endif
