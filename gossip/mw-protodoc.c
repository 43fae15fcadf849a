/*  =========================================================================
    mw-protodoc - the message tables of docs/PROTOCOL.md, generated from the
    protocol's one definition (gossip/wire_def.h, through the codec's
    tables), so that the document cannot drift from what the code sends.

    Usage:
      mw-protodoc                  every generated section, with its markers
      mw-protodoc SECTION          one section's text (header, mesh-messages,
                                   update, data-messages, box, data-limits)
      mw-protodoc --update FILE    rewrites each section of FILE between
                                       <!-- BEGIN GENERATED: SECTION -->
                                       <!-- END GENERATED: SECTION -->
                                   keeping the hand-written text around them
                                   (fails if FILE lacks a section or names an
                                   unknown one)

    `make check` runs gossip/protodoc_check.sh, which fails with a diff when
    docs/PROTOCOL.md and this program's output disagree.
    ========================================================================= */
#include "gossip/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  A growing text buffer (the sections are a few KB).
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} text_t;

static void s_put (text_t *t, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_put (text_t *t, const char *fmt, ...)
{
    va_list ap;
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_start (ap, fmt);
        int n = vsnprintf (t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
        va_end (ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->data && t->len + (size_t) n < t->cap) {
            t->len += (size_t) n;
            return;
        }
        size_t cap = (t->cap + (size_t) n + 1) * 2;
        char *grown = (char *) realloc (t->data, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
}

//  A limit as the docs write it: the number, and the definition's name for
//  it when it has one ("64 (`MW_NAME_MAX`)").
static void
s_limit (text_t *t, uint64_t value, const char *name)
{
    s_put (t, "%llu", (unsigned long long) value);
    if (name && (name[0] < '0' || name[0] > '9'))
        s_put (t, " (`%s`)", name);
}

//  "str ≤ 64", "uint32", "bin 8": a field's kind and limit in a few words.
static void
s_kind (text_t *t, const mw_wire_field_t *f, bool names)
{
    const char *name = names ? f->max_name : NULL;
    switch (f->kind) {
    case MW_WIRE_UINT:
        if (f->max == UINT64_MAX)
            s_put (t, "uint64");
        else if (f->max == UINT32_MAX)
            s_put (t, "uint32");
        else {
            s_put (t, "uint ≤ ");
            s_limit (t, f->max, name);
        }
        break;
    case MW_WIRE_BOOL: s_put (t, "uint 0 or 1"); break;
    case MW_WIRE_SIZE:
        s_put (t, "uint ≤ ");
        s_limit (t, f->max, name);
        break;
    case MW_WIRE_ID: s_put (t, "bin %u", f->size); break;
    case MW_WIRE_STR:
        s_put (t, "str ≤ ");
        s_limit (t, f->max, name);
        break;
    case MW_WIRE_BIN:
        s_put (t, "bin ≤ ");
        s_limit (t, f->max, name);
        break;
    case MW_WIRE_BLOB:
        s_put (t, "bin %llu..", (unsigned long long) f->min);
        s_limit (t, f->max, name);
        break;
    case MW_WIRE_LIST:
        s_put (t, "array ≤ ");
        s_limit (t, f->max, name);
        s_put (t, " of %s", f->rec->name);
        break;
    default: s_put (t, "?"); break;
    }
    if (f->since > 1)
        s_put (t, " (since version %u)", f->since);
}

//  The code a decoder gives when the field breaks its limit.
static const char *
s_else (const mw_wire_field_t *f)
{
    switch (f->kind) {
    case MW_WIRE_UINT: return f->max == UINT64_MAX ? "negative: `ERANGE`" : "`ERANGE`";
    case MW_WIRE_BOOL: return "`ERANGE`";
    case MW_WIRE_ID: return "`EMALFORMED`";
    case MW_WIRE_STR: return "`ETOOBIG`; a NUL inside: `EMALFORMED`";
    case MW_WIRE_BLOB: return "`ETOOBIG`; shorter: `EMALFORMED`";
    default: return "`ETOOBIG`";
    }
}

//  Array lengths by version: "14", or "14 (version 1), 15 (version 2)"
//  once a later version adds fields.  `fixed` counts the elements outside
//  these fields (magic .. ts_ms for a message, none for a record).
static void
s_lengths (text_t *t, const mw_wire_field_t *fields, uint32_t n, uint32_t fixed, uint32_t from)
{
    uint32_t last = 0;
    bool several = false;
    for (uint32_t v = from; v <= MW_WIRE_VERSION; v++)
        for (uint32_t i = 0; i < n; i++)
            several |= v > from && fields[i].since == v;
    for (uint32_t v = from; v <= MW_WIRE_VERSION; v++) {
        uint32_t count = fixed;
        for (uint32_t i = 0; i < n; i++)
            count += fields[i].since <= v;
        if (v > from && count == last)
            continue;
        s_put (t, "%s%u", v > from ? ", " : "", count);
        if (several)
            s_put (t, " (version %u)", v);
        last = count;
    }
}

static void
s_section_header (text_t *t)
{
    uint32_t n;
    const mw_wire_field_t *hdr = gossip_wire_header (&n);
    s_put (t, "| # | field | msgpack type | rule |\n|---|---|---|---|\n");
    s_put (t, "| 0 | magic | str | exactly `\"%s\"`, else `EMAGIC` |\n", MW_WIRE_MAGIC);
    if (MW_WIRE_VERSION == 1)
        s_put (t, "| 1 | version | uint | `1`, else `EVERSION` |\n");
    else
        s_put (t, "| 1 | version | uint | 1..%d (senders write %d), else `EVERSION` |\n", MW_WIRE_VERSION,
               MW_WIRE_SEND_VERSION);
    s_put (t, "| 2 | type | uint | 1..%d, else `ETYPE` |\n", MW_MSG_TYPE_MAX);
    for (uint32_t i = 0; i < n; i++) {
        const mw_wire_field_t *f = &hdr[i];
        s_put (t, "| %u | %s | ", 3 + i, f->name);
        s_kind (t, f, false);
        if (f->kind == MW_WIRE_ID)
            s_put (t, " | exactly %u bytes: %s |\n", f->size, f->doc);
        else
            s_put (t, " | %s |\n", f->doc);
    }
}

//  One plane's message table.
static void
s_section_messages (text_t *t, mw_wire_plane_t plane)
{
    uint32_t n_hdr;
    gossip_wire_header (&n_hdr);
    s_put (t, "| type | name | body fields (in order) | updates | array length | plaintext max |\n"
              "|---|---|---|---|---|---|\n");
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        const mw_wire_msg_def_t *def = gossip_wire_def (type);
        if (def->plane != plane)
            continue;
        s_put (t, "| %d | `%s` | ", type, def->ident);
        uint32_t body = def->n_fields - 1;   //  updates is the last
        if (body == 0)
            s_put (t, "(none)");
        for (uint32_t i = 0; i < body; i++) {
            s_put (t, "%s`%s`:", i ? ", " : "", def->fields[i].name);
            s_kind (t, &def->fields[i], false);
        }
        if (def->max_updates == 0)
            s_put (t, " | must be empty (0)");
        else
            s_put (t, " | ≤ %u", def->max_updates);
        s_put (t, " | ");
        s_lengths (t, def->fields, def->n_fields, 3 + n_hdr, def->since);
        s_put (t, " | %zu |\n", def->max_bytes);
    }
}

static void
s_section_record (text_t *t, const mw_wire_record_t *rec)
{
    s_put (t, "Each %s is an array of exactly ", rec->name);
    s_lengths (t, rec->fields, rec->n_fields, 0, 1);
    s_put (t, ":\n\n");
    s_put (t, "| # | field | msgpack type | rule |\n|---|---|---|---|\n");
    for (uint32_t i = 0; i < rec->n_fields; i++) {
        const mw_wire_field_t *f = &rec->fields[i];
        s_put (t, "| %u | %s | ", i, f->name);
        s_kind (t, f, true);
        if (f->kind == MW_WIRE_ID)
            s_put (t, " | exactly %u bytes: %s; else %s |\n", f->size, f->doc, s_else (f));
        else
            s_put (t, " | %s; else %s |\n", f->doc, s_else (f));
    }
}

//  Every distinct rule of one plane's fields (box fields included), with
//  the types that carry it.
static void
s_section_limits (text_t *t, mw_wire_plane_t plane)
{
    s_put (t, "| field | in | limit | else | meaning |\n|---|---|---|---|---|\n");
    const mw_wire_field_t *seen[256];
    size_t n_seen = 0;
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        const mw_wire_msg_def_t *def = gossip_wire_def (type);
        if (def->plane != plane)
            continue;
        for (uint32_t i = 0; i + 1 < def->n_fields; i++) {
            const mw_wire_field_t *f = &def->fields[i];
            bool dup = false;
            for (size_t k = 0; k < n_seen && !dup; k++)
                dup = !strcmp (seen[k]->name, f->name) && seen[k]->kind == f->kind && seen[k]->max == f->max
                      && seen[k]->min == f->min;
            if (dup || n_seen == sizeof seen / sizeof seen[0])
                continue;
            seen[n_seen++] = f;
            s_put (t, "| `%s` | ", f->name);
            //  The types with this same rule.
            int listed = 0;
            for (int u = 1; u <= MW_MSG_TYPE_MAX; u++) {
                const mw_wire_msg_def_t *d = gossip_wire_def (u);
                const mw_wire_field_t *g = gossip_wire_field (u, f->name);
                if (d->plane == plane && g && g->kind == f->kind && g->max == f->max && g->min == f->min)
                    s_put (t, "%s`%s`", listed++ ? ", " : "", d->ident);
            }
            s_put (t, " | ");
            s_kind (t, f, true);
            s_put (t, " | %s | %s |\n", s_else (f), f->doc);
            if (f->kind == MW_WIRE_LIST)
                for (uint32_t k = 0; k < f->rec->n_fields; k++) {
                    const mw_wire_field_t *g = &f->rec->fields[k];
                    s_put (t, "| `%s.%s` | %s | ", f->name, g->name, f->rec->name);
                    s_kind (t, g, true);
                    s_put (t, " | %s | %s |\n", s_else (g), g->doc);
                }
        }
    }
}

typedef struct {
    const char *name;
    void (*write) (text_t *t);
} section_t;

static void
s_w_header (text_t *t)
{
    s_section_header (t);
}
static void
s_w_mesh (text_t *t)
{
    s_section_messages (t, MW_WIRE_PLANE_MESH);
}
static void
s_w_update (text_t *t)
{
    s_section_record (t, gossip_wire_field (MW_MSG_GOSSIP, "updates")->rec);
}
static void
s_w_data (text_t *t)
{
    s_section_messages (t, MW_WIRE_PLANE_DATA);
}
static void
s_w_box (text_t *t)
{
    s_section_record (t, gossip_wire_field (MW_MSG_JOB_RESULT, "boxes")->rec);
}
static void
s_w_camv (text_t *t)
{
    s_section_record (t, gossip_wire_field (MW_MSG_CAM_DIGEST, "camvs")->rec);
}
static void
s_w_cam (text_t *t)
{
    s_section_record (t, gossip_wire_field (MW_MSG_CAM_RECORDS, "cams")->rec);
}
static void
s_w_limits (text_t *t)
{
    s_section_limits (t, MW_WIRE_PLANE_DATA);
}

static void
s_w_pkg (text_t *t)
{
    s_section_messages (t, MW_WIRE_PLANE_PKG);
}
static void
s_w_pkg_limits (text_t *t)
{
    s_section_limits (t, MW_WIRE_PLANE_PKG);
}

static const section_t s_sections[] = {
    {"header", s_w_header},
    {"mesh-messages", s_w_mesh},
    {"update", s_w_update},
    {"data-messages", s_w_data},
    {"box", s_w_box},
    {"data-limits", s_w_limits},
    {"camera-version", s_w_camv},
    {"camera-record", s_w_cam},
    {"pkg-messages", s_w_pkg},
    {"pkg-limits", s_w_pkg_limits},
};
#define SECTIONS (sizeof s_sections / sizeof s_sections[0])

static const section_t *
s_section (const char *name, size_t len)
{
    for (size_t i = 0; i < SECTIONS; i++)
        if (strlen (s_sections[i].name) == len && !memcmp (s_sections[i].name, name, len))
            return &s_sections[i];
    return NULL;
}

static char *
s_read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    text_t t = {0};
    char buf[4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, f)) > 0)
        s_put (&t, "%.*s", (int) n, buf);
    bool err = ferror (f);
    fclose (f);
    if (err || t.failed || !t.data) {
        free (t.data);
        return NULL;
    }
    *len = t.len;
    return t.data;
}

#define BEGIN_MARK "<!-- BEGIN GENERATED: "
#define END_MARK   "<!-- END GENERATED: "

//  Rewrites every section of the file at path; 0, or 1 with a message.
static int
s_update (const char *path)
{
    size_t len = 0;
    char *doc = s_read_file (path, &len);
    if (!doc) {
        fprintf (stderr, "mw-protodoc: cannot read %s\n", path);
        return 1;
    }
    text_t out = {0};
    bool done[SECTIONS] = {false};
    const char *p = doc;
    int rc = 0;
    while (rc == 0) {
        const char *begin = strstr (p, BEGIN_MARK);
        if (!begin) {
            s_put (&out, "%s", p);
            break;
        }
        const char *name = begin + strlen (BEGIN_MARK);
        const char *close = strstr (name, " -->");
        const char *eol = strchr (begin, '\n');
        const section_t *sec = close && eol && close < eol ? s_section (name, (size_t) (close - name)) : NULL;
        char end_mark[128];
        if (sec)
            snprintf (end_mark, sizeof end_mark, "%s%s -->", END_MARK, sec->name);
        const char *end = sec ? strstr (eol, end_mark) : NULL;
        if (!sec || !end) {
            fprintf (stderr, "mw-protodoc: %s: unknown section or no end marker at \"%.60s\"\n", path, begin);
            rc = 1;
            break;
        }
        done[sec - s_sections] = true;
        s_put (&out, "%.*s", (int) (eol + 1 - p), p);   //  text up to and with the begin marker
        sec->write (&out);
        p = end;
    }
    for (size_t i = 0; i < SECTIONS && rc == 0; i++)
        if (!done[i]) {
            fprintf (stderr, "mw-protodoc: %s has no section \"%s\" (%s%s -->)\n", path, s_sections[i].name,
                     BEGIN_MARK, s_sections[i].name);
            rc = 1;
        }
    if (rc == 0 && out.failed)
        rc = 1;
    if (rc == 0 && (out.len != len || memcmp (out.data, doc, len) != 0)) {
        //  Write-temp-rename: a failed write never leaves half a document.
        char tmp[4096];
        snprintf (tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen (tmp, "wb");
        bool ok = f && fwrite (out.data, 1, out.len, f) == out.len;
        ok = f && fclose (f) == 0 && ok;
        if (!ok || rename (tmp, path) != 0) {
            fprintf (stderr, "mw-protodoc: cannot write %s\n", path);
            unlink (tmp);
            rc = 1;
        }
    }
    free (out.data);
    free (doc);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc == 3 && !strcmp (argv[1], "--update"))
        return s_update (argv[2]);
    text_t t = {0};
    if (argc == 2 && argv[1][0] != '-') {
        const section_t *sec = s_section (argv[1], strlen (argv[1]));
        if (!sec) {
            fprintf (stderr, "mw-protodoc: no section %s\n", argv[1]);
            return 1;
        }
        sec->write (&t);
    }
    else if (argc == 1)
        for (size_t i = 0; i < SECTIONS; i++) {
            s_put (&t, "%s%s -->\n", BEGIN_MARK, s_sections[i].name);
            s_sections[i].write (&t);
            s_put (&t, "%s%s -->\n\n", END_MARK, s_sections[i].name);
        }
    else {
        fprintf (stderr, "usage: mw-protodoc [SECTION | --update FILE]\n");
        return 1;
    }
    if (t.failed)
        return 1;
    fwrite (t.data, 1, t.len, stdout);
    free (t.data);
    return 0;
}
