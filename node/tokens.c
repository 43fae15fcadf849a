/*  =========================================================================
    node_tokens - API bearer tokens (see tokens.h).
    ========================================================================= */
#include "node/tokens.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char name[NODE_TOKEN_NAME_MAX + 1];
    unsigned char hash[32];
    bool read_only;
    uint64_t created_ms, revoked_ms, last_used_ms;
} token_t;

struct _node_tokens_t {
    sqlite3 *db;
    pthread_mutex_t lock;   //  the table below (check runs on the HTTP thread)
    token_t tok[NODE_TOKENS_MAX];
    size_t n;
};

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS api_tokens (name TEXT PRIMARY KEY, hash BLOB NOT NULL,"
    " read_only INTEGER NOT NULL, created_ms INTEGER NOT NULL, revoked_ms INTEGER);";

bool
node_tokens_name_ok (const char *name)
{
    size_t n = name ? strlen (name) : 0;
    if (n == 0 || n > NODE_TOKEN_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

static void
s_hash (const char *token, unsigned char out[32])
{
    crypto_generichash (out, 32, (const unsigned char *) token, strlen (token), NULL, 0);
}

node_tokens_t *
node_tokens_open (const char *state_dir, char *err, size_t errlen)
{
    node_tokens_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    char path[512];
    snprintf (path, sizeof path, "%s/state.db", state_dir);
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg (self->db) : "cannot open");
        node_tokens_close (&self);
        return NULL;
    }
    sqlite3_busy_timeout (self->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec (self->db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free (msg);
        node_tokens_close (&self);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "SELECT name, hash, read_only, created_ms, revoked_ms FROM api_tokens "
                            "ORDER BY created_ms LIMIT ?",
                            -1, &st, NULL)
        != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, sqlite3_errmsg (self->db));
        node_tokens_close (&self);
        return NULL;
    }
    sqlite3_bind_int (st, 1, NODE_TOKENS_MAX);
    while (sqlite3_step (st) == SQLITE_ROW && self->n < NODE_TOKENS_MAX) {
        const char *name = (const char *) sqlite3_column_text (st, 0);
        if (!name || !node_tokens_name_ok (name) || sqlite3_column_bytes (st, 1) != 32)
            continue;   //  not ours to trust
        token_t *t = &self->tok[self->n++];
        snprintf (t->name, sizeof t->name, "%s", name);
        memcpy (t->hash, sqlite3_column_blob (st, 1), 32);
        t->read_only = sqlite3_column_int (st, 2) != 0;
        t->created_ms = (uint64_t) sqlite3_column_int64 (st, 3);
        t->revoked_ms = (uint64_t) sqlite3_column_int64 (st, 4);
    }
    sqlite3_finalize (st);
    return self;
}

void
node_tokens_close (node_tokens_t **self_p)
{
    assert (self_p);
    node_tokens_t *self = *self_p;
    if (!self)
        return;
    sqlite3_close (self->db);
    pthread_mutex_destroy (&self->lock);
    sodium_memzero (self->tok, sizeof self->tok);
    free (self);
    *self_p = NULL;
}

static token_t *
s_find (node_tokens_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp (self->tok[i].name, name))
            return &self->tok[i];
    return NULL;
}

int
node_tokens_create (node_tokens_t *self, const char *name, bool read_only, char *token, char *err,
                    size_t errlen)
{
    assert (self && token);
    if (!node_tokens_name_ok (name)) {
        snprintf (err, errlen, "a token name is 1 to %d letters, digits, '.', '_' or '-'",
                  NODE_TOKEN_NAME_MAX);
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    token_t *old = s_find (self, name);
    bool full = !old && self->n >= NODE_TOKENS_MAX;
    bool live = old && !old->revoked_ms;
    pthread_mutex_unlock (&self->lock);
    if (live) {
        snprintf (err, errlen, "a token named '%s' exists (revoke it first)", name);
        return -1;
    }
    if (full) {
        snprintf (err, errlen, "%d tokens exist: revoke one first", NODE_TOKENS_MAX);
        return -1;
    }
    unsigned char raw[32];
    randombytes_buf (raw, sizeof raw);
    memcpy (token, "mwt_", 4);
    sodium_bin2base64 (token + 4, NODE_TOKEN_TEXT_SIZE - 4, raw, sizeof raw,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (raw, sizeof raw);
    token_t t;
    memset (&t, 0, sizeof t);
    snprintf (t.name, sizeof t.name, "%s", name);
    s_hash (token, t.hash);
    t.read_only = read_only;
    t.created_ms = mw_wall_ms ();
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (
            self->db,
            "INSERT INTO api_tokens(name,hash,read_only,created_ms,revoked_ms) VALUES(?,?,?,?,NULL) "
            "ON CONFLICT(name) DO UPDATE SET hash=excluded.hash, read_only=excluded.read_only, "
            "created_ms=excluded.created_ms, revoked_ms=NULL",
            -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob (st, 2, t.hash, 32, SQLITE_STATIC);
        sqlite3_bind_int (st, 3, read_only ? 1 : 0);
        sqlite3_bind_int64 (st, 4, (sqlite3_int64) t.created_ms);
        rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (st);
    if (rc != 0) {
        snprintf (err, errlen, "cannot store the token: %s", sqlite3_errmsg (self->db));
        mw_error ("token_store_failed", "name=%s reason=\"%s\"", name, sqlite3_errmsg (self->db));
        sodium_memzero (token, NODE_TOKEN_TEXT_SIZE);
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    old = s_find (self, name);
    if (old)
        *old = t;
    else
        self->tok[self->n++] = t;
    pthread_mutex_unlock (&self->lock);
    mw_info ("token_created", "name=%s read_only=%d", name, read_only);
    return 0;
}

int
node_tokens_revoke (node_tokens_t *self, const char *name)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    token_t *t = node_tokens_name_ok (name) ? s_find (self, name) : NULL;
    bool live = t && !t->revoked_ms;
    pthread_mutex_unlock (&self->lock);
    if (!live)
        return 1;
    uint64_t now = mw_wall_ms ();
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (self->db, "UPDATE api_tokens SET revoked_ms=? WHERE name=?", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_int64 (st, 1, (sqlite3_int64) now);
        sqlite3_bind_text (st, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (st);
    if (rc != 0) {
        mw_error ("token_store_failed", "name=%s reason=\"%s\"", name, sqlite3_errmsg (self->db));
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    t = s_find (self, name);
    if (t)
        t->revoked_ms = now;
    pthread_mutex_unlock (&self->lock);
    mw_info ("token_revoked", "name=%s", name);
    return 0;
}

json_object *
node_tokens_list_json (node_tokens_t *self)
{
    assert (self);
    json_object *a = json_object_new_array ();
    if (!a)
        return NULL;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->n; i++) {
        const token_t *t = &self->tok[i];
        json_object *o = json_object_new_object ();
        if (!o)
            break;
        mw_json_add (o, "name", mw_json_str (t->name));
        mw_json_add (o, "read_only", mw_json_bool (t->read_only));
        mw_json_add (o, "created_ms", mw_json_u64 (t->created_ms));
        mw_json_add (o, "revoked_ms", t->revoked_ms ? mw_json_u64 (t->revoked_ms) : NULL);
        mw_json_add (o, "last_used_ms", t->last_used_ms ? mw_json_u64 (t->last_used_ms) : NULL);
        json_object_array_add (a, o);
    }
    pthread_mutex_unlock (&self->lock);
    return a;
}

int
node_tokens_check (node_tokens_t *self, const char *token, char *name, size_t namelen, bool *read_only)
{
    if (!self || !token || strncmp (token, "mwt_", 4) || strlen (token) != NODE_TOKEN_TEXT_SIZE - 1)
        return -1;
    unsigned char h[32];
    s_hash (token, h);
    int found = -1;
    pthread_mutex_lock (&self->lock);
    //  Every entry compared, in constant time: how long a refusal takes
    //  says nothing about which hashes are close.
    for (size_t i = 0; i < self->n; i++)
        if (sodium_memcmp (self->tok[i].hash, h, 32) == 0 && !self->tok[i].revoked_ms)
            found = (int) i;
    if (found >= 0) {
        token_t *t = &self->tok[found];
        t->last_used_ms = mw_wall_ms ();
        if (name)
            snprintf (name, namelen, "%s", t->name);
        if (read_only)
            *read_only = t->read_only;
    }
    pthread_mutex_unlock (&self->lock);
    return found >= 0 ? 0 : -1;
}

size_t
node_tokens_count (node_tokens_t *self)
{
    assert (self);
    size_t n = 0;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->n; i++)
        n += self->tok[i].revoked_ms == 0;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  --------------------------------------------------------------------------

int
node_tokens_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    char dir[] = "/tmp/mw-tokens-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[256] = "";
    node_tokens_t *t = node_tokens_open (dir, err, sizeof err);
    CHECK (t, "open: %s", err);
    if (!t)
        return -1;
    char a[NODE_TOKEN_TEXT_SIZE], b[NODE_TOKEN_TEXT_SIZE], name[80];
    bool ro = true;
    CHECK (node_tokens_create (t, "vms1", false, a, err, sizeof err) == 0, "create: %s", err);
    CHECK (strlen (a) == NODE_TOKEN_TEXT_SIZE - 1 && !strncmp (a, "mwt_", 4), "token text %s", a);
    CHECK (node_tokens_create (t, "ro", true, b, err, sizeof err) == 0, "create ro: %s", err);
    CHECK (node_tokens_create (t, "vms1", false, name, err, sizeof err) == -1 && strstr (err, "exists"),
           "duplicate name");
    CHECK (node_tokens_create (t, "bad name", false, name, err, sizeof err) == -1, "bad name");
    CHECK (node_tokens_check (t, a, name, sizeof name, &ro) == 0 && !strcmp (name, "vms1") && !ro, "check a");
    CHECK (node_tokens_check (t, b, name, sizeof name, &ro) == 0 && ro, "check ro");
    char wrong[NODE_TOKEN_TEXT_SIZE];
    memcpy (wrong, a, sizeof wrong);
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    CHECK (node_tokens_check (t, wrong, name, sizeof name, &ro) == -1, "altered token accepted");
    CHECK (node_tokens_check (t, "", name, sizeof name, &ro) == -1
               && node_tokens_check (t, NULL, NULL, 0, NULL) == -1,
           "empty accepted");
    CHECK (node_tokens_revoke (t, "vms1") == 0 && node_tokens_revoke (t, "vms1") == 1, "revoke");
    CHECK (node_tokens_check (t, a, name, sizeof name, &ro) == -1, "revoked token accepted");
    CHECK (node_tokens_count (t) == 1, "count");
    node_tokens_close (&t);
    //  On disk: only hashes; the revocation survives a restart.
    t = node_tokens_open (dir, err, sizeof err);
    CHECK (t && node_tokens_check (t, a, NULL, 0, NULL) == -1 && node_tokens_check (t, b, NULL, 0, &ro) == 0
               && ro,
           "after reopen");
    json_object *list = t ? node_tokens_list_json (t) : NULL;
    CHECK (list && json_object_array_length (list) == 2
               && !mw_json_is_null (json_object_array_get_idx (list, 0), "revoked_ms"),
           "list: %s", list ? mw_json_text (list, false) : "-");
    if (verbose && list)
        printf ("  %s\n", mw_json_text (list, false));
    json_object_put (list);
    //  A revoked name can be created again (a new secret).
    CHECK (t && node_tokens_create (t, "vms1", true, a, err, sizeof err) == 0
               && node_tokens_check (t, a, NULL, 0, &ro) == 0,
           "re-create");
    node_tokens_close (&t);
    char cmd[256];
    snprintf (cmd, sizeof cmd, "grep -qF '%s' %s/state.db* 2>/dev/null", b + 4, dir);
    CHECK (system (cmd) != 0, "a token's text reached the disk");
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
