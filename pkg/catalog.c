/*  =========================================================================
    pkg_catalog - packages known and held, and the trust state (see
    catalog.h).
    ========================================================================= */
#include "pkg/catalog.h"
#include "pkg/sha.h"
#include "pkg/bits.h"
#include "pkg/file.h"
#include "common/log.h"
#include "common/selftest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_CHUNK (1024 * 1024)

struct _pkg_catalog_t {
    sqlite3 *db;
    char dir[512];
};

static const char *s_states[PKG_STATE_COUNT] = {"available", "fetching", "complete", "corrupt"};

const char *
pkg_state_name (pkg_state_t s)
{
    return s >= 0 && s < PKG_STATE_COUNT ? s_states[s] : "unknown";
}

static int
s_state_parse (const char *s)
{
    for (int i = 0; i < PKG_STATE_COUNT; i++)
        if (s && strcmp (s, s_states[i]) == 0)
            return i;
    return PKG_STATE_AVAILABLE;
}

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS packages ("
    " manifest TEXT PRIMARY KEY,"   //  hex of the manifest digest: the package id
    " name TEXT NOT NULL, version TEXT NOT NULL, variant TEXT NOT NULL, kind TEXT NOT NULL,"
    " seq INTEGER NOT NULL, expires INTEGER NOT NULL, size INTEGER NOT NULL,"
    " piece_size INTEGER NOT NULL, piece_count INTEGER NOT NULL, key_id TEXT NOT NULL,"
    " meta BLOB NOT NULL, sig BLOB NOT NULL, manifest_json BLOB NOT NULL, config BLOB NOT NULL,"
    " pieces BLOB NOT NULL, bitmap BLOB NOT NULL, have INTEGER NOT NULL,"
    " state TEXT NOT NULL, want INTEGER NOT NULL DEFAULT 0, local INTEGER NOT NULL DEFAULT 0,"
    " added_ms INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '', sources INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (name, version));"
    "CREATE TABLE IF NOT EXISTS blobs ("
    " manifest TEXT NOT NULL REFERENCES packages(manifest) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,"
    " offset INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (manifest, idx));"
    "CREATE INDEX IF NOT EXISTS blobs_digest ON blobs(digest);"
    "CREATE TABLE IF NOT EXISTS trust ("
    " name TEXT NOT NULL, variant TEXT NOT NULL, key_id TEXT NOT NULL, max_seq INTEGER NOT NULL,"
    " PRIMARY KEY (name, variant, key_id));"
    "CREATE TABLE IF NOT EXISTS refusals ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, name TEXT NOT NULL,"
    " version TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, source TEXT NOT NULL);";

static void
s_hexid (const uint8_t manifest[32], char out[65])
{
    pkg_hex (manifest, 32, out);
}

//  Remove what a crash left behind: temp files of processes that are gone.
static void
s_sweep (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d))) {
        const char *t = strstr (e->d_name, ".tmp.");
        if (!t)
            continue;
        long pid = strtol (t + 5, NULL, 10);
        if (pid > 0 && (kill ((pid_t) pid, 0) == 0 || errno == EPERM))
            continue;   //  its writer still runs
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        pkg_file_remove_tree (path);
    }
    closedir (d);
}

pkg_catalog_t *
pkg_catalog_open (const char *state_dir, char *err, size_t errlen)
{
    pkg_catalog_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (snprintf (self->dir, sizeof self->dir, "%s/pkg", state_dir) >= (int) sizeof self->dir) {
        snprintf (err, errlen, "%s: path too long", state_dir);
        free (self);
        return NULL;
    }
    char path[700];
    snprintf (path, sizeof path, "%s/data", self->dir);
    if (pkg_file_mkdirs (path, 0700) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        free (self);
        return NULL;
    }
    snprintf (path, sizeof path, "%s/files", self->dir);
    if (pkg_file_mkdirs (path, 0755) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        free (self);
        return NULL;
    }
    snprintf (path, sizeof path, "%s/catalog.db", self->dir);
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                         NULL)
        != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg (self->db) : "cannot open");
        pkg_catalog_destroy (&self);
        return NULL;
    }
    //  The agent and the CLI share the file: wait for each other's short
    //  transactions rather than fail.
    sqlite3_busy_timeout (self->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec (self->db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free (msg);
        pkg_catalog_destroy (&self);
        return NULL;
    }
    snprintf (path, sizeof path, "%s/data", self->dir);
    s_sweep (path);
    snprintf (path, sizeof path, "%s/files", self->dir);
    s_sweep (path);
    return self;
}

void
pkg_catalog_destroy (pkg_catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sqlite3_close ((*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

const char *
pkg_catalog_dir (pkg_catalog_t *self)
{
    return self->dir;
}

int64_t
pkg_catalog_data_version (pkg_catalog_t *self)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2 (self->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step (st) == SQLITE_ROW)
        v = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return v;
}

void
pkg_catalog_data_path (pkg_catalog_t *self, const uint8_t manifest[32], char *out, size_t cap)
{
    char hex[65];
    s_hexid (manifest, hex);
    snprintf (out, cap, "%s/data/%s.data", self->dir, hex);
}

void
pkg_catalog_files_path (pkg_catalog_t *self, const char *name, const char *version, char *out, size_t cap)
{
    snprintf (out, cap, "%s/files/%s@%s", self->dir, name, version);
}

int
pkg_catalog_data_open (pkg_catalog_t *self, const uint8_t manifest[32], bool create, uint64_t size)
{
    char path[700];
    pkg_catalog_data_path (self, manifest, path, sizeof path);
    int fd = open (path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (create && fstat (fd, &st) == 0 && (uint64_t) st.st_size != size
        && ftruncate (fd, (off_t) size) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

// --------------------------------------------------------------------------
// Rows

static const char *s_cols =
    "name, version, variant, kind, seq, expires, size, piece_size, piece_count, key_id,"
    " manifest, bitmap, have, state, want, local, added_ms, error, meta, sources";

static void
s_row (sqlite3_stmt *st, pkg_entry_t *e)
{
    memset (e, 0, sizeof *e);
    snprintf (e->meta.name, sizeof e->meta.name, "%s", (const char *) sqlite3_column_text (st, 0));
    snprintf (e->meta.version, sizeof e->meta.version, "%s", (const char *) sqlite3_column_text (st, 1));
    snprintf (e->meta.variant, sizeof e->meta.variant, "%s", (const char *) sqlite3_column_text (st, 2));
    e->meta.kind = (pkg_kind_t) pkg_kind_parse ((const char *) sqlite3_column_text (st, 3));
    e->meta.seq = (uint64_t) sqlite3_column_int64 (st, 4);
    e->meta.expires = (uint64_t) sqlite3_column_int64 (st, 5);
    e->meta.size = (uint64_t) sqlite3_column_int64 (st, 6);
    e->meta.piece_size = (uint32_t) sqlite3_column_int64 (st, 7);
    e->meta.piece_count = (uint32_t) sqlite3_column_int64 (st, 8);
    snprintf (e->key_id, sizeof e->key_id, "%s", (const char *) sqlite3_column_text (st, 9));
    char digest[80];
    snprintf (digest, sizeof digest, "sha256:%s", (const char *) sqlite3_column_text (st, 10));
    pkg_digest_parse (digest, e->meta.manifest);
    int bl = sqlite3_column_bytes (st, 11);
    if (bl > 0 && (size_t) bl <= sizeof e->bitmap)
        memcpy (e->bitmap, sqlite3_column_blob (st, 11), (size_t) bl);
    e->have = (uint32_t) sqlite3_column_int64 (st, 12);
    e->state = (pkg_state_t) s_state_parse ((const char *) sqlite3_column_text (st, 13));
    e->want = sqlite3_column_int (st, 14) != 0;
    e->local = sqlite3_column_int (st, 15) != 0;
    e->added_ms = (uint64_t) sqlite3_column_int64 (st, 16);
    snprintf (e->error, sizeof e->error, "%s", (const char *) sqlite3_column_text (st, 17));
    e->sources = (uint32_t) sqlite3_column_int64 (st, 19);
    //  The rest of the metadata (manifest size, pieces digest) from its text.
    pkg_meta_t m;
    char why[100];
    if (pkg_meta_decode (sqlite3_column_blob (st, 18), (size_t) sqlite3_column_bytes (st, 18), &m, why,
                         sizeof why)
        == 0)
        e->meta = m;
}

static int
s_get_where (pkg_catalog_t *self, const char *where, const char *a, const char *b, pkg_entry_t *e)
{
    char sql[600];
    snprintf (sql, sizeof sql, "SELECT %s FROM packages WHERE %s", s_cols, where);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text (st, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    int out = -1;
    if (rc == SQLITE_ROW) {
        s_row (st, e);
        out = 0;
    }
    else if (rc == SQLITE_DONE)
        out = 1;
    sqlite3_finalize (st);
    return out;
}

int
pkg_catalog_get (pkg_catalog_t *self, const uint8_t manifest[32], pkg_entry_t *e)
{
    char hex[65];
    s_hexid (manifest, hex);
    return s_get_where (self, "manifest = ?1", hex, NULL, e);
}

int
pkg_catalog_find (pkg_catalog_t *self, const char *name, const char *version, pkg_entry_t *e)
{
    return s_get_where (self, "name = ?1 AND version = ?2", name, version, e);
}

int
pkg_catalog_list (pkg_catalog_t *self, pkg_entry_t **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    char sql[600];
    snprintf (sql, sizeof sql, "SELECT %s FROM packages ORDER BY name, seq", s_cols);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            pkg_entry_t *more = realloc (*entries, cap * sizeof **entries);
            if (!more) {
                rc = SQLITE_NOMEM;
                break;
            }
            *entries = more;
        }
        s_row (st, &(*entries)[(*n)++]);
    }
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE) {
        free (*entries);
        *entries = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static void *
s_dup_col (sqlite3_stmt *st, int col, size_t *len)
{
    *len = (size_t) sqlite3_column_bytes (st, col);
    void *p = malloc (*len + 1);
    if (p) {
        if (*len)
            memcpy (p, sqlite3_column_blob (st, col), *len);
        ((char *) p)[*len] = 0;
    }
    return p;
}

int
pkg_catalog_parts (pkg_catalog_t *self, const uint8_t manifest[32], pkg_parts_t *parts)
{
    memset (parts, 0, sizeof *parts);
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (
            self->db, "SELECT meta, sig, manifest_json, config, pieces FROM packages WHERE manifest = ?1", -1,
            &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    int out = rc == SQLITE_DONE ? 1 : -1;
    if (rc == SQLITE_ROW) {
        parts->meta = s_dup_col (st, 0, &parts->meta_len);
        parts->sig = s_dup_col (st, 1, &parts->sig_len);
        parts->manifest = s_dup_col (st, 2, &parts->manifest_len);
        parts->config = s_dup_col (st, 3, &parts->config_len);
        parts->pieces = s_dup_col (st, 4, &parts->pieces_len);
        out = parts->meta && parts->sig && parts->manifest && parts->config && parts->pieces ? 0 : -1;
        if (out)
            pkg_catalog_parts_free (parts);
    }
    sqlite3_finalize (st);
    return out;
}

void
pkg_catalog_parts_free (pkg_parts_t *parts)
{
    free ((void *) parts->meta);
    free ((void *) parts->sig);
    free ((void *) parts->manifest);
    free ((void *) parts->config);
    free ((void *) parts->pieces);
    memset (parts, 0, sizeof *parts);
}

int
pkg_catalog_highest_seq (pkg_catalog_t *self, const char *name, const char *variant, uint64_t *seq)
{
    *seq = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "SELECT COALESCE(MAX(max_seq), 0) FROM trust WHERE name = ?1 AND variant = ?2",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, variant, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0)
        *seq = (uint64_t) sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return rc;
}

static int
s_exec (pkg_catalog_t *self, const char *sql)
{
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

// --------------------------------------------------------------------------
// Accepting metadata

//  What the catalog has seen of m's line and reference (inside the
//  caller's transaction).
static int
s_seen (pkg_catalog_t *self, const pkg_meta_t *m, const char *meta, size_t meta_len, pkg_meta_seen_t *seen,
        bool *row_exists)
{
    memset (seen, 0, sizeof *seen);
    *row_exists = false;
    if (pkg_catalog_highest_seq (self, m->name, m->variant, &seen->highest_seq) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (
            self->db, "SELECT meta, manifest FROM packages WHERE name = ?1 AND variant = ?2 AND seq = ?3", -1,
            &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, m->variant, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) m->seq);
    if (sqlite3_step (st) == SQLITE_ROW) {
        seen->same_seq_known = true;
        seen->same_seq_identical = (size_t) sqlite3_column_bytes (st, 0) == meta_len
                                   && memcmp (sqlite3_column_blob (st, 0), meta, meta_len) == 0;
    }
    sqlite3_finalize (st);
    char hex[65];
    s_hexid (m->manifest, hex);
    if (sqlite3_prepare_v2 (self->db, "SELECT manifest FROM packages WHERE name = ?1 AND version = ?2", -1,
                            &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, m->version, -1, SQLITE_STATIC);
    if (sqlite3_step (st) == SQLITE_ROW) {
        seen->ref_known = true;
        seen->ref_same_manifest = strcmp ((const char *) sqlite3_column_text (st, 0), hex) == 0;
        *row_exists = seen->ref_same_manifest;
    }
    sqlite3_finalize (st);
    return 0;
}

static int
s_count (pkg_catalog_t *self, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (sqlite3_prepare_v2 (self->db, "SELECT COUNT(*) FROM packages", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step (st) == SQLITE_ROW ? 0 : -1;
    *n = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return rc;
}

//  The checks that need no database: signature, metadata, structure.
static pkg_refuse_t
s_check_parts (const pkg_keyring_t *ring, const pkg_parts_t *p, pkg_meta_t *m, char *key_id, char *detail,
               size_t detaillen)
{
    char why[300];
    if (pkg_meta_decode (p->meta, p->meta_len, m, why, sizeof why) != 0) {
        snprintf (detail, detaillen, "%s", why);
        return PKG_REFUSE_MALFORMED;
    }
    if (!p->sig || p->sig_len == 0) {
        snprintf (detail, detaillen, "%s@%s carries no signature", m->name, m->version);
        return PKG_REFUSE_UNSIGNED;
    }
    pkg_sig_info_t info;
    int v = pkg_sign_verify (ring, p->meta, p->meta_len, p->sig, p->sig_len, &info, why, sizeof why);
    if (v != PKG_SIGN_OK) {
        snprintf (detail, detaillen, "%s@%s: %s", m->name, m->version, why);
        return v == PKG_SIGN_EUNKNOWN_KEY ? PKG_REFUSE_UNTRUSTED_KEY
               : v == PKG_SIGN_EMALFORMED ? PKG_REFUSE_UNSIGNED
                                          : PKG_REFUSE_BAD_SIGNATURE;
    }
    memcpy (key_id, info.key_id, 17);
    return PKG_OK;
}

static pkg_refuse_t
s_accept (pkg_catalog_t *self, const pkg_keyring_t *ring, const pkg_parts_t *p, uint64_t now_s,
          uint32_t max_packages, bool local, bool complete, pkg_accept_t *how, pkg_meta_t *meta_out,
          char *detail, size_t detaillen)
{
    pkg_meta_t m;
    char key_id[17];
    pkg_refuse_t r = s_check_parts (ring, p, &m, key_id, detail, detaillen);
    if (meta_out && r != PKG_REFUSE_MALFORMED)
        *meta_out = m;   //  names for the refusal's report
    if (r != PKG_OK)
        return r;
    pkg_manifest_t man;
    pkg_desc_t desc;
    char why[300];
    r = pkg_layout_check (&m, p->manifest, p->manifest_len, p->config, p->config_len, p->pieces,
                          p->pieces_len, &man, &desc, why, sizeof why);
    if (r != PKG_OK) {
        snprintf (detail, detaillen, "%s@%s: %s", m.name, m.version, why);
        return r;
    }
    if (meta_out)
        *meta_out = m;
    //  The trust decision and the write, atomically: two processes
    //  accepting at once see each other's seq.
    if (s_exec (self, "BEGIN IMMEDIATE") != 0) {
        snprintf (detail, detaillen, "catalog busy: %s", sqlite3_errmsg (self->db));
        return PKG_REFUSE_MALFORMED;
    }
    pkg_meta_seen_t seen;
    bool row_exists = false;
    int64_t count = 0;
    if (s_seen (self, &m, p->meta, p->meta_len, &seen, &row_exists) != 0 || s_count (self, &count) != 0) {
        snprintf (detail, detaillen, "catalog: %s", sqlite3_errmsg (self->db));
        s_exec (self, "ROLLBACK");
        return PKG_REFUSE_MALFORMED;
    }
    r = pkg_meta_judge (&m, &seen, now_s, detail, detaillen);
    if (r == PKG_OK && !row_exists && max_packages && count >= max_packages) {
        snprintf (detail, detaillen, "the catalog holds %" PRId64 " packages, its limit (PKG_MAX_PACKAGES)",
                  count);
        r = PKG_REFUSE_TOO_LARGE;
    }
    if (r != PKG_OK) {
        s_exec (self, "ROLLBACK");
        return r;
    }
    char hex[65];
    s_hexid (m.manifest, hex);
    bool ok = true;
    sqlite3_stmt *st = NULL;
    if (seen.same_seq_known && seen.same_seq_identical) {
        *how = PKG_ACCEPT_KNOWN;
        //  A publish of what the mesh already brought makes it local.
        if (local) {
            ok = sqlite3_prepare_v2 (self->db, "UPDATE packages SET local = 1 WHERE manifest = ?1", -1, &st,
                                     NULL)
                 == SQLITE_OK;
            if (ok) {
                sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
                ok = sqlite3_step (st) == SQLITE_DONE;
            }
            sqlite3_finalize (st);
        }
    }
    else if (row_exists) {
        //  Re-signed (higher seq, same manifest): new metadata, same pieces.
        *how = PKG_ACCEPT_UPDATED;
        ok = sqlite3_prepare_v2 (
                 self->db,
                 "UPDATE packages SET seq = ?2, expires = ?3, key_id = ?4, meta = ?5, sig = ?6,"
                 " local = MAX(local, ?7) WHERE manifest = ?1",
                 -1, &st, NULL)
             == SQLITE_OK;
        if (ok) {
            sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
            sqlite3_bind_int64 (st, 2, (sqlite3_int64) m.seq);
            sqlite3_bind_int64 (st, 3, (sqlite3_int64) m.expires);
            sqlite3_bind_text (st, 4, key_id, -1, SQLITE_STATIC);
            sqlite3_bind_blob (st, 5, p->meta, (int) p->meta_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 6, p->sig, (int) p->sig_len, SQLITE_STATIC);
            sqlite3_bind_int (st, 7, local);
            ok = sqlite3_step (st) == SQLITE_DONE;
        }
        sqlite3_finalize (st);
    }
    else {
        *how = PKG_ACCEPT_NEW;
        static uint8_t bitmap[PKG_PIECES_MAX / 8];
        size_t blen = PKG_BITS_BYTES (m.piece_count);
        if (complete)
            pkg_bits_fill (bitmap, m.piece_count);
        else
            memset (bitmap, 0, blen);
        ok = sqlite3_prepare_v2 (
                 self->db,
                 "INSERT INTO packages (manifest, name, version, variant, kind, seq, expires, size,"
                 " piece_size, piece_count, key_id, meta, sig, manifest_json, config, pieces, bitmap,"
                 " have, state, local, added_ms)"
                 " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
                 -1, &st, NULL)
             == SQLITE_OK;
        if (ok) {
            sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 2, m.name, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 3, m.version, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 4, m.variant, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 5, pkg_kind_name (m.kind), -1, SQLITE_STATIC);
            sqlite3_bind_int64 (st, 6, (sqlite3_int64) m.seq);
            sqlite3_bind_int64 (st, 7, (sqlite3_int64) m.expires);
            sqlite3_bind_int64 (st, 8, (sqlite3_int64) m.size);
            sqlite3_bind_int64 (st, 9, m.piece_size);
            sqlite3_bind_int64 (st, 10, m.piece_count);
            sqlite3_bind_text (st, 11, key_id, -1, SQLITE_STATIC);
            sqlite3_bind_blob (st, 12, p->meta, (int) p->meta_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 13, p->sig, (int) p->sig_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 14, p->manifest, (int) p->manifest_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 15, p->config, (int) p->config_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 16, p->pieces, (int) p->pieces_len, SQLITE_STATIC);
            sqlite3_bind_blob (st, 17, bitmap, (int) blen, SQLITE_STATIC);
            sqlite3_bind_int64 (st, 18, complete ? m.piece_count : 0);
            sqlite3_bind_text (st, 19, pkg_state_name (complete ? PKG_STATE_COMPLETE : PKG_STATE_AVAILABLE),
                               -1, SQLITE_STATIC);
            sqlite3_bind_int (st, 20, local);
            sqlite3_bind_int64 (st, 21, (sqlite3_int64) mw_wall_ms ());
            ok = sqlite3_step (st) == SQLITE_DONE;
        }
        sqlite3_finalize (st);
        uint64_t off = 0;
        for (uint32_t i = 0; ok && i < man.n_layers; i++) {
            char d[72];
            pkg_digest_str (man.layers[i].digest, d);
            ok = sqlite3_prepare_v2 (self->db,
                                     "INSERT INTO blobs (manifest, idx, digest, media_type, offset, size)"
                                     " VALUES (?1,?2,?3,?4,?5,?6)",
                                     -1, &st, NULL)
                 == SQLITE_OK;
            if (ok) {
                sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
                sqlite3_bind_int (st, 2, (int) i);
                sqlite3_bind_text (st, 3, d, -1, SQLITE_STATIC);
                sqlite3_bind_text (st, 4, man.layers[i].media_type, -1, SQLITE_STATIC);
                sqlite3_bind_int64 (st, 5, (sqlite3_int64) off);
                sqlite3_bind_int64 (st, 6, (sqlite3_int64) man.layers[i].size);
                ok = sqlite3_step (st) == SQLITE_DONE;
            }
            sqlite3_finalize (st);
            off += man.layers[i].size;
        }
    }
    //  The trust state: this key's highest seq for the line.
    if (ok) {
        ok = sqlite3_prepare_v2 (self->db,
                                 "INSERT INTO trust (name, variant, key_id, max_seq) VALUES (?1,?2,?3,?4)"
                                 " ON CONFLICT (name, variant, key_id) DO UPDATE"
                                 " SET max_seq = MAX(max_seq, excluded.max_seq)",
                                 -1, &st, NULL)
             == SQLITE_OK;
        if (ok) {
            sqlite3_bind_text (st, 1, m.name, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 2, m.variant, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 3, key_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64 (st, 4, (sqlite3_int64) m.seq);
            ok = sqlite3_step (st) == SQLITE_DONE;
        }
        sqlite3_finalize (st);
    }
    if (!ok || s_exec (self, "COMMIT") != 0) {
        snprintf (detail, detaillen, "catalog write failed: %s", sqlite3_errmsg (self->db));
        s_exec (self, "ROLLBACK");
        return PKG_REFUSE_MALFORMED;
    }
    return PKG_OK;
}

pkg_refuse_t
pkg_catalog_accept (pkg_catalog_t *self, const pkg_keyring_t *ring, const pkg_parts_t *parts, uint64_t now_s,
                    uint32_t max_packages, bool local, pkg_accept_t *how, pkg_meta_t *meta_out, char *detail,
                    size_t detaillen)
{
    detail[0] = 0;
    return s_accept (self, ring, parts, now_s, max_packages, local, false, how, meta_out, detail, detaillen);
}

// --------------------------------------------------------------------------
// Publishing a file

static pkg_refuse_t
s_hash_pieces (int fd, const pkg_meta_t *m, pkg_progress_fn *progress, void *pctx, uint8_t **list_out,
               char *err, size_t errlen)
{
    pkg_piecer_t *pc = pkg_piecer_new (m->size, m->piece_size);
    uint8_t *buf = malloc (S_CHUNK);
    pkg_refuse_t r = PKG_REFUSE_MALFORMED;
    if (!pc || !buf) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    for (uint64_t off = 0; off < m->size; off += S_CHUNK) {
        size_t n = m->size - off > S_CHUNK ? S_CHUNK : (size_t) (m->size - off);
        if (pkg_file_pread (fd, buf, n, off) != 0) {
            snprintf (err, errlen, "reading the data back: %s", strerror (errno));
            goto done;
        }
        pkg_piecer_feed (pc, buf, n);
        if (progress)
            progress (pctx, m->size + off + n, 2 * m->size);
    }
    const uint8_t *list = NULL;
    size_t len = 0;
    uint8_t d[32];
    if (pkg_piecer_finish (pc, &list, &len, d) != 0 || memcmp (d, m->pieces, 32) != 0) {
        snprintf (err, errlen, "the pieces are not the ones the metadata signs");
        r = PKG_REFUSE_TAMPERED_MANIFEST;
        goto done;
    }
    if (!(*list_out = malloc (len))) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    memcpy (*list_out, list, len);
    r = PKG_OK;
done:
    pkg_piecer_destroy (&pc);
    free (buf);
    return r;
}

static int s_unpack (pkg_catalog_t *self, const uint8_t manifest[32], int fd, char *err, size_t errlen);

pkg_refuse_t
pkg_catalog_publish (pkg_catalog_t *self, const pkg_keyring_t *ring, const char *path, uint64_t now_s,
                     uint32_t max_packages, pkg_progress_fn *progress, void *pctx, pkg_accept_t *how,
                     pkg_meta_t *meta_out, char *detail, size_t detaillen)
{
    detail[0] = 0;
    pkg_refuse_t r;
    pkg_archive_t *a = pkg_archive_open (path, &r, detail, detaillen);
    if (!a)
        return r;
    size_t ml = 0, sl = 0, manl = 0, cl = 0;
    pkg_parts_t p = {0};
    p.meta = pkg_archive_meta_text (a, &ml);
    p.meta_len = ml;
    p.sig = pkg_archive_sig_text (a, &sl);
    p.sig_len = sl;
    p.manifest = pkg_archive_manifest_text (a, &manl);
    p.manifest_len = manl;
    p.config = pkg_archive_config_text (a, &cl);
    p.config_len = cl;
    const pkg_meta_t *m = pkg_archive_meta (a);
    if (meta_out)
        *meta_out = *m;
    char tmp[800], data[700];
    int fd = -1;
    uint8_t *pieces = NULL;
    //  Before copying gigabytes: is it signed, and would it be accepted?
    pkg_meta_t checked;
    char key_id[17];
    r = s_check_parts (ring, &p, &checked, key_id, detail, detaillen);
    if (r != PKG_OK)
        goto done;
    pkg_meta_seen_t seen;
    bool row_exists;
    if (s_seen (self, m, p.meta, p.meta_len, &seen, &row_exists) != 0) {
        snprintf (detail, detaillen, "catalog: %s", sqlite3_errmsg (self->db));
        r = PKG_REFUSE_MALFORMED;
        goto done;
    }
    if ((r = pkg_meta_judge (m, &seen, now_s, detail, detaillen)) != PKG_OK)
        goto done;
    pkg_entry_t have;
    if (pkg_catalog_get (self, m->manifest, &have) == 0 && have.state == PKG_STATE_COMPLETE) {
        //  The data is here already: only the metadata may be news.
        r = s_accept (self, ring, &p, now_s, max_packages, true, true, how, NULL, detail, detaillen);
        goto done;
    }
    pkg_catalog_data_path (self, m->manifest, data, sizeof data);
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", data, (int) getpid ());
    fd = open (tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate (fd, (off_t) m->size) != 0) {
        snprintf (detail, detaillen, "%s: %s", tmp, strerror (errno));
        r = PKG_REFUSE_MALFORMED;
        goto done;
    }
    if (progress)
        progress (pctx, 0, 2 * m->size);
    if ((r = pkg_archive_copy_layers (a, fd, detail, detaillen)) != PKG_OK)
        goto done;
    if (progress)
        progress (pctx, m->size, 2 * m->size);
    if ((r = s_hash_pieces (fd, m, progress, pctx, &pieces, detail, detaillen)) != PKG_OK)
        goto done;
    if (fsync (fd) != 0) {
        snprintf (detail, detaillen, "%s: %s", tmp, strerror (errno));
        r = PKG_REFUSE_MALFORMED;
        goto done;
    }
    p.pieces = pieces;
    p.pieces_len = (size_t) m->piece_count * 32;
    //  The data goes into place first: a crash before the commit leaves a
    //  file nobody names (removed when a fetch or publish writes it again).
    if (rename (tmp, data) != 0) {
        snprintf (detail, detaillen, "%s: %s", data, strerror (errno));
        r = PKG_REFUSE_MALFORMED;
        goto done;
    }
    tmp[0] = 0;
    char dir[700];
    snprintf (dir, sizeof dir, "%s/data", self->dir);
    pkg_file_sync_dir (dir);
    r = s_accept (self, ring, &p, now_s, max_packages, true, true, how, NULL, detail, detaillen);
    if (r != PKG_OK)
        goto done;
    //  Known before (from the mesh, not complete): it is complete now.
    if (*how != PKG_ACCEPT_NEW) {
        uint8_t bits[PKG_PIECES_MAX / 8];
        pkg_bits_fill (bits, m->piece_count);
        if (pkg_catalog_save_bitmap (self, m->manifest, bits, m->piece_count) != 0) {
            snprintf (detail, detaillen, "catalog write failed: %s", sqlite3_errmsg (self->db));
            r = PKG_REFUSE_MALFORMED;
            goto done;
        }
    }
    if (s_unpack (self, m->manifest, fd, detail, detaillen) != 0
        || pkg_catalog_set_state (self, m->manifest, PKG_STATE_COMPLETE, "") != 0) {
        r = PKG_REFUSE_MALFORMED;
        goto done;
    }
done:
    if (fd >= 0)
        close (fd);
    if (tmp[0] && fd >= 0)
        unlink (tmp);
    free (pieces);
    pkg_archive_destroy (&a);
    return r;
}

// --------------------------------------------------------------------------
// Updates

static int
s_update (pkg_catalog_t *self, const char *sql, const uint8_t manifest[32], const void *blob, size_t blen,
          int64_t num, const char *text)
{
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    if (blob)
        sqlite3_bind_blob (st, 2, blob, (int) blen, SQLITE_STATIC);
    else
        sqlite3_bind_int64 (st, 2, num);
    if (text)
        sqlite3_bind_text (st, 3, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64 (st, 3, num);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    if (rc)
        mw_error ("pkg_catalog_write_failed", "reason=\"%s\"", sqlite3_errmsg (self->db));
    sqlite3_finalize (st);
    return rc;
}

int
pkg_catalog_set_want (pkg_catalog_t *self, const uint8_t manifest[32], bool want)
{
    //  A wish turns an available or corrupt package into fetching (and
    //  clears the last error); dropping it makes a fetching one available.
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "UPDATE packages SET want = ?2, error = CASE WHEN ?2 THEN '' ELSE error END,"
                            " state = CASE WHEN state = 'complete' THEN state"
                            " WHEN ?2 THEN 'fetching' WHEN state = 'fetching' THEN 'available' ELSE state END"
                            " WHERE manifest = ?1 AND state != 'complete'",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, want ? 1 : 0);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
pkg_catalog_save_bitmap (pkg_catalog_t *self, const uint8_t manifest[32], const uint8_t *bitmap,
                         uint32_t have)
{
    pkg_entry_t e;
    if (pkg_catalog_get (self, manifest, &e) != 0)
        return -1;
    return s_update (self, "UPDATE packages SET bitmap = ?2, have = ?3 WHERE manifest = ?1", manifest, bitmap,
                     PKG_BITS_BYTES (e.meta.piece_count), have, NULL);
}

int
pkg_catalog_set_state (pkg_catalog_t *self, const uint8_t manifest[32], pkg_state_t state, const char *error)
{
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "UPDATE packages SET state = ?2, error = ?3,"
                            " want = CASE WHEN ?2 = 'complete' THEN 0 ELSE want END WHERE manifest = ?1",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, pkg_state_name (state), -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, error ? error : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
pkg_catalog_set_sources (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t sources)
{
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (
            self->db, "UPDATE packages SET sources = ?2 WHERE manifest = ?1 AND sources != ?2", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, sources);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
pkg_catalog_note_refusal (pkg_catalog_t *self, const char *name, const char *version, pkg_refuse_t reason,
                          const char *detail, const char *source)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "INSERT INTO refusals (at_ms, name, version, reason, detail, source)"
                            " VALUES (?1,?2,?3,?4,?5,?6)",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) mw_wall_ms ());
    sqlite3_bind_text (st, 2, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, version ? version : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 4, pkg_refuse_name (reason), -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 5, detail ? detail : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 6, source ? source : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    //  Bounded: the last PKG_REFUSALS_KEPT.
    char sql[200];
    snprintf (sql, sizeof sql, "DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - %d",
              PKG_REFUSALS_KEPT);
    s_exec (self, sql);
    return rc;
}

int
pkg_catalog_refusals (pkg_catalog_t *self, int64_t after, pkg_refusal_fn *fn, void *ctx, int64_t *last)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (
            self->db,
            "SELECT id, name, version, reason, detail, source FROM refusals WHERE id > ?1 ORDER BY id", -1,
            &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, after);
    *last = after;
    while (sqlite3_step (st) == SQLITE_ROW) {
        *last = sqlite3_column_int64 (st, 0);
        if (fn)
            fn (ctx, (const char *) sqlite3_column_text (st, 1), (const char *) sqlite3_column_text (st, 2),
                (const char *) sqlite3_column_text (st, 3), (const char *) sqlite3_column_text (st, 4),
                (const char *) sqlite3_column_text (st, 5));
    }
    sqlite3_finalize (st);
    return 0;
}

int
pkg_catalog_remove (pkg_catalog_t *self, const uint8_t manifest[32])
{
    pkg_entry_t e;
    int found = pkg_catalog_get (self, manifest, &e);
    if (found != 0)
        return found;
    char hex[65];
    s_hexid (manifest, hex);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM packages WHERE manifest = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    if (rc != 0)
        return -1;
    char path[700];
    pkg_catalog_data_path (self, manifest, path, sizeof path);
    unlink (path);
    pkg_catalog_files_path (self, e.meta.name, e.meta.version, path, sizeof path);
    pkg_file_remove_tree (path);
    return 0;
}

// --------------------------------------------------------------------------
// Finishing, verifying, exporting

typedef struct {
    int fd;
    uint64_t offsets[PKG_LAYERS_MAX];
} s_data_t;

static int
s_read_data (void *ctx, uint32_t layer, uint64_t off, void *buf, size_t len)
{
    s_data_t *d = ctx;
    return pkg_file_pread (d->fd, buf, len, d->offsets[layer] + off);
}

static int
s_manifest_of (pkg_catalog_t *self, const uint8_t manifest[32], pkg_parts_t *p, pkg_manifest_t *m,
               s_data_t *d, char *err, size_t errlen)
{
    if (pkg_catalog_parts (self, manifest, p) != 0) {
        snprintf (err, errlen, "not in the catalog");
        return -1;
    }
    char why[200];
    if (pkg_manifest_parse (p->manifest, p->manifest_len, m, why, sizeof why) != 0) {
        snprintf (err, errlen, "%s", why);
        pkg_catalog_parts_free (p);
        return -1;
    }
    uint64_t off = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        d->offsets[i] = off;
        off += m->layers[i].size;
    }
    return 0;
}

static int
s_unpack (pkg_catalog_t *self, const uint8_t manifest[32], int fd, char *err, size_t errlen)
{
    pkg_entry_t e;
    pkg_parts_t p;
    pkg_manifest_t m;
    s_data_t d = {.fd = fd};
    if (pkg_catalog_get (self, manifest, &e) != 0
        || s_manifest_of (self, manifest, &p, &m, &d, err, errlen) != 0)
        return -1;
    pkg_catalog_parts_free (&p);
    char final[800], tmp[900];
    pkg_catalog_files_path (self, e.meta.name, e.meta.version, final, sizeof final);
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", final, (int) getpid ());
    pkg_file_remove_tree (tmp);
    if (pkg_file_mkdirs (tmp, 0755) != 0) {
        snprintf (err, errlen, "%s: %s", tmp, strerror (errno));
        return -1;
    }
    int rc = 0;
    if (e.meta.kind == PKG_KIND_OCI_IMAGE)
        rc = pkg_layout_write_image_dir (tmp, e.meta.version, &m, s_read_data, &d, err, errlen);
    else
        for (uint32_t i = 0; rc == 0 && i < m.n_layers; i++) {
            if (strcmp (m.layers[i].media_type, PKG_MT_OCI_LAYER) != 0) {
                snprintf (err, errlen, "layer %u is %s, not an uncompressed tar", i, m.layers[i].media_type);
                rc = -1;
                break;
            }
            rc = pkg_layout_untar_verify (fd, d.offsets[i], m.layers[i].size, tmp, m.layers[i].digest, err,
                                          errlen);
        }
    //  Whole or nothing under the final name.
    if (rc == 0) {
        pkg_file_remove_tree (final);
        if (rename (tmp, final) != 0) {
            snprintf (err, errlen, "%s: %s", final, strerror (errno));
            rc = -1;
        }
    }
    if (rc != 0)
        pkg_file_remove_tree (tmp);
    return rc;
}

static int
s_blob_hash (int fd, uint64_t off, uint64_t size, uint8_t out[32], uint8_t *buf)
{
    pkg_sha256_state st;
    pkg_sha256_init (&st);
    for (uint64_t o = 0; o < size; o += S_CHUNK) {
        size_t n = size - o > S_CHUNK ? S_CHUNK : (size_t) (size - o);
        if (pkg_file_pread (fd, buf, n, off + o) != 0)
            return -1;
        pkg_sha256_update (&st, buf, n);
    }
    pkg_sha256_final (&st, out);
    return 0;
}

pkg_refuse_t
pkg_catalog_finish (pkg_catalog_t *self, const uint8_t manifest[32], char *err, size_t errlen)
{
    //  Each piece was checked as it came; the blobs are checked once more
    //  as wholes (what a runtime will load is exactly what was signed),
    //  while they are unpacked: the data is read once.  The caller synced
    //  the data before it saved the bitmap that says complete.
    pkg_parts_t p;
    pkg_manifest_t m;
    s_data_t d = {.fd = -1};
    if (s_manifest_of (self, manifest, &p, &m, &d, err, errlen) != 0)
        return PKG_REFUSE_MALFORMED;
    pkg_catalog_parts_free (&p);
    d.fd = pkg_catalog_data_open (self, manifest, false, 0);
    uint8_t *buf = malloc (S_CHUNK);
    pkg_refuse_t r = PKG_REFUSE_MALFORMED;
    pkg_entry_t e;
    if (d.fd < 0 || !buf || pkg_catalog_get (self, manifest, &e) != 0) {
        snprintf (err, errlen, "cannot open the data: %s", strerror (errno));
        goto done;
    }
    if (e.meta.kind == PKG_KIND_OCI_IMAGE)
        for (uint32_t i = 0; i < m.n_layers; i++) {
            uint8_t h[32];
            if (s_blob_hash (d.fd, d.offsets[i], m.layers[i].size, h, buf) != 0) {
                snprintf (err, errlen, "reading layer %u: %s", i, strerror (errno));
                goto done;
            }
            if (memcmp (h, m.layers[i].digest, 32) != 0) {
                snprintf (err, errlen, "layer %u does not match its digest", i);
                r = PKG_REFUSE_TAMPERED_BLOB;
                goto done;
            }
        }
    int u = s_unpack (self, manifest, d.fd, err, errlen);
    if (u != 0) {
        r = u == -2 ? PKG_REFUSE_TAMPERED_BLOB : PKG_REFUSE_MALFORMED;
        goto done;
    }
    if (pkg_catalog_set_state (self, manifest, PKG_STATE_COMPLETE, "") != 0) {
        snprintf (err, errlen, "catalog write failed");
        goto done;
    }
    r = PKG_OK;
done:
    free (buf);
    if (d.fd >= 0)
        close (d.fd);
    return r;
}

//  A scan: what pkg_catalog_verify and pkg_catalog_check_files hash, split
//  so that the hashing can run off the caller's thread (node/deploy.c: a
//  GB package must not stall the agent's loop).  prepare copies what the
//  scan reads (the bitmap, the piece digests, the layers) and opens the
//  data file; run reads it and the installed files and touches nothing
//  else; apply drops what run found damaged, if the entry is still the one
//  scanned.
struct _pkg_scan_t {
    uint8_t manifest[32];
    int modes;
    pkg_entry_t e;     //  as prepared; e.bitmap: the pieces held then
    uint8_t *pieces;   //  piece digests, 32 bytes each
    pkg_manifest_t m;
    s_data_t d;
    bool files;   //  the files can be compared (complete, not an image)
    char dir[800];
    //  Results (run).
    int rc;
    char err[256];
    uint32_t bad_pieces;               //  digest mismatches
    uint32_t bad_files, file_pieces;   //  files that differ, pieces that carry them
    char first[128];
    uint8_t bad[PKG_PIECES_MAX / 8];   //  every piece found damaged
};

pkg_scan_t *
pkg_catalog_scan_prepare (pkg_catalog_t *self, const uint8_t manifest[32], int modes, char *err,
                          size_t errlen)
{
    pkg_scan_t *sc = calloc (1, sizeof *sc);
    if (!sc) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    memcpy (sc->manifest, manifest, 32);
    sc->modes = modes;
    sc->d.fd = -1;
    pkg_parts_t p;
    if (pkg_catalog_get (self, manifest, &sc->e) != 0
        || s_manifest_of (self, manifest, &p, &sc->m, &sc->d, err, errlen) != 0) {
        snprintf (err, errlen, "not in the catalog");
        free (sc);
        return NULL;
    }
    size_t n = (size_t) sc->e.meta.piece_count * 32;
    bool listed = p.pieces_len >= n;
    sc->pieces = malloc (n ? n : 1);
    if (sc->pieces && listed)
        memcpy (sc->pieces, p.pieces, n);
    pkg_catalog_parts_free (&p);
    if (!sc->pieces || !listed) {
        snprintf (err, errlen, "out of memory or no piece list");
        pkg_scan_destroy (&sc);
        return NULL;
    }
    sc->files = sc->e.state == PKG_STATE_COMPLETE && sc->e.meta.kind != PKG_KIND_OCI_IMAGE;
    pkg_catalog_files_path (self, sc->e.meta.name, sc->e.meta.version, sc->dir, sizeof sc->dir);
    sc->d.fd = pkg_catalog_data_open (self, manifest, false, 0);
    if (sc->d.fd < 0 && (sc->e.have > 0 || ((modes & PKG_SCAN_FILES) && sc->files))) {
        snprintf (err, errlen, "cannot open the data: %s", strerror (errno));
        pkg_scan_destroy (&sc);
        return NULL;
    }
    return sc;
}

void
pkg_scan_destroy (pkg_scan_t **p)
{
    if (!p || !*p)
        return;
    if ((*p)->d.fd >= 0)
        close ((*p)->d.fd);
    free ((*p)->pieces);
    free (*p);
    *p = NULL;
}

typedef struct {
    pkg_scan_t *sc;
    uint64_t base;   //  the layer's offset in the data
} s_check_t;

static void
s_check_bad (void *ctx, uint64_t from, uint64_t to, const char *name)
{
    s_check_t *c = ctx;
    pkg_scan_t *sc = c->sc;
    if (!sc->first[0])
        snprintf (sc->first, sizeof sc->first, "%s", name);
    uint64_t ps = sc->e.meta.piece_size;
    if (to <= from || ps == 0)
        return;
    for (uint64_t i = (c->base + from) / ps; i <= (c->base + to - 1) / ps && i < sc->e.meta.piece_count; i++)
        if (pkg_bit_get (sc->e.bitmap, (uint32_t) i) && !pkg_bit_get (sc->bad, (uint32_t) i)) {
            pkg_bit_set (sc->bad, (uint32_t) i, true);
            sc->file_pieces++;
        }
}

void
pkg_scan_run (pkg_scan_t *sc)
{
    sc->rc = 0;
    if (sc->modes & PKG_SCAN_PIECES) {
        uint8_t *buf = malloc (sc->e.meta.piece_size ? sc->e.meta.piece_size : 1);
        if (!buf) {
            snprintf (sc->err, sizeof sc->err, "out of memory");
            sc->rc = -1;
            return;
        }
        for (uint32_t i = 0; i < sc->e.meta.piece_count; i++) {
            if (!pkg_bit_get (sc->e.bitmap, i))
                continue;
            uint32_t len = pkg_meta_piece_len (&sc->e.meta, i);
            uint8_t h[32];
            if (pkg_file_pread (sc->d.fd, buf, len, (uint64_t) i * sc->e.meta.piece_size) != 0)
                memset (h, 0, sizeof h);   //  a short file: the piece is gone
            else
                pkg_sha256 (buf, len, h);
            if (memcmp (h, sc->pieces + (size_t) i * 32, 32) != 0) {
                pkg_bit_set (sc->bad, i, true);
                sc->bad_pieces++;
            }
        }
        free (buf);
    }
    //  Files only over intact data: damaged pieces are fetched first.
    if ((sc->modes & PKG_SCAN_FILES) && sc->files && sc->bad_pieces == 0) {
        s_check_t c = {.sc = sc};
        for (uint32_t i = 0; i < sc->m.n_layers; i++) {
            c.base = sc->d.offsets[i];
            int n = pkg_layout_check_tree (sc->d.fd, sc->d.offsets[i], sc->m.layers[i].size, sc->dir,
                                           s_check_bad, &c, sc->err, sizeof sc->err);
            if (n < 0) {
                sc->rc = -1;
                return;
            }
            sc->bad_files += (uint32_t) n;
        }
    }
}

int
pkg_catalog_scan_apply (pkg_catalog_t *self, pkg_scan_t *sc, uint32_t *bad, uint32_t *files, char *err,
                        size_t errlen)
{
    *bad = *files = 0;
    if (sc->rc != 0) {
        snprintf (err, errlen, "%s", sc->err);
        return -1;
    }
    pkg_entry_t e;
    if (pkg_catalog_get (self, sc->manifest, &e) != 0) {
        snprintf (err, errlen, "not in the catalog");
        return -1;
    }
    //  Only pieces still held, as they were when scanned, are dropped: a
    //  piece fetched again meanwhile was checked by its fetch.
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < e.meta.piece_count; i++)
        if (pkg_bit_get (sc->bad, i) && pkg_bit_get (e.bitmap, i)) {
            pkg_bit_set (e.bitmap, i, false);
            dropped++;
        }
    *files = sc->bad_files;
    *bad = dropped;
    if (!dropped)
        return 0;
    //  Pieces that carry damaged files: the data of those pieces may be as
    //  damaged as the files (one disk): punch them out, so that they come
    //  from peers, not from a re-hash of what is here (the service keeps
    //  pieces it finds intact on disk).
    int rc = 0;
    if (sc->file_pieces && sc->d.fd >= 0) {
        for (uint32_t i = 0; rc == 0 && i < e.meta.piece_count; i++)
            if (pkg_bit_get (sc->bad, i)
                && fallocate (sc->d.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t) i * e.meta.piece_size, (off_t) pkg_meta_piece_len (&e.meta, i))
                       != 0) {
                //  No hole punching (an old file system): zeros do the same.
                uint32_t len = pkg_meta_piece_len (&e.meta, i);
                uint8_t *z = calloc (1, len);
                if (!z || pkg_file_pwrite (sc->d.fd, z, len, (uint64_t) i * e.meta.piece_size) != 0)
                    rc = -1;
                free (z);
            }
        fdatasync (sc->d.fd);
    }
    if (rc < 0) {
        snprintf (err, errlen, "cannot punch the damaged pieces: %s", strerror (errno));
        return -1;
    }
    char why[200];
    if (sc->bad_pieces)
        snprintf (why, sizeof why, "%u damaged pieces found by verify", dropped);
    else
        snprintf (why, sizeof why, "%u installed files damaged (%.100s): %u pieces to fetch again",
                  sc->bad_files, sc->first, dropped);
    if (pkg_catalog_save_bitmap (self, sc->manifest, e.bitmap, e.have - dropped) != 0
        || pkg_catalog_set_state (self, sc->manifest, PKG_STATE_CORRUPT, why) != 0) {
        snprintf (err, errlen, "catalog write failed");
        return -1;
    }
    return 0;
}

//  prepare + run + apply on this thread.
static int
s_scan_now (pkg_catalog_t *self, const uint8_t manifest[32], int modes, uint32_t *bad, uint32_t *files,
            char *err, size_t errlen)
{
    *bad = 0;
    if (files)
        *files = 0;
    pkg_scan_t *sc = pkg_catalog_scan_prepare (self, manifest, modes, err, errlen);
    if (!sc)
        return -1;
    pkg_scan_run (sc);
    uint32_t f = 0;
    int rc = pkg_catalog_scan_apply (self, sc, bad, &f, err, errlen);
    if (files)
        *files = f;
    pkg_scan_destroy (&sc);
    return rc;
}

int
pkg_catalog_verify (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t *bad, char *err, size_t errlen)
{
    return s_scan_now (self, manifest, PKG_SCAN_PIECES, bad, NULL, err, errlen);
}

int
pkg_catalog_check_files (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t *bad, uint32_t *files,
                         char *err, size_t errlen)
{
    return s_scan_now (self, manifest, PKG_SCAN_FILES, bad, files, err, errlen);
}

int
pkg_catalog_export (pkg_catalog_t *self, const uint8_t manifest[32], const char *format, const char *out,
                    char *err, size_t errlen)
{
    pkg_entry_t e;
    pkg_parts_t p;
    pkg_manifest_t m;
    s_data_t d = {.fd = -1};
    if (pkg_catalog_get (self, manifest, &e) != 0) {
        snprintf (err, errlen, "not in the catalog");
        return -1;
    }
    if (e.state != PKG_STATE_COMPLETE) {
        snprintf (err, errlen, "%s@%s is %s, not complete", e.meta.name, e.meta.version,
                  pkg_state_name (e.state));
        return -1;
    }
    if (s_manifest_of (self, manifest, &p, &m, &d, err, errlen) != 0)
        return -1;
    int rc = -1;
    d.fd = pkg_catalog_data_open (self, manifest, false, 0);
    if (d.fd < 0) {
        snprintf (err, errlen, "cannot open the data: %s", strerror (errno));
        goto done;
    }
    if (strcmp (format, "mwpkg") == 0)
        rc = pkg_layout_write_mwpkg (out, p.meta, p.meta_len, p.sig, p.sig_len, p.manifest, p.manifest_len,
                                     p.config, p.config_len, &m, s_read_data, &d, err, errlen);
    else if (e.meta.kind != PKG_KIND_OCI_IMAGE)
        snprintf (err, errlen, "%s@%s is a %s package: only --format mwpkg applies", e.meta.name,
                  e.meta.version, pkg_kind_name (e.meta.kind));
    else if (strcmp (format, "oci-archive") == 0 || strcmp (format, "docker-archive") == 0)
        rc = pkg_layout_write_image (out, format[0] == 'o' ? PKG_EXPORT_OCI : PKG_EXPORT_DOCKER, e.meta.name,
                                     e.meta.version, &m, s_read_data, &d, err, errlen);
    else
        snprintf (err, errlen, "unknown format '%s' (mwpkg, oci-archive, docker-archive)", format);
done:
    if (d.fd >= 0)
        close (d.fd);
    pkg_catalog_parts_free (&p);
    return rc;
}

// --------------------------------------------------------------------------
// Selftest

//  Build name@version (seq, expires) from one small file into `out`.
static int
s_build (const char *dir, const pkg_seckey_t *key, const char *name, const char *version, uint64_t seq,
         uint64_t expires, const char *content, const char *out)
{
    char src[600], err[300];
    snprintf (src, sizeof src, "%s/src-%s-%s", dir, name, version);
    pkg_file_mkdirs (src, 0755);
    char f[700];
    snprintf (f, sizeof f, "%s/weights.bin", src);
    //  ~300 KiB so the package has several pieces.
    size_t n = 300 * 1024;
    char *buf = malloc (n);
    for (size_t i = 0; i < n; i++)
        buf[i] = content[i % strlen (content)] ^ (char) (i >> 10);
    pkg_file_write (f, buf, n, 0644, false, err, sizeof err);
    free (buf);
    const char *paths[] = {src};
    pkg_build_opts_t o = {
        .paths = paths, .n_paths = 1, .key = key, .seq = seq, .expires = expires, .out = out};
    o.desc.kind = PKG_KIND_MODEL;
    snprintf (o.desc.name, sizeof o.desc.name, "%s", name);
    snprintf (o.desc.version, sizeof o.desc.version, "%s", version);
    int rc = pkg_build (&o, NULL, err, sizeof err);
    if (rc)
        fprintf (stderr, "build: %s\n", err);
    return rc;
}

static int64_t
s_rows (pkg_catalog_t *c)
{
    int64_t n = -1;
    s_count (c, &n);
    return n;
}

static void *
s_test_scan_thread (void *arg)
{
    pkg_scan_run ((pkg_scan_t *) arg);
    return NULL;
}

int
pkg_catalog_test (bool verbose)
{
    int rc = 0;
    char err[512], detail[512];
    char dir[] = "/tmp/pkg_catalog_test.XXXXXX";
    if (!mkdtemp (dir) || sodium_init () < 0)
        return -1;
    char path[600], s1[600], s2[600];
    snprintf (path, sizeof path, "%s/pub", dir);
    pkg_sign_keygen (path, err, sizeof err);
    snprintf (path, sizeof path, "%s/evil", dir);
    pkg_sign_keygen (path, err, sizeof err);
    snprintf (path, sizeof path, "%s/pub.key", dir);
    pkg_seckey_t *key = pkg_seckey_load (path, err, sizeof err);
    snprintf (path, sizeof path, "%s/evil.key", dir);
    pkg_seckey_t *evil = pkg_seckey_load (path, err, sizeof err);
    pkg_keyring_t *ring = pkg_keyring_new ();
    snprintf (path, sizeof path, "%s/pub.pub", dir);
    CHECK (pkg_keyring_load_list (ring, path, err, sizeof err) == 0, "ring: %s", err);
    snprintf (s1, sizeof s1, "%s/box1", dir);
    snprintf (s2, sizeof s2, "%s/box2", dir);
    pkg_catalog_t *c1 = pkg_catalog_open (s1, err, sizeof err);
    pkg_catalog_t *c2 = pkg_catalog_open (s2, err, sizeof err);
    CHECK (c1 && c2, "open: %s", err);
    if (!c1 || !c2)
        goto out;
    uint64_t now = 1800000000;

    //  Publish: complete, unpacked, trust recorded.
    char f1[600];
    snprintf (f1, sizeof f1, "%s/facedet-1.mwpkg", dir);
    CHECK (s_build (dir, key, "facedet", "1.0", 10, now + 3600, "abc", f1) == 0, "build");
    pkg_accept_t how;
    pkg_meta_t m1;
    CHECK (pkg_catalog_publish (c1, ring, f1, now, 16, NULL, NULL, &how, &m1, detail, sizeof detail) == PKG_OK
               && how == PKG_ACCEPT_NEW,
           "publish: %s", detail);
    pkg_entry_t e;
    CHECK (pkg_catalog_find (c1, "facedet", "1.0", &e) == 0 && e.state == PKG_STATE_COMPLETE && e.local
               && e.have == e.meta.piece_count && e.meta.piece_count >= 4,
           "complete (%s, %u/%u)", pkg_state_name (e.state), e.have, e.meta.piece_count);
    pkg_catalog_files_path (c1, "facedet", "1.0", path, sizeof path);
    strcat (path, "/src-facedet-1.0/weights.bin");
    CHECK (access (path, R_OK) == 0, "unpacked at %s", path);
    CHECK (pkg_catalog_publish (c1, ring, f1, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
                   == PKG_OK
               && how == PKG_ACCEPT_KNOWN,
           "publish again: known");
    uint64_t hs = 0;
    CHECK (pkg_catalog_highest_seq (c1, "facedet", "", &hs) == 0 && hs == 10, "trust seq %" PRIu64, hs);

    //  The parts travel to another box: known there, nothing held yet.
    pkg_parts_t parts;
    CHECK (pkg_catalog_parts (c1, m1.manifest, &parts) == 0, "parts");
    CHECK (pkg_catalog_accept (c2, ring, &parts, now, 16, false, &how, NULL, detail, sizeof detail) == PKG_OK
               && how == PKG_ACCEPT_NEW,
           "accept: %s", detail);
    CHECK (pkg_catalog_get (c2, m1.manifest, &e) == 0 && e.state == PKG_STATE_AVAILABLE && e.have == 0
               && !e.local,
           "available");
    CHECK (pkg_catalog_set_want (c2, m1.manifest, true) == 0 && pkg_catalog_get (c2, m1.manifest, &e) == 0
               && e.state == PKG_STATE_FETCHING && e.want,
           "fetching");
    //  `pkg list` shows how many boxes hold pieces: what the service wrote.
    CHECK (pkg_catalog_set_sources (c2, m1.manifest, 3) == 0 && pkg_catalog_get (c2, m1.manifest, &e) == 0
               && e.sources == 3,
           "sources %u", e.sources);
    //  Refusals on box 2 change nothing.
    int64_t before = s_rows (c2);
    pkg_parts_t bad = parts;
    bad.sig = NULL;
    bad.sig_len = 0;
    CHECK (pkg_catalog_accept (c2, ring, &bad, now, 16, false, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_UNSIGNED,
           "unsigned");
    char *meta2 = strdup (parts.meta);
    meta2[strlen (meta2) - 3] ^= 1;   //  a byte of the pieces digest
    bad = parts;
    bad.meta = meta2;
    CHECK (pkg_catalog_accept (c2, ring, &bad, now, 16, false, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_BAD_SIGNATURE,
           "bad signature: %s", detail);
    free (meta2);
    char *man2 = strdup (parts.manifest);
    man2[10] = man2[10] == 'a' ? 'b' : 'a';
    bad = parts;
    bad.manifest = man2;
    CHECK (pkg_catalog_accept (c2, ring, &bad, now, 16, false, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_TAMPERED_MANIFEST,
           "tampered manifest: %s", detail);
    free (man2);
    uint8_t *pieces2 = malloc (parts.pieces_len);
    memcpy (pieces2, parts.pieces, parts.pieces_len);
    pieces2[40] ^= 1;
    bad = parts;
    bad.pieces = pieces2;
    CHECK (pkg_catalog_accept (c2, ring, &bad, now, 16, false, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_TAMPERED_MANIFEST,
           "tampered pieces: %s", detail);
    free (pieces2);
    CHECK (pkg_catalog_accept (c2, ring, &parts, now + 7200, 16, false, &how, NULL, detail, sizeof detail)
                   == PKG_OK
               && how == PKG_ACCEPT_KNOWN,
           "known stays known even past expiry");

    //  Rollback, conflict, expiry, wrong key, a full catalog.
    char f[600];
    snprintf (f, sizeof f, "%s/facedet-0.9.mwpkg", dir);
    s_build (dir, key, "facedet", "0.9", 9, now + 3600, "old", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_ROLLBACK,
           "rollback: %s", detail);
    snprintf (f, sizeof f, "%s/facedet-1-other.mwpkg", dir);
    s_build (dir, key, "facedet", "1.0", 11, now + 3600, "other", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_CONFLICT,
           "conflict: %s", detail);
    snprintf (f, sizeof f, "%s/facedet-2-expired.mwpkg", dir);
    s_build (dir, key, "facedet", "2.0", 12, now - 1, "new", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_EXPIRED,
           "expired: %s", detail);
    snprintf (f, sizeof f, "%s/evil.mwpkg", dir);
    s_build (dir, evil, "facedet", "3.0", 13, now + 3600, "evil", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_UNTRUSTED_KEY,
           "wrong key: %s", detail);
    CHECK (s_rows (c1) == 1 && s_rows (c2) == before, "refusals changed nothing");
    CHECK (pkg_catalog_highest_seq (c1, "facedet", "", &hs) == 0 && hs == 10, "trust unchanged by refusals");
    snprintf (f, sizeof f, "%s/other.mwpkg", dir);
    s_build (dir, key, "other", "1", 1, now + 3600, "x", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 1, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_REFUSE_TOO_LARGE,
           "full: %s", detail);

    //  A newer version is accepted; the trust state survives a reopen and
    //  the removal of the package.
    snprintf (f, sizeof f, "%s/facedet-2.mwpkg", dir);
    s_build (dir, key, "facedet", "2.0", 20, now + 3600, "new", f);
    CHECK (pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
               == PKG_OK,
           "newer: %s", detail);
    pkg_catalog_destroy (&c1);
    c1 = pkg_catalog_open (s1, err, sizeof err);
    pkg_entry_t e2;
    CHECK (c1 && pkg_catalog_find (c1, "facedet", "2.0", &e2) == 0, "reopen");
    CHECK (c1 && pkg_catalog_remove (c1, e2.meta.manifest) == 0, "remove");
    CHECK (c1 && pkg_catalog_highest_seq (c1, "facedet", "", &hs) == 0 && hs == 20, "trust kept: %" PRIu64,
           hs);
    snprintf (f, sizeof f, "%s/facedet-1.5.mwpkg", dir);
    s_build (dir, key, "facedet", "1.5", 15, now + 3600, "mid", f);
    CHECK (c1
               && pkg_catalog_publish (c1, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
                      == PKG_REFUSE_ROLLBACK,
           "rollback after reopen and rm");

    //  Pieces by hand into box 2's data file, then finish: verified and
    //  unpacked.  Then one byte damaged on disk: verify finds it.
    int fd1 = pkg_catalog_data_open (c1, m1.manifest, false, 0);
    int fd2 = pkg_catalog_data_open (c2, m1.manifest, true, m1.size);
    CHECK (fd1 >= 0 && fd2 >= 0, "data files");
    uint8_t *buf = malloc (m1.size);
    CHECK (pkg_file_pread (fd1, buf, m1.size, 0) == 0 && pkg_file_pwrite (fd2, buf, m1.size, 0) == 0, "copy");
    close (fd1);
    uint8_t bits[PKG_PIECES_MAX / 8];
    pkg_bits_fill (bits, m1.piece_count);
    CHECK (pkg_catalog_save_bitmap (c2, m1.manifest, bits, m1.piece_count) == 0, "bitmap");
    //  A byte the pieces did not catch (the last line of defence): refused,
    //  nothing unpacked.
    buf[7] ^= 1;
    pkg_file_pwrite (fd2, buf + 7, 1, 7);
    CHECK (pkg_catalog_finish (c2, m1.manifest, err, sizeof err) == PKG_REFUSE_TAMPERED_BLOB,
           "tampered blob: %s", err);
    pkg_catalog_files_path (c2, "facedet", "1.0", path, sizeof path);
    CHECK (access (path, F_OK) != 0, "nothing unpacked");
    buf[7] ^= 1;
    pkg_file_pwrite (fd2, buf + 7, 1, 7);
    CHECK (pkg_catalog_finish (c2, m1.manifest, err, sizeof err) == PKG_OK, "finish: %s", err);
    CHECK (pkg_catalog_get (c2, m1.manifest, &e) == 0 && e.state == PKG_STATE_COMPLETE && !e.want,
           "complete");
    uint32_t nbad = 0;
    CHECK (pkg_catalog_verify (c2, m1.manifest, &nbad, err, sizeof err) == 0 && nbad == 0, "verify clean");
    //  An installed file damaged (not the data): the pieces that carry it
    //  are dropped, the package is corrupt; finishing again restores it.
    uint32_t nfiles = 0;
    CHECK (pkg_catalog_check_files (c2, m1.manifest, &nbad, &nfiles, err, sizeof err) == 0 && nbad == 0
               && nfiles == 0,
           "installed files clean: %s", err);
    char wpath[1200];
    snprintf (wpath, sizeof wpath, "%s/src-facedet-1.0/weights.bin", path);
    if (access (wpath, F_OK) != 0)
        snprintf (wpath, sizeof wpath, "%s/weights.bin", path);
    int wfd = open (wpath, O_WRONLY);
    CHECK (wfd >= 0 && pwrite (wfd, "X", 1, 3) == 1, "damage an installed file");
    close (wfd);
    CHECK (pkg_catalog_check_files (c2, m1.manifest, &nbad, &nfiles, err, sizeof err) == 0 && nfiles == 1
               && nbad >= 1,
           "installed file damage found: %u pieces, %u files", nbad, nfiles);
    CHECK (pkg_catalog_get (c2, m1.manifest, &e) == 0 && e.state == PKG_STATE_CORRUPT
               && e.have == m1.piece_count - nbad,
           "corrupt after the file check: %s have %u of %u, dropped %u", pkg_state_name (e.state), e.have,
           m1.piece_count, nbad);
    //  Its pieces were punched out of the data (they must come from
    //  peers): put them back as a fetch would, and finish.
    CHECK (pkg_catalog_verify (c2, m1.manifest, &nbad, err, sizeof err) == 0 && nbad == 0,
           "the dropped pieces are no longer claimed");
    CHECK (pkg_file_pwrite (fd2, buf, m1.size, 0) == 0, "pieces back");
    CHECK (pkg_catalog_save_bitmap (c2, m1.manifest, bits, m1.piece_count) == 0
               && pkg_catalog_finish (c2, m1.manifest, err, sizeof err) == PKG_OK
               && pkg_catalog_check_files (c2, m1.manifest, &nbad, &nfiles, err, sizeof err) == 0
               && nfiles == 0,
           "unpacked anew: %s", err);
    //  The split scan (node/deploy.c hashes on a thread): piece 1 damaged
    //  and scanned on a thread; it leaves the bitmap before the apply (a
    //  repair under way): the apply drops nothing it does not hold.  Then a
    //  clean scan of the whole: piece 1 found, dropped.
    buf[m1.piece_size + 5] ^= 1;
    pkg_file_pwrite (fd2, buf + m1.piece_size + 5, 1, m1.piece_size + 5);
    pkg_scan_t *sc =
        pkg_catalog_scan_prepare (c2, m1.manifest, PKG_SCAN_PIECES | PKG_SCAN_FILES, err, sizeof err);
    CHECK (sc, "scan prepare: %s", err);
    if (sc) {
        pthread_t th;
        CHECK (pthread_create (&th, NULL, s_test_scan_thread, sc) == 0, "scan thread");
        pthread_join (th, NULL);
        uint8_t b2[PKG_PIECES_MAX / 8];
        memcpy (b2, bits, sizeof b2);
        pkg_bit_set (b2, 1, false);
        CHECK (pkg_catalog_save_bitmap (c2, m1.manifest, b2, m1.piece_count - 1) == 0, "piece 1 away");
        CHECK (pkg_catalog_scan_apply (c2, sc, &nbad, &nfiles, err, sizeof err) == 0 && nbad == 0,
               "a piece no longer held dropped: %u", nbad);
        pkg_scan_destroy (&sc);
        CHECK (sc == NULL, "scan destroy nulls");
        CHECK (pkg_catalog_save_bitmap (c2, m1.manifest, bits, m1.piece_count) == 0, "piece 1 back");
    }
    sc = pkg_catalog_scan_prepare (c2, m1.manifest, PKG_SCAN_PIECES | PKG_SCAN_FILES, err, sizeof err);
    if (sc) {
        pkg_scan_run (sc);
        CHECK (pkg_catalog_scan_apply (c2, sc, &nbad, &nfiles, err, sizeof err) == 0 && nbad == 1,
               "the scan finds piece 1: %u", nbad);
        pkg_scan_destroy (&sc);
    }
    CHECK (pkg_catalog_save_bitmap (c2, m1.manifest, bits, m1.piece_count) == 0
               && pkg_catalog_set_state (c2, m1.manifest, PKG_STATE_COMPLETE, "") == 0,
           "complete again");
    CHECK (pkg_catalog_verify (c2, m1.manifest, &nbad, err, sizeof err) == 0 && nbad == 1,
           "verify finds 1: %u", nbad);
    CHECK (pkg_catalog_get (c2, m1.manifest, &e) == 0 && e.state == PKG_STATE_CORRUPT
               && !pkg_bit_get (e.bitmap, 1) && pkg_bit_get (e.bitmap, 0) && e.have == m1.piece_count - 1,
           "corrupt, piece 1 dropped");
    close (fd2);
    free (buf);

    //  Export as a .mwpkg and publish that elsewhere.
    snprintf (f, sizeof f, "%s/exported.mwpkg", dir);
    CHECK (pkg_catalog_export (c1, m1.manifest, "mwpkg", f, err, sizeof err) == 0, "export: %s", err);
    CHECK (pkg_catalog_export (c1, m1.manifest, "docker-archive", f, err, sizeof err) == -1,
           "docker of a model");
    pkg_catalog_destroy (&c2);
    char s3[600];
    snprintf (s3, sizeof s3, "%s/box3", dir);
    pkg_catalog_t *c3 = pkg_catalog_open (s3, err, sizeof err);
    CHECK (c3
               && pkg_catalog_publish (c3, ring, f, now, 16, NULL, NULL, &how, NULL, detail, sizeof detail)
                      == PKG_OK,
           "exported publishes: %s", detail);
    pkg_catalog_destroy (&c3);
    pkg_catalog_parts_free (&parts);
out:
    pkg_catalog_destroy (&c1);
    pkg_catalog_destroy (&c2);
    pkg_seckey_destroy (&key);
    pkg_seckey_destroy (&evil);
    pkg_keyring_destroy (&ring);
    pkg_file_remove_tree (dir);
    if (verbose)
        printf ("pkg_catalog: done\n");
    return rc;
}
