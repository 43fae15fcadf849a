/*  =========================================================================
    cam_registry - the camera registry's parsing, versions and merge (see
    cam_registry.h, docs/CAMERAS.md).

    The table is an array of pointers kept sorted by id: lookups are a
    binary search, listings come out in a stable order, and the largest
    table (1024 entries) costs one memmove of 8 KB on an insert.
    ========================================================================= */
#include "camera/cam_registry.h"
#include "common/json.h"
#include "common/selftest.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _cam_registry_t {
    size_t max;
    mw_id_t self_id;
    uint64_t skew_ms;
    uint64_t clock;   //  the HLC: last value given out or seen
    cam_record_t **rec;
    size_t n;
    uint64_t summary;
};

//  --------------------------------------------------------------------------
//  Parsing

bool
cam_id_valid (const char *id)
{
    size_t n = id ? strlen (id) : 0;
    if (n == 0 || n > CAM_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) id[i]) && !strchr ("._:-", id[i]))
            return false;
    return true;
}

//  A short, printable rendering of a value for an error message (the
//  document may come from anywhere: no control bytes, bounded).
static const char *
s_show (json_object *v, char *buf, size_t cap)
{
    const char *t = v ? json_object_to_json_string_ext (v, JSON_C_TO_STRING_PLAIN) : "null";
    assert (cap >= 8);
    size_t j = 0, i = 0;
    for (; t[i] && j + 4 < cap; i++)
        buf[j++] = (unsigned char) t[i] < 0x20 || t[i] == 0x7f ? '?' : t[i];
    if (t[i]) {
        memcpy (buf + j, "...", 3);
        j += 3;
    }
    buf[j] = 0;
    return buf;
}

//  A number given as a JSON number or as a numeric string ("37.57",
//  " 1 "): decimal only (no hex, inf or nan), finite, within [lo, hi].
//  0 ok, 1 absent (or null), -1 bad (err filled).
static int
s_number (json_object *doc, const char *key, const char *path, double lo, double hi, double *out, char *err,
          size_t errlen)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (doc, key, &v) || !v)
        return 1;
    char show[64];
    double d = 0;
    if (json_object_is_type (v, json_type_int) || json_object_is_type (v, json_type_double))
        d = json_object_get_double (v);
    else if (json_object_is_type (v, json_type_string)) {
        const char *s = json_object_get_string (v);
        size_t n = strlen (s);
        bool ok = n > 0 && n < 40;
        for (size_t i = 0; ok && i < n; i++)
            ok = isdigit ((unsigned char) s[i]) || strchr ("+-.eE ", s[i]);
        char *end = NULL;
        errno = 0;
        if (ok)
            d = strtod (s, &end);
        while (ok && end && *end == ' ')
            end++;
        if (!ok || errno || !end || end == s || *end) {
            snprintf (err, errlen, "field \"%s\": %s is not a number", path, s_show (v, show, sizeof show));
            return -1;
        }
    }
    else {
        snprintf (err, errlen, "field \"%s\": %s is not a number", path, s_show (v, show, sizeof show));
        return -1;
    }
    if (!isfinite (d) || d < lo || d > hi) {
        snprintf (err, errlen, "field \"%s\": %s is out of range (%g..%g)", path,
                  s_show (v, show, sizeof show), lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

//  A string of at most `max` bytes of UTF-8 without control characters.
//  0 ok, 1 absent (or null), -1 bad.
static int
s_string (json_object *doc, const char *key, size_t max, char *out, char *err, size_t errlen)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (doc, key, &v) || !v)
        return 1;
    char show[64];
    if (!json_object_is_type (v, json_type_string)) {
        snprintf (err, errlen, "field \"%s\": %s is not a string", key, s_show (v, show, sizeof show));
        return -1;
    }
    const char *s = json_object_get_string (v);
    size_t n = (size_t) json_object_get_string_len (v);
    if (n > max || strlen (s) != n) {
        snprintf (err, errlen, "field \"%s\": longer than %zu bytes or holds a NUL", key, max);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            snprintf (err, errlen, "field \"%s\": holds a control character", key);
            return -1;
        }
    if (!mw_json_utf8_valid (s)) {
        snprintf (err, errlen, "field \"%s\": not valid UTF-8", key);
        return -1;
    }
    memcpy (out, s, n + 1);
    return 0;
}

//  YES/NO (any case), Y/N, true/false, 1/0.  0 ok, 1 absent, -1 bad.
static int
s_yesno (json_object *doc, const char *key, bool *out, char *err, size_t errlen)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (doc, key, &v) || !v)
        return 1;
    char show[64];
    if (json_object_is_type (v, json_type_boolean)) {
        *out = json_object_get_boolean (v);
        return 0;
    }
    if (json_object_is_type (v, json_type_int)) {
        int64_t i = json_object_get_int64 (v);
        if (i == 0 || i == 1) {
            *out = i == 1;
            return 0;
        }
    }
    if (json_object_is_type (v, json_type_string)) {
        const char *s = json_object_get_string (v);
        if (!strcasecmp (s, "YES") || !strcasecmp (s, "Y") || !strcasecmp (s, "true") || !strcmp (s, "1")) {
            *out = true;
            return 0;
        }
        if (!strcasecmp (s, "NO") || !strcasecmp (s, "N") || !strcasecmp (s, "false") || !strcmp (s, "0")) {
            *out = false;
            return 0;
        }
    }
    snprintf (err, errlen, "field \"%s\": %s is not YES or NO", key, s_show (v, show, sizeof show));
    return -1;
}

//  rtsp://[user[:pass]@]host[:port][/path]: a scheme we ingest, a host,
//  no white space or control bytes.
static bool
s_url_ok (const char *u)
{
    const char *h = NULL;
    if (!strncasecmp (u, "rtsp://", 7))
        h = u + 7;
    else if (!strncasecmp (u, "rtsps://", 8))
        h = u + 8;
    if (!h)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char) *p <= 0x20 || *p == 0x7f)
            return false;
    const char *end = h + strcspn (h, "/?#");
    const char *at = NULL;
    for (const char *p = h; p < end; p++)
        if (*p == '@')
            at = p;
    if (at)
        h = at + 1;
    return end > h && *h != ':';
}

static int
s_fail (char *err, size_t errlen, const char *fmt, const char *arg)
{
    snprintf (err, errlen, fmt, arg);
    return -1;
}

int
cam_info_parse (const char *text, size_t len, cam_info_t *out, json_object **doc_out, char *err,
                size_t errlen)
{
    assert (out && err);
    memset (out, 0, sizeof *out);
    if (doc_out)
        *doc_out = NULL;
    if (!text || len == 0)
        return s_fail (err, errlen, "%sempty document", "");
    if (len > CAM_JSON_MAX) {
        snprintf (err, errlen, "document: %zu bytes, at most %d", len, CAM_JSON_MAX);
        return -1;
    }
    char perr[160];
    json_object *doc = mw_json_parse (text, len, perr, sizeof perr);
    if (!doc) {
        snprintf (err, errlen, "not JSON: %s", perr);
        return -1;
    }
    if (!json_object_is_type (doc, json_type_object)) {
        json_object_put (doc);
        return s_fail (err, errlen, "%sdocument: not a JSON object", "");
    }
    int r;
    double d;
    //  name: required.
    if ((r = s_string (doc, "name", CAM_NAME_MAX, out->name, err, errlen)) != 0 || !*out->name) {
        if (r >= 0)
            s_fail (err, errlen, "field \"name\": %s", r == 1 ? "missing" : "empty");
        goto fail;
    }
    //  id: given, or the name when that is a valid id.
    if ((r = s_string (doc, "id", CAM_ID_MAX, out->id, err, errlen)) < 0)
        goto fail;
    if (r == 1) {
        if (!cam_id_valid (out->name)) {
            s_fail (err, errlen,
                    "field \"id\": missing, and the name is no valid id (1..64 of A-Z a-z 0-9 . _ : -)%s",
                    "");
            goto fail;
        }
        memcpy (out->id, out->name, strlen (out->name) + 1);   //  valid: at most CAM_ID_MAX
    }
    else if (!cam_id_valid (out->id)) {
        s_fail (err, errlen, "field \"id\": 1..64 of A-Z a-z 0-9 . _ : - %s", "");
        goto fail;
    }
    //  type: required, an integer (or an integral numeric string).
    if ((r = s_number (doc, "type", "type", 0, 1000000, &d, err, errlen)) != 0) {
        if (r == 1)
            s_fail (err, errlen, "field \"type\": %s", "missing");
        goto fail;
    }
    if (d != floor (d)) {
        s_fail (err, errlen, "field \"type\": %s", "not an integer");
        goto fail;
    }
    out->type = (int64_t) d;
    //  gps: required, an object with latitude and longitude.
    json_object *gps = NULL;
    if (!json_object_object_get_ex (doc, "gps", &gps) || !gps) {
        s_fail (err, errlen, "field \"gps\": %s", "missing");
        goto fail;
    }
    if (!json_object_is_type (gps, json_type_object)) {
        s_fail (err, errlen, "field \"gps\": %s", "not an object");
        goto fail;
    }
    if ((r = s_number (gps, "latitude", "gps.latitude", -90, 90, &out->lat, err, errlen)) != 0) {
        if (r == 1)
            s_fail (err, errlen, "field \"gps.latitude\": %s", "missing");
        goto fail;
    }
    if ((r = s_number (gps, "longitude", "gps.longitude", -180, 180, &out->lon, err, errlen)) != 0) {
        if (r == 1)
            s_fail (err, errlen, "field \"gps.longitude\": %s", "missing");
        goto fail;
    }
    //  ip: required, an IPv4 or IPv6 address.
    if ((r = s_string (doc, "ip", CAM_IP_MAX, out->ip, err, errlen)) != 0) {
        if (r == 1)
            s_fail (err, errlen, "field \"ip\": %s", "missing");
        goto fail;
    }
    unsigned char addr[16];
    if (inet_pton (AF_INET, out->ip, addr) != 1 && inet_pton (AF_INET6, out->ip, addr) != 1) {
        s_fail (err, errlen, "field \"ip\": \"%.64s\" is not an IPv4 or IPv6 address", out->ip);
        goto fail;
    }
    //  url: required, rtsp:// or rtsps://.
    if ((r = s_string (doc, "url", CAM_URL_MAX, out->url, err, errlen)) != 0) {
        if (r == 1)
            s_fail (err, errlen, "field \"url\": %s", "missing");
        goto fail;
    }
    if (!s_url_ok (out->url)) {
        s_fail (err, errlen, "field \"url\": %s", "not an rtsp:// or rtsps:// URL with a host");
        goto fail;
    }
    //  isSupportAnalysis: required, in the seed's spelling or the right one;
    //  both given must agree.
    bool a1 = false, a2 = false;
    int r1 = s_yesno (doc, "isSupportAnnalysis", &a1, err, errlen);
    if (r1 < 0)
        goto fail;
    int r2 = s_yesno (doc, "isSupportAnalysis", &a2, err, errlen);
    if (r2 < 0)
        goto fail;
    if (r1 == 1 && r2 == 1) {
        s_fail (err, errlen, "field \"isSupportAnalysis\": %s", "missing (or isSupportAnnalysis)");
        goto fail;
    }
    if (r1 == 0 && r2 == 0 && a1 != a2) {
        s_fail (err, errlen, "field \"isSupportAnalysis\": %s", "disagrees with isSupportAnnalysis");
        goto fail;
    }
    out->analysis = r1 == 0 ? a1 : a2;
    //  address, description: optional strings.
    char scratch[CAM_JSON_MAX + 1];
    if (s_string (doc, "address", CAM_JSON_MAX, scratch, err, errlen) < 0
        || s_string (doc, "description", CAM_JSON_MAX, scratch, err, errlen) < 0)
        goto fail;
    //  Optional: heading_deg, fov_deg, box, fps, mode.
    if ((r = s_number (doc, "heading_deg", "heading_deg", 0, 360, &out->heading_deg, err, errlen)) < 0)
        goto fail;
    out->has_heading = r == 0;
    if (out->has_heading && out->heading_deg >= 360)
        out->heading_deg = 0;
    if ((r = s_number (doc, "fov_deg", "fov_deg", 0, 360, &out->fov_deg, err, errlen)) < 0)
        goto fail;
    if (r == 0 && !(out->fov_deg > 0)) {
        s_fail (err, errlen, "field \"fov_deg\": %s", "must be above 0");
        goto fail;
    }
    out->has_fov = r == 0;
    if (s_string (doc, "box", CAM_BOX_MAX, out->box, err, errlen) < 0)
        goto fail;
    if ((r = s_number (doc, "fps", "fps", 0, CAM_FPS_MAX, &out->fps, err, errlen)) < 0)
        goto fail;
    if (r == 0 && !(out->fps > 0)) {
        s_fail (err, errlen, "field \"fps\": %s", "must be above 0");
        goto fail;
    }
    char mode[16] = "";
    if ((r = s_string (doc, "mode", 15, mode, err, errlen)) < 0)
        goto fail;
    out->mode = CAM_MODE_NORMAL;
    if (r == 0 && !strcmp (mode, "idle"))
        out->mode = CAM_MODE_IDLE;
    else if (r == 0 && strcmp (mode, "normal")) {
        s_fail (err, errlen, "field \"mode\": \"%.15s\" is not idle or normal", mode);
        goto fail;
    }
    if (doc_out)
        *doc_out = doc;
    else
        json_object_put (doc);
    return 0;
fail:
    json_object_put (doc);
    memset (out, 0, sizeof *out);
    return -1;
}

//  --------------------------------------------------------------------------
//  Versions and the clock

int
cam_version_cmp (const cam_version_t *a, const cam_version_t *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    int c = memcmp (a->origin.b, b->origin.b, MW_ID_LEN);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

//  A new version for a local change: after every version seen, and at
//  least the wall clock.
static uint64_t
s_tick (cam_registry_t *self, uint64_t wall_ms)
{
    uint64_t pt = (wall_ms & ((UINT64_C (1) << 48) - 1)) << 16;
    self->clock = pt > self->clock ? pt : self->clock + 1;
    return self->clock;
}

static void
s_observe (cam_registry_t *self, uint64_t hlc)
{
    if (hlc > self->clock)
        self->clock = hlc;
}

//  A per-entry hash for the summary (splitmix over FNV-1a of the id).
static uint64_t
s_entry_hash (const cam_record_t *r)
{
    uint64_t h = UINT64_C (1469598103934665603);
    for (const char *p = r->id; *p; p++)
        h = (h ^ (uint8_t) *p) * UINT64_C (1099511628211);
    h ^= r->version.hlc * UINT64_C (0x9E3779B97F4A7C15);
    for (int i = 0; i < MW_ID_LEN; i++)
        h = (h ^ r->version.origin.b[i]) * UINT64_C (1099511628211);
    h ^= r->deleted ? UINT64_C (0x5bd1e995) : 0;
    h ^= h >> 31;
    h *= UINT64_C (0xBF58476D1CE4E5B9);
    return h ^ (h >> 29);
}

//  --------------------------------------------------------------------------
//  The table

cam_registry_t *
cam_registry_new (size_t max, const mw_id_t *self_id, uint64_t skew_ms)
{
    assert (self_id);
    if (max < 1 || max > CAM_REGISTRY_MAX)
        return NULL;
    cam_registry_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->rec = calloc (max, sizeof *self->rec);
    if (!self->rec) {
        free (self);
        return NULL;
    }
    self->max = max;
    self->self_id = *self_id;
    self->skew_ms = skew_ms;
    return self;
}

static void
s_record_free (cam_record_t *r)
{
    if (r) {
        free (r->json);
        free (r);
    }
}

void
cam_registry_destroy (cam_registry_t **self_p)
{
    assert (self_p);
    cam_registry_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        s_record_free (self->rec[i]);
    free (self->rec);
    free (self);
    *self_p = NULL;
}

//  Index of `id`, or -(insertion point) - 1.
static long
s_find (cam_registry_t *self, const char *id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp (self->rec[mid]->id, id);
        if (c == 0)
            return (long) mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long) lo - 1;
}

const cam_record_t *
cam_registry_get (cam_registry_t *self, const char *id)
{
    assert (self);
    if (!id)
        return NULL;
    long i = s_find (self, id);
    return i >= 0 ? self->rec[i] : NULL;
}

const cam_record_t *
cam_registry_at (cam_registry_t *self, size_t i)
{
    assert (self);
    return i < self->n ? self->rec[i] : NULL;
}

size_t
cam_registry_size (cam_registry_t *self)
{
    return self->n;
}

size_t
cam_registry_live (cam_registry_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n; i++)
        k += !self->rec[i]->deleted;
    return k;
}

size_t
cam_registry_max (cam_registry_t *self)
{
    return self->max;
}

uint64_t
cam_registry_summary (cam_registry_t *self)
{
    return self->summary ^ (uint64_t) self->n;
}

uint64_t
cam_registry_clock (cam_registry_t *self)
{
    return self->clock;
}

//  Room for one more entry: evict the oldest tombstone when full.  0/-1.
static int
s_make_room (cam_registry_t *self)
{
    if (self->n < self->max)
        return 0;
    long oldest = -1;
    for (size_t i = 0; i < self->n; i++)
        if (self->rec[i]->deleted
            && (oldest < 0 || cam_version_cmp (&self->rec[i]->version, &self->rec[oldest]->version) < 0))
            oldest = (long) i;
    if (oldest < 0)
        return -1;
    self->summary ^= s_entry_hash (self->rec[oldest]);
    s_record_free (self->rec[oldest]);
    memmove (&self->rec[oldest], &self->rec[oldest + 1], (self->n - (size_t) oldest - 1) * sizeof *self->rec);
    self->n--;
    return 0;
}

//  Store `r` (taken) in place of the entry of its id, or as a new one.
//  -1 (r freed) when there is no room.
static int
s_store (cam_registry_t *self, cam_record_t *r, const cam_record_t **out)
{
    long i = s_find (self, r->id);
    if (i >= 0) {
        self->summary ^= s_entry_hash (self->rec[i]);
        s_record_free (self->rec[i]);
        self->rec[i] = r;
    }
    else {
        if (s_make_room (self) != 0) {
            s_record_free (r);
            return -1;
        }
        i = s_find (self, r->id);   //  the table may have moved
        size_t at = (size_t) (-i - 1);
        memmove (&self->rec[at + 1], &self->rec[at], (self->n - at) * sizeof *self->rec);
        self->rec[at] = r;
        self->n++;
        i = (long) at;
    }
    self->summary ^= s_entry_hash (r);
    if (out)
        *out = r;
    return 0;
}

//  A live record from a checked document.
static cam_record_t *
s_record_live (const cam_info_t *info, const char *json, size_t len, const cam_version_t *v)
{
    cam_record_t *r = calloc (1, sizeof *r);
    if (!r)
        return NULL;
    r->json = malloc (len + 1);
    if (!r->json) {
        free (r);
        return NULL;
    }
    memcpy (r->json, json, len);
    r->json[len] = 0;
    r->json_len = len;
    r->info = *info;
    snprintf (r->id, sizeof r->id, "%s", info->id);
    r->version = *v;
    return r;
}

static cam_record_t *
s_record_tomb (const char *id, const cam_version_t *v)
{
    cam_record_t *r = calloc (1, sizeof *r);
    if (!r)
        return NULL;
    snprintf (r->id, sizeof r->id, "%s", id);
    snprintf (r->info.id, sizeof r->info.id, "%s", id);
    r->version = *v;
    r->deleted = true;
    return r;
}

int
cam_registry_put (cam_registry_t *self, const char *json, size_t len, uint64_t wall_ms,
                  const cam_record_t **out, char *err, size_t errlen)
{
    assert (self && err);
    cam_info_t info;
    if (cam_info_parse (json, len, &info, NULL, err, errlen) != 0)
        return -1;
    const cam_record_t *old = cam_registry_get (self, info.id);
    if (!old && self->n >= self->max) {
        bool tomb = false;
        for (size_t i = 0; i < self->n && !tomb; i++)
            tomb = self->rec[i]->deleted;
        if (!tomb) {
            snprintf (err, errlen, "registry full (%zu cameras)", self->max);
            return -1;
        }
    }
    cam_version_t v = {s_tick (self, wall_ms), self->self_id};
    cam_record_t *r = s_record_live (&info, json, len, &v);
    if (!r || s_store (self, r, out) != 0) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int
cam_registry_remove (cam_registry_t *self, const char *id, uint64_t wall_ms, const cam_record_t **out,
                     char *err, size_t errlen)
{
    assert (self && err);
    const cam_record_t *old = cam_registry_get (self, id);
    if (!old || old->deleted) {
        snprintf (err, errlen, "no camera %.64s", id && cam_id_valid (id) ? id : "(bad id)");
        return -1;
    }
    cam_version_t v = {s_tick (self, wall_ms), self->self_id};
    cam_record_t *r = s_record_tomb (id, &v);
    if (!r || s_store (self, r, out) != 0) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int
cam_registry_assign (cam_registry_t *self, const char *id, const char *box, uint64_t wall_ms,
                     const cam_record_t **out, char *err, size_t errlen)
{
    assert (self && box && err);
    const cam_record_t *old = cam_registry_get (self, id);
    if (!old || old->deleted) {
        snprintf (err, errlen, "no camera %.64s", id && cam_id_valid (id) ? id : "(bad id)");
        return -1;
    }
    if (strlen (box) > CAM_BOX_MAX || !mw_json_utf8_valid (box)) {
        snprintf (err, errlen, "box: at most %d bytes of UTF-8", CAM_BOX_MAX);
        return -1;
    }
    char perr[160];
    json_object *doc = mw_json_parse (old->json, old->json_len, perr, sizeof perr);
    if (!doc) {
        snprintf (err, errlen, "stored document unreadable: %s", perr);
        return -1;
    }
    if (*box)
        json_object_object_add (doc, "box", json_object_new_string (box));
    else
        json_object_object_del (doc, "box");
    const char *text = mw_json_text (doc, false);
    int rc = cam_registry_put (self, text, strlen (text), wall_ms, out, err, errlen);
    json_object_put (doc);
    return rc;
}

cam_merge_t
cam_registry_merge (cam_registry_t *self, const char *id, const cam_version_t *v, bool deleted,
                    const char *json, size_t len, uint64_t wall_ms, bool trusted, const cam_record_t **out,
                    char *err, size_t errlen)
{
    assert (self && v && err);
    if (out)
        *out = NULL;
    if (!cam_id_valid (id)) {
        snprintf (err, errlen, "bad camera id");
        return CAM_MERGE_REJECTED;
    }
    if (!trusted && cam_version_ms (v) > wall_ms + self->skew_ms) {
        snprintf (err, errlen, "version %llu ms ahead of our clock (more than %llu)",
                  (unsigned long long) (cam_version_ms (v) - wall_ms), (unsigned long long) self->skew_ms);
        return CAM_MERGE_REJECTED;
    }
    const cam_record_t *old = cam_registry_get (self, id);
    if (old && cam_version_cmp (v, &old->version) <= 0) {
        s_observe (self, v->hlc);
        return CAM_MERGE_STALE;
    }
    cam_record_t *r = NULL;
    if (deleted)
        r = s_record_tomb (id, v);
    else {
        cam_info_t info;
        if (cam_info_parse (json, len, &info, NULL, err, errlen) != 0)
            return CAM_MERGE_REJECTED;
        if (strcmp (info.id, id) != 0) {
            snprintf (err, errlen, "document's id %.64s is not the record's %.64s", info.id, id);
            return CAM_MERGE_REJECTED;
        }
        r = s_record_live (&info, json, len, v);
    }
    if (!r) {
        snprintf (err, errlen, "out of memory");
        return CAM_MERGE_REJECTED;
    }
    if (s_store (self, r, out) != 0) {
        snprintf (err, errlen, "registry full (%zu cameras)", self->max);
        return CAM_MERGE_FULL;
    }
    s_observe (self, v->hlc);
    return CAM_MERGE_APPLIED;
}

//  --------------------------------------------------------------------------
//  JSON views

//  rtsp://user:pass@host/... -> rtsp://user:***@host/...: views never show
//  a camera's password (the ingest reads the stored document).
static void
s_mask_url (const char *url, char *out, size_t cap)
{
    snprintf (out, cap, "%s", url);
    char *h = strstr (out, "://");
    if (!h)
        return;
    h += 3;
    char *end = h + strcspn (h, "/?#");
    char *at = NULL;
    for (char *p = h; p < end; p++)
        if (*p == '@')
            at = p;
    char *colon = at ? memchr (h, ':', (size_t) (at - h)) : NULL;
    if (!colon)
        return;
    char tail[CAM_URL_MAX + 1];
    snprintf (tail, sizeof tail, "%s", at);
    snprintf (colon, cap - (size_t) (colon - out), ":***%s", tail);
}

json_object *
cam_record_json (const cam_record_t *r)
{
    assert (r);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    const cam_info_t *c = &r->info;
    char origin[2 * MW_ID_LEN + 1];
    for (int i = 0; i < MW_ID_LEN; i++)
        snprintf (origin + 2 * i, 3, "%02x", r->version.origin.b[i]);
    mw_json_add (o, "id", mw_json_str (r->id));
    mw_json_add (o, "deleted", mw_json_bool (r->deleted));
    if (!r->deleted) {
        char url[CAM_URL_MAX + 8];
        s_mask_url (c->url, url, sizeof url);
        mw_json_add (o, "name", mw_json_str (c->name));
        mw_json_add (o, "type", mw_json_i64 (c->type));
        mw_json_add (o, "lat", mw_json_num (c->lat, 6));
        mw_json_add (o, "lon", mw_json_num (c->lon, 6));
        mw_json_add (o, "ip", mw_json_str (c->ip));
        mw_json_add (o, "url", mw_json_str (url));
        mw_json_add (o, "analysis", mw_json_bool (c->analysis));
        mw_json_add (o, "heading_deg", c->has_heading ? mw_json_num (c->heading_deg, 1) : NULL);
        mw_json_add (o, "fov_deg", c->has_fov ? mw_json_num (c->fov_deg, 1) : NULL);
        mw_json_add (o, "box", *c->box ? mw_json_str (c->box) : NULL);
        mw_json_add (o, "fps", c->fps > 0 ? mw_json_num (c->fps, 2) : NULL);
        mw_json_add (o, "mode", mw_json_str (c->mode == CAM_MODE_IDLE ? "idle" : "normal"));
    }
    json_object *v = json_object_new_object ();
    if (v) {
        mw_json_add (v, "hlc", mw_json_u64 (r->version.hlc));
        mw_json_add (v, "ms", mw_json_u64 (cam_version_ms (&r->version)));
        mw_json_add (v, "origin", mw_json_str (origin));
    }
    mw_json_add (o, "version", v);
    json_object *doc = NULL;
    if (!r->deleted && r->json) {
        char perr[64];
        doc = mw_json_parse (r->json, r->json_len, perr, sizeof perr);
        json_object *u = NULL;
        if (doc && json_object_object_get_ex (doc, "url", &u) && json_object_is_type (u, json_type_string)) {
            char url[CAM_URL_MAX + 8];
            s_mask_url (json_object_get_string (u), url, sizeof url);
            json_object_object_add (doc, "url", json_object_new_string (url));
        }
    }
    mw_json_add (o, "camera", doc);
    return o;
}

json_object *
cam_registry_list_json (cam_registry_t *self, bool all)
{
    assert (self);
    json_object *a = json_object_new_array ();
    for (size_t i = 0; a && i < self->n; i++)
        if (all || !self->rec[i]->deleted)
            json_object_array_add (a, cam_record_json (self->rec[i]));
    return a;
}

//  --------------------------------------------------------------------------
//  Selftest

#define SEED                                                                                                 \
    "{\"name\":\"EdgeCCTV01\",\"type\":1,\"gps\":{\"latitude\":\"37.57\",\"longitude\":\"126.98\"},"         \
    "\"address\":\"Seoul\",\"ip\":\"192.168.0.9\",\"isSupportAnnalysis\":\"YES\","                           \
    "\"url\":\"rtsp://root:root@192.168.0.9/axis-media/media.amp\",\"description\":\"gate\"}"

static int
s_test_parse (bool verbose)
{
    int rc = 0;
    cam_info_t c;
    char err[256];
    json_object *doc = NULL;
    //  The seed verbatim: numbers as strings, the seed's spelling.
    CHECK (cam_info_parse (SEED, strlen (SEED), &c, &doc, err, sizeof err) == 0, "seed: %s", err);
    CHECK (!strcmp (c.id, "EdgeCCTV01") && !strcmp (c.name, "EdgeCCTV01") && c.type == 1
               && fabs (c.lat - 37.57) < 1e-9 && fabs (c.lon - 126.98) < 1e-9 && c.analysis
               && !strcmp (c.ip, "192.168.0.9") && !c.has_heading && !*c.box && c.mode == CAM_MODE_NORMAL,
           "seed fields");
    CHECK (doc && json_object_object_length (doc) == 8, "document kept whole");
    json_object_put (doc);
    //  The right spelling, numbers as numbers, options.
    const char *ok2 = "{\"name\":\"cam two\",\"id\":\"cam-2\",\"type\":\"2\",\"gps\":{\"latitude\":37.5,"
                      "\"longitude\":-0.25},\"ip\":\"fe80::1\",\"isSupportAnalysis\":\"no\","
                      "\"url\":\"rtsp://10.0.0.2:8554/onvif-media/media.amp\",\"heading_deg\":\"90\","
                      "\"fov_deg\":60,\"box\":\"edge-1\",\"fps\":\"5\",\"mode\":\"idle\",\"extra\":[1,2]}";
    CHECK (cam_info_parse (ok2, strlen (ok2), &c, NULL, err, sizeof err) == 0, "ok2: %s", err);
    CHECK (!strcmp (c.id, "cam-2") && c.type == 2 && !c.analysis && c.has_heading && c.heading_deg == 90
               && c.has_fov && c.fov_deg == 60 && !strcmp (c.box, "edge-1") && c.fps == 5
               && c.mode == CAM_MODE_IDLE,
           "ok2 fields");
    //  Refusals name the field.
    struct {
        const char *doc, *want;
    } bad[] = {
        {"{\"name\":", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{}", "field \"name\": missing"},
        {"{\"name\":\"a b\"}", "field \"id\""},
        {"{\"name\":\"a\",\"gps\":{}}", "field \"type\": missing"},
        {"{\"name\":\"a\",\"type\":1}", "field \"gps\": missing"},
        {"{\"name\":\"a\",\"type\":1.5}", "field \"type\": not an integer"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":\"abc\"}}", "field \"gps.latitude\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":\"0x10\"}}", "field \"gps.latitude\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":\"nan\"}}", "field \"gps.latitude\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":91,\"longitude\":0}}", "out of range"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1}}", "field \"gps.longitude\": missing"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2}}", "field \"ip\": missing"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"999.1.1.1\"}",
         "field \"ip\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\"}",
         "field \"url\": missing"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"http://x/\"}",
         "field \"url\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\"}",
         "field \"isSupportAnalysis\": missing"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\",\"isSupportAnnalysis\":\"MAYBE\"}",
         "field \"isSupportAnnalysis\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\",\"isSupportAnnalysis\":\"YES\",\"isSupportAnalysis\":\"NO\"}",
         "disagrees"},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\",\"isSupportAnalysis\":true,\"fps\":0}",
         "field \"fps\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\",\"isSupportAnalysis\":true,\"heading_deg\":400}",
         "field \"heading_deg\""},
        {"{\"name\":\"a\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
         "\"url\":\"rtsp://x/\",\"isSupportAnalysis\":true,\"mode\":\"fast\"}",
         "field \"mode\""},
        {"{\"name\":\"a\\u0001\",\"id\":\"a\"}", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        *err = 0;
        int r = cam_info_parse (bad[i].doc, strlen (bad[i].doc), &c, NULL, err, sizeof err);
        CHECK (r == -1 && strstr (err, bad[i].want), "bad[%zu]: rc %d err '%s' want '%s'", i, r, err,
               bad[i].want);
        if (verbose)
            printf ("  refused: %s\n", err);
    }
    char big[CAM_JSON_MAX + 16];
    memset (big, ' ', sizeof big);
    CHECK (cam_info_parse (big, sizeof big, &c, NULL, err, sizeof err) == -1 && strstr (err, "at most"),
           "oversized: %s", err);
    return rc;
}

int
cam_registry_test (bool verbose)
{
    int rc = s_test_parse (verbose);
    char err[256];
    mw_id_t ida = {{1}}, idb = {{2}};
    cam_registry_t *a = cam_registry_new (4, &ida, 60000);
    cam_registry_t *b = cam_registry_new (4, &idb, 60000);
    CHECK (a && b && !cam_registry_new (0, &ida, 0), "new");
    if (!a || !b)
        return -1;
    const cam_record_t *r = NULL;
    uint64_t t = 1700000000000ull;
    CHECK (cam_registry_put (a, SEED, strlen (SEED), t, &r, err, sizeof err) == 0 && r, "put: %s", err);
    CHECK (r && r->version.hlc == t << 16 && mw_id_eq (&r->version.origin, &ida), "version");
    cam_version_t v1 = r->version;
    //  A replica takes it; the same record again is stale; summaries agree.
    CHECK (cam_registry_merge (b, r->id, &r->version, false, r->json, r->json_len, t, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_APPLIED,
           "merge: %s", err);
    CHECK (cam_registry_merge (b, r->id, &r->version, false, r->json, r->json_len, t, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_STALE,
           "merge twice");
    CHECK (cam_registry_summary (a) == cam_registry_summary (b), "summaries");
    //  Concurrent edits in a partition: A assigns at t+10, B at t+5 (its
    //  clock is behind): A's wins on both sides, whatever the order.
    const cam_record_t *ra = NULL, *rb = NULL;
    CHECK (cam_registry_assign (a, "EdgeCCTV01", "box-a", t + 10, &ra, err, sizeof err) == 0, "assign a");
    CHECK (cam_registry_assign (b, "EdgeCCTV01", "box-b", t + 5, &rb, err, sizeof err) == 0, "assign b");
    cam_version_t va = ra->version, vb = rb->version;
    char *ja = strdup (ra->json), *jb = strdup (rb->json);
    CHECK (cam_registry_merge (a, "EdgeCCTV01", &vb, false, jb, strlen (jb), t + 20, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_STALE,
           "older edit ignored");
    CHECK (cam_registry_merge (b, "EdgeCCTV01", &va, false, ja, strlen (ja), t + 20, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_APPLIED,
           "newer edit applied");
    CHECK (!strcmp (cam_registry_get (a, "EdgeCCTV01")->info.box, "box-a")
               && !strcmp (cam_registry_get (b, "EdgeCCTV01")->info.box, "box-a")
               && cam_registry_summary (a) == cam_registry_summary (b),
           "converged on the last writer");
    free (ja);
    free (jb);
    //  The clock never runs behind what it saw: B edits at wall t+1 after
    //  seeing A's t+10: B's edit is newer.
    CHECK (cam_registry_assign (b, "EdgeCCTV01", "box-b2", t + 1, &rb, err, sizeof err) == 0
               && cam_version_cmp (&rb->version, &va) > 0,
           "HLC after an observed version");
    //  Same clock, different boxes: the box id breaks the tie.
    cam_version_t x = {v1.hlc + 999, ida}, y = {v1.hlc + 999, idb};
    CHECK (cam_version_cmp (&x, &y) < 0 && cam_version_cmp (&y, &x) > 0 && cam_version_cmp (&x, &x) == 0,
           "tie break");
    //  Removal: a tombstone beats older copies, loses to newer ones.
    CHECK (cam_registry_remove (a, "EdgeCCTV01", t + 30, &r, err, sizeof err) == 0 && r->deleted, "remove");
    cam_version_t tomb = r->version;
    CHECK (cam_registry_remove (a, "EdgeCCTV01", t + 31, &r, err, sizeof err) == -1, "remove twice");
    CHECK (cam_registry_merge (a, "EdgeCCTV01", &va, false, SEED, strlen (SEED), t + 40, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_STALE,
           "stale copy after removal");
    CHECK (cam_registry_live (a) == 0 && cam_registry_size (a) == 1, "tombstone kept");
    CHECK (cam_registry_merge (b, "EdgeCCTV01", &tomb, true, NULL, 0, t + 40, false, NULL, err, sizeof err)
                   == CAM_MERGE_APPLIED
               && cam_registry_live (b) == 0,
           "tombstone replicated");
    //  A version far ahead of the clock is refused; from disk it is trusted.
    cam_version_t future = {(t + 3600000) << 16, idb};
    CHECK (cam_registry_merge (a, "EdgeCCTV01", &future, false, SEED, strlen (SEED), t, false, NULL, err,
                               sizeof err)
                   == CAM_MERGE_REJECTED
               && strstr (err, "ahead"),
           "future version: %s", err);
    //  Bad documents, bad ids, a document whose id is not the record's.
    cam_version_t later = {(t + 50) << 16, idb};
    CHECK (cam_registry_merge (a, "x y", &later, false, SEED, strlen (SEED), t + 50, false, NULL, err,
                               sizeof err)
               == CAM_MERGE_REJECTED,
           "bad id");
    CHECK (cam_registry_merge (a, "other", &later, false, SEED, strlen (SEED), t + 50, false, NULL, err,
                               sizeof err)
                   == CAM_MERGE_REJECTED
               && strstr (err, "not the record's"),
           "id mismatch: %s", err);
    CHECK (cam_registry_merge (a, "EdgeCCTV01", &later, false, "{", 1, t + 50, false, NULL, err, sizeof err)
               == CAM_MERGE_REJECTED,
           "bad json merge");
    //  Bounds: 4 entries; the oldest tombstone makes room, then full.
    char doc[512];
    int stored = 0, full = 0;
    for (int i = 0; i < 6; i++) {
        snprintf (doc, sizeof doc,
                  "{\"name\":\"c%d\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
                  "\"url\":\"rtsp://x/%d\",\"isSupportAnalysis\":\"YES\"}",
                  i, i);
        if (cam_registry_put (a, doc, strlen (doc), t + 100 + (uint64_t) i, NULL, err, sizeof err) == 0)
            stored++;
        else
            full += strstr (err, "registry full") != NULL;
    }
    CHECK (stored == 4 && full == 2 && cam_registry_size (a) == 4 && !cam_registry_get (a, "EdgeCCTV01"),
           "bounded: stored %d full %d size %zu", stored, full, cam_registry_size (a));
    cam_version_t newer = {(t + 200) << 16, idb};
    snprintf (doc, sizeof doc,
              "{\"name\":\"c9\",\"type\":1,\"gps\":{\"latitude\":1,\"longitude\":2},\"ip\":\"1.2.3.4\","
              "\"url\":\"rtsp://x/9\",\"isSupportAnalysis\":\"YES\"}");
    CHECK (
        cam_registry_merge (a, "c9", &newer, false, doc, strlen (doc), t + 200, false, NULL, err, sizeof err)
            == CAM_MERGE_FULL,
        "remote new camera when full");
    //  Views: sorted, password masked.
    CHECK (cam_registry_put (b, SEED, strlen (SEED), t + 500, NULL, err, sizeof err) == 0, "put b");
    json_object *list = cam_registry_list_json (b, false);
    const char *text = mw_json_text (list, false);
    CHECK (json_object_array_length (list) == 1 && strstr (text, "rtsp://root:***@192.168.0.9/axis-media")
               && !strstr (text, "root:root"),
           "list view: %s", text);
    if (verbose)
        printf ("  %s\n", text);
    json_object_put (list);
    for (size_t i = 1; i < cam_registry_size (a); i++)
        CHECK (strcmp (cam_registry_at (a, i - 1)->id, cam_registry_at (a, i)->id) < 0, "sorted");
    cam_registry_destroy (&a);
    cam_registry_destroy (&b);
    CHECK (a == NULL, "destroy nulls");
    return rc;
}
