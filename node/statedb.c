/*  =========================================================================
    node_statedb - persistent node state in SQLite (see statedb.h).
    ========================================================================= */
#include "node/statedb.h"
#include "common/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _node_statedb_t {
    sqlite3 *db;
};

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS peers (id TEXT PRIMARY KEY, name TEXT, addr TEXT NOT NULL,"
    " seen_ms INTEGER NOT NULL);"
    //  The camera registry (camera/cam_registry.h): one row per camera or
    //  tombstone, with its version.
    "CREATE TABLE IF NOT EXISTS cameras (id TEXT PRIMARY KEY, hlc INTEGER NOT NULL, origin BLOB NOT NULL,"
    " deleted INTEGER NOT NULL, json TEXT NOT NULL);";

node_statedb_t *
node_statedb_open (const char *state_dir, char *err, size_t errlen)
{
    char path[512];
    snprintf (path, sizeof path, "%s/state.db", state_dir);
    node_statedb_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg (self->db) : "cannot open");
        node_statedb_close (&self);
        return NULL;
    }
    sqlite3_busy_timeout (self->db, 2000);
    char *msg = NULL;
    if (sqlite3_exec (self->db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free (msg);
        node_statedb_close (&self);
        return NULL;
    }
    return self;
}

void
node_statedb_close (node_statedb_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sqlite3_close ((*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

int
node_statedb_get_u64 (node_statedb_t *self, const char *key, uint64_t *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT value FROM kv WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    int out = -1;
    if (rc == SQLITE_ROW) {
        *value = (uint64_t) sqlite3_column_int64 (st, 0);
        out = 0;
    }
    else if (rc == SQLITE_DONE)
        out = 1;
    sqlite3_finalize (st);
    return out;
}

int
node_statedb_set_u64 (node_statedb_t *self, const char *key, uint64_t value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "INSERT INTO kv(key,value) VALUES(?,?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) value);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    if (rc)
        mw_error ("statedb_write_failed", "key=%s reason=\"%s\"", key, sqlite3_errmsg (self->db));
    sqlite3_finalize (st);
    return rc;
}

int
node_statedb_set_u64s (node_statedb_t *self, const char *const *keys, const uint64_t *values, size_t n)
{
    if (sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        mw_error ("statedb_write_failed", "key=%s reason=\"%s\"", n ? keys[0] : "-",
                  sqlite3_errmsg (self->db));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (node_statedb_set_u64 (self, keys[i], values[i]) != 0) {
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    if (sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        mw_error ("statedb_write_failed", "key=%s reason=\"%s\"", n ? keys[0] : "-",
                  sqlite3_errmsg (self->db));
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int
node_statedb_peer_upsert (node_statedb_t *self, const char *id_hex, const char *name, const char *addr,
                          uint64_t seen_wall_ms)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "INSERT INTO peers(id,name,addr,seen_ms) VALUES(?,?,?,?) ON CONFLICT(id) "
                            "DO UPDATE SET name=excluded.name, addr=excluded.addr, seen_ms=excluded.seen_ms",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, id_hex, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, addr, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) seen_wall_ms);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    //  Keep the table small: the 256 most recent peers are plenty to rejoin.
    sqlite3_exec (self->db,
                  "DELETE FROM peers WHERE id NOT IN (SELECT id FROM peers ORDER BY seen_ms DESC LIMIT 256)",
                  NULL, NULL, NULL);
    return rc;
}

int
node_statedb_peer_delete (node_statedb_t *self, const char *id_hex)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM peers WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, id_hex, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

size_t
node_statedb_peer_addrs (node_statedb_t *self, char (*addrs)[100], size_t max)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2 (self->db, "SELECT addr FROM peers ORDER BY seen_ms DESC LIMIT ?", -1, &st, NULL)
        != SQLITE_OK)
        return 0;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) max);
    while (n < max && sqlite3_step (st) == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text (st, 0);
        snprintf (addrs[n], 100, "%s", a ? (const char *) a : "");
        if (addrs[n][0])
            n++;
    }
    sqlite3_finalize (st);
    return n;
}

int
node_statedb_cameras_put (node_statedb_t *self, const node_statedb_camera_t *rows, size_t n)
{
    if (n == 0)
        return 0;
    if (sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        mw_error ("statedb_write_failed", "table=cameras reason=\"%s\"", sqlite3_errmsg (self->db));
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (self->db,
                                 "INSERT INTO cameras(id,hlc,origin,deleted,json) VALUES(?,?,?,?,?) "
                                 "ON CONFLICT(id) DO UPDATE SET hlc=excluded.hlc, origin=excluded.origin, "
                                 "deleted=excluded.deleted, json=excluded.json",
                                 -1, &st, NULL)
                     == SQLITE_OK
                 ? 0
                 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_reset (st);
        sqlite3_bind_text (st, 1, rows[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (sqlite3_int64) rows[i].hlc);
        sqlite3_bind_blob (st, 3, rows[i].origin, 8, SQLITE_STATIC);
        sqlite3_bind_int (st, 4, rows[i].deleted ? 1 : 0);
        sqlite3_bind_text (st, 5, rows[i].json ? rows[i].json : "", -1, SQLITE_STATIC);
        if (sqlite3_step (st) != SQLITE_DONE)
            rc = -1;
    }
    sqlite3_finalize (st);
    if (rc == 0 && sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc != 0) {
        mw_error ("statedb_write_failed", "table=cameras reason=\"%s\"", sqlite3_errmsg (self->db));
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int
node_statedb_cameras_delete (node_statedb_t *self, const char *id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM cameras WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
node_statedb_cameras_each (node_statedb_t *self, void (*fn) (void *ctx, const node_statedb_camera_t *row),
                           void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT id,hlc,origin,deleted,json FROM cameras", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    int n = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
        node_statedb_camera_t row;
        memset (&row, 0, sizeof row);
        const unsigned char *id = sqlite3_column_text (st, 0);
        const void *origin = sqlite3_column_blob (st, 2);
        if (!id || !origin || sqlite3_column_bytes (st, 2) != 8)
            continue;   //  not ours: skip the row
        row.id = (const char *) id;
        row.hlc = (uint64_t) sqlite3_column_int64 (st, 1);
        memcpy (row.origin, origin, 8);
        row.deleted = sqlite3_column_int (st, 3) != 0;
        row.json = (const char *) sqlite3_column_text (st, 4);
        fn (ctx, &row);
        n++;
    }
    sqlite3_finalize (st);
    return n;
}

static void
s_test_row (void *ctx, const node_statedb_camera_t *row)
{
    int *seen = (int *) ctx;
    if (!strcmp (row->id, "cam-1") && row->hlc == 77 && row->origin[7] == 8 && !row->deleted
        && !strcmp (row->json, "{\"a\":1}"))
        seen[0]++;
    if (!strcmp (row->id, "cam-2") && row->deleted)
        seen[1]++;
}

int
node_statedb_test (bool verbose)
{
    char dir[] = "/tmp/mw-statedb-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[256];
    node_statedb_t *db = node_statedb_open (dir, err, sizeof err);
    if (!db)
        return -1;
    uint64_t v = 0;
    int ok = node_statedb_get_u64 (db, "incarnation", &v) == 1;
    ok = ok && node_statedb_set_u64 (db, "incarnation", 41) == 0
         && node_statedb_set_u64 (db, "incarnation", 42) == 0;
    const char *keys[] = {"k1", "k2"};
    uint64_t vals[] = {7, UINT64_MAX};
    ok = ok && node_statedb_set_u64s (db, keys, vals, 2) == 0;
    ok = ok && node_statedb_peer_upsert (db, "00aa", "a", "tcp://127.0.0.1:1", 10) == 0;
    ok = ok && node_statedb_peer_upsert (db, "00bb", "b", "tcp://127.0.0.1:2", 20) == 0;
    ok = ok && node_statedb_peer_upsert (db, "00aa", "a", "tcp://127.0.0.1:3", 30) == 0;
    node_statedb_close (&db);
    //  Reopen: values survived.
    db = node_statedb_open (dir, err, sizeof err);
    ok = ok && db && node_statedb_get_u64 (db, "incarnation", &v) == 0 && v == 42;
    ok = ok && node_statedb_get_u64 (db, "k2", &v) == 0 && v == UINT64_MAX;
    char addrs[4][100];
    size_t n = db ? node_statedb_peer_addrs (db, addrs, 4) : 0;
    ok = ok && n == 2 && strcmp (addrs[0], "tcp://127.0.0.1:3") == 0;
    ok = ok && node_statedb_peer_delete (db, "00bb") == 0 && node_statedb_peer_addrs (db, addrs, 4) == 1;
    //  Cameras: rows in one transaction, replaced by id, read back.
    node_statedb_camera_t rows[2] = {{"cam-1", 5, {1, 2, 3, 4, 5, 6, 7, 8}, false, "{}"},
                                     {"cam-2", 6, {0}, true, NULL}};
    ok = ok && node_statedb_cameras_put (db, rows, 2) == 0;
    rows[0].hlc = 77;
    rows[0].json = "{\"a\":1}";
    ok = ok && node_statedb_cameras_put (db, rows, 1) == 0;
    node_statedb_close (&db);
    db = node_statedb_open (dir, err, sizeof err);
    int seen[2] = {0, 0};
    ok = ok && db && node_statedb_cameras_each (db, s_test_row, seen) == 2 && seen[0] == 1 && seen[1] == 1;
    ok = ok && node_statedb_cameras_delete (db, "cam-2") == 0
         && node_statedb_cameras_each (db, s_test_row, seen) == 1;
    node_statedb_close (&db);
    if (verbose)
        printf ("statedb: ok=%d\n", ok);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        ok = 0;
    return ok ? 0 : -1;
}
