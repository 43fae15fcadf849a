/*  =========================================================================
    cam_focus - focus geometry, the focus table and the FOCUS_ON rule (see
    cam_focus.h, docs/CAMERAS.md).
    ========================================================================= */
#include "camera/cam_focus.h"
#include "common/selftest.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEG2RAD (M_PI / 180.0)

struct _cam_focus_table_t {
    cam_focus_t f[CAM_FOCUS_MAX];
    bool used[CAM_FOCUS_MAX];
};

//  --------------------------------------------------------------------------
//  Geometry

double
cam_geo_distance_m (double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dp = (lat2 - lat1) * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
    double a = sin (dp / 2) * sin (dp / 2) + cos (p1) * cos (p2) * sin (dl / 2) * sin (dl / 2);
    if (a > 1)
        a = 1;
    return 2 * CAM_EARTH_RADIUS_M * atan2 (sqrt (a), sqrt (1 - a));
}

double
cam_geo_bearing_deg (double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
    double y = sin (dl) * cos (p2);
    double x = cos (p1) * sin (p2) - sin (p1) * cos (p2) * cos (dl);
    double b = atan2 (y, x) / DEG2RAD;
    b = fmod (b + 360.0, 360.0);
    return b >= 360.0 ? 0 : b;
}

bool
cam_geo_covers (const cam_geo_t *cam, double lat, double lon, double radius_m, double *distance_m)
{
    assert (cam);
    double d = cam_geo_distance_m (cam->lat, cam->lon, lat, lon);
    if (distance_m)
        *distance_m = d;
    if (!(d <= radius_m))
        return false;
    //  At the point (within a metre, GPS cannot tell better) the direction
    //  means nothing: the camera where it happened always joins.
    if (d < 1.0 || !cam->has_heading || !cam->has_fov || cam->fov_deg >= 360)
        return true;
    double b = cam_geo_bearing_deg (cam->lat, cam->lon, lat, lon);
    double diff = fabs (fmod (b - cam->heading_deg + 540.0, 360.0) - 180.0);
    return diff <= cam->fov_deg / 2;
}

//  --------------------------------------------------------------------------
//  The table

int
cam_focus_check (const cam_focus_t *f, char *err, size_t errlen)
{
    assert (f);
    static const cam_focus_id_t zero;
    if (!memcmp (f->id.b, zero.b, CAM_FOCUS_ID_LEN))
        snprintf (err, errlen, "focus id is zero");
    else if (!(f->lat >= -90 && f->lat <= 90) || !(f->lon >= -180 && f->lon <= 180))
        snprintf (err, errlen, "point %.6f,%.6f is not a GPS position", f->lat, f->lon);
    else if (f->radius_m < 1 || f->radius_m > CAM_FOCUS_RADIUS_MAX_M)
        snprintf (err, errlen, "radius %u m out of range (1..%d)", f->radius_m, CAM_FOCUS_RADIUS_MAX_M);
    else if (f->ttl_ms < 1 || f->ttl_ms > CAM_FOCUS_TTL_MAX_MS)
        snprintf (err, errlen, "ttl %u ms out of range (1..%d)", f->ttl_ms, CAM_FOCUS_TTL_MAX_MS);
    else
        return 0;
    return -1;
}

cam_focus_table_t *
cam_focus_table_new (void)
{
    return calloc (1, sizeof (cam_focus_table_t));
}

void
cam_focus_table_destroy (cam_focus_table_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

size_t
cam_focus_expire (cam_focus_table_t *self, uint64_t now_ms)
{
    size_t k = 0;
    for (int i = 0; i < CAM_FOCUS_MAX; i++)
        if (self->used[i] && self->f[i].expires_ms <= now_ms) {
            self->used[i] = false;
            k++;
        }
    return k;
}

static int
s_find (cam_focus_table_t *self, const cam_focus_id_t *id)
{
    for (int i = 0; i < CAM_FOCUS_MAX; i++)
        if (self->used[i] && !memcmp (self->f[i].id.b, id->b, CAM_FOCUS_ID_LEN))
            return i;
    return -1;
}

const cam_focus_t *
cam_focus_get (cam_focus_table_t *self, const cam_focus_id_t *id)
{
    int i = s_find (self, id);
    return i >= 0 ? &self->f[i] : NULL;
}

cam_focus_apply_t
cam_focus_apply (cam_focus_table_t *self, const cam_focus_t *f, uint64_t now_ms)
{
    assert (self && f);
    char err[96];
    if (cam_focus_check (f, err, sizeof err) != 0)
        return CAM_FOCUS_INVALID;
    cam_focus_expire (self, now_ms);
    uint64_t expires = now_ms + f->ttl_ms;
    int i = s_find (self, &f->id);
    if (i >= 0) {
        cam_focus_t *cur = &self->f[i];
        if (expires <= cur->expires_ms)
            return CAM_FOCUS_SAME;
        cur->expires_ms = expires;
        cur->ttl_ms = f->ttl_ms;
        return CAM_FOCUS_REFRESHED;
    }
    for (i = 0; i < CAM_FOCUS_MAX; i++)
        if (!self->used[i])
            break;
    if (i == CAM_FOCUS_MAX)
        return CAM_FOCUS_FULL;
    self->f[i] = *f;
    self->f[i].camera[MW_CAMERA_MAX] = 0;
    self->f[i].trigger[sizeof self->f[i].trigger - 1] = 0;
    self->f[i].expires_ms = expires;
    self->used[i] = true;
    return CAM_FOCUS_NEW;
}

const cam_focus_t *
cam_focus_near (cam_focus_table_t *self, double lat, double lon, uint32_t radius_m, uint64_t now_ms)
{
    const cam_focus_t *best = NULL;
    double best_d = 0;
    for (int i = 0; i < CAM_FOCUS_MAX; i++) {
        const cam_focus_t *f = &self->f[i];
        if (!self->used[i] || f->expires_ms <= now_ms)
            continue;
        double r = (f->radius_m < radius_m ? f->radius_m : radius_m) / 2.0;
        double d = cam_geo_distance_m (f->lat, f->lon, lat, lon);
        if (d <= r && (!best || d < best_d)) {
            best = f;
            best_d = d;
        }
    }
    return best;
}

size_t
cam_focus_list (cam_focus_table_t *self, uint64_t now_ms, cam_focus_t *out, size_t max)
{
    size_t k = 0;
    for (int i = 0; i < CAM_FOCUS_MAX && k < max; i++)
        if (self->used[i] && self->f[i].expires_ms > now_ms)
            out[k++] = self->f[i];
    return k;
}

size_t
cam_focus_count (cam_focus_table_t *self, uint64_t now_ms)
{
    size_t k = 0;
    for (int i = 0; i < CAM_FOCUS_MAX; i++)
        k += self->used[i] && self->f[i].expires_ms > now_ms;
    return k;
}

uint64_t
cam_focus_next_expiry (cam_focus_table_t *self)
{
    uint64_t w = UINT64_MAX;
    for (int i = 0; i < CAM_FOCUS_MAX; i++)
        if (self->used[i] && self->f[i].expires_ms < w)
            w = self->f[i].expires_ms;
    return w;
}

const cam_focus_t *
cam_focus_match (cam_focus_table_t *self, const cam_geo_t *cam, uint64_t now_ms, double *distance_m)
{
    const cam_focus_t *best = NULL;
    for (int i = 0; i < CAM_FOCUS_MAX; i++) {
        const cam_focus_t *f = &self->f[i];
        double d = 0;
        if (!self->used[i] || f->expires_ms <= now_ms
            || !cam_geo_covers (cam, f->lat, f->lon, f->radius_m, &d))
            continue;
        if (!best || f->expires_ms > best->expires_ms) {
            best = f;
            if (distance_m)
                *distance_m = d;
        }
    }
    return best;
}

void
cam_focus_id_hex (const cam_focus_id_t *id, char out[2 * CAM_FOCUS_ID_LEN + 1])
{
    for (int i = 0; i < CAM_FOCUS_ID_LEN; i++)
        snprintf (out + 2 * i, 3, "%02x", id->b[i]);
}

int
cam_focus_id_parse (const char *hex, cam_focus_id_t *id)
{
    if (!hex || strlen (hex) != 2 * CAM_FOCUS_ID_LEN)
        return -1;
    for (int i = 0; i < CAM_FOCUS_ID_LEN; i++) {
        unsigned v;
        if (!isxdigit ((unsigned char) hex[2 * i]) || !isxdigit ((unsigned char) hex[2 * i + 1])
            || sscanf (hex + 2 * i, "%2x", &v) != 1)
            return -1;
        id->b[i] = (uint8_t) v;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest

int
cam_focus_test (bool verbose)
{
    int rc = 0;
    //  Distances against known values: Seoul City Hall to Gangnam station
    //  ~8.8 km; one degree of latitude ~111.2 km; antipodes half the globe.
    double d = cam_geo_distance_m (37.5663, 126.9779, 37.4979, 127.0276);
    CHECK (fabs (d - 8813) < 60, "city hall - gangnam %.0f m", d);
    d = cam_geo_distance_m (0, 0, 1, 0);
    CHECK (fabs (d - 111195) < 5, "1 degree %.1f m", d);
    d = cam_geo_distance_m (10, 20, -10, -160);
    CHECK (fabs (d - M_PI * CAM_EARTH_RADIUS_M) < 1, "antipodes %.1f", d);
    CHECK (cam_geo_distance_m (37.57, 126.98, 37.57, 126.98) == 0, "same point");
    //  Bearings: north, east, south, west; across the antimeridian.
    CHECK (fabs (cam_geo_bearing_deg (0, 0, 1, 0) - 0) < 1e-9, "north");
    CHECK (fabs (cam_geo_bearing_deg (0, 0, 0, 1) - 90) < 1e-9, "east");
    CHECK (fabs (cam_geo_bearing_deg (1, 0, 0, 0) - 180) < 1e-9, "south");
    CHECK (fabs (cam_geo_bearing_deg (0, 1, 0, 0) - 270) < 1e-9, "west");
    CHECK (fabs (cam_geo_bearing_deg (0, 179.9, 0, -179.9) - 90) < 1e-6, "east over the antimeridian");
    CHECK (cam_geo_distance_m (0, 179.9, 0, -179.9) < 23000, "short over the antimeridian");

    //  Coverage: within the radius, and in the field of view when known.
    cam_geo_t cam = {37.5700, 126.9800, false, false, 0, 0};
    double north_100 = 37.5700 + 100.0 / 111195.0;   //  ~100 m north
    CHECK (cam_geo_covers (&cam, north_100, 126.98, 150, &d) && fabs (d - 100) < 1, "100 m in 150 (%.1f)", d);
    CHECK (!cam_geo_covers (&cam, north_100, 126.98, 80, NULL), "100 m not in 80");
    cam.has_heading = cam.has_fov = true;
    cam.heading_deg = 10;
    cam.fov_deg = 60;   //  sees 340..40
    CHECK (cam_geo_covers (&cam, north_100, 126.98, 150, NULL), "north in a 340..40 view");
    cam.heading_deg = 180;
    CHECK (!cam_geo_covers (&cam, north_100, 126.98, 150, NULL), "north not in a south view");
    CHECK (cam_geo_covers (&cam, 37.57, 126.98, 150, NULL), "own point always");
    cam.heading_deg = 359;
    cam.fov_deg = 4;   //  sees 357..1: north (0) inside across the wrap
    CHECK (cam_geo_covers (&cam, north_100, 126.98, 150, NULL), "view across 0");

    //  The table.
    cam_focus_table_t *t = cam_focus_table_new ();
    CHECK (t, "new");
    if (!t)
        return -1;
    cam_focus_t f;
    memset (&f, 0, sizeof f);
    f.id.b[0] = 1;
    f.lat = 37.57;
    f.lon = 126.98;
    f.radius_m = 200;
    f.ttl_ms = 10000;
    uint64_t now = 1000;
    CHECK (cam_focus_apply (t, &f, now) == CAM_FOCUS_NEW, "new");
    CHECK (cam_focus_apply (t, &f, now) == CAM_FOCUS_SAME, "idempotent");
    CHECK (cam_focus_apply (t, &f, now + 5000) == CAM_FOCUS_REFRESHED
               && cam_focus_get (t, &f.id)->expires_ms == now + 15000,
           "refresh extends");
    cam_focus_t shorter = f;
    shorter.ttl_ms = 1000;
    CHECK (cam_focus_apply (t, &shorter, now + 6000) == CAM_FOCUS_SAME
               && cam_focus_get (t, &f.id)->expires_ms == now + 15000,
           "a late copy never shortens");
    //  Coalescing: 50 m away with a 200 m radius is the same place; 500 m not.
    double lat50 = 37.57 + 50.0 / 111195.0, lat500 = 37.57 + 500.0 / 111195.0;
    CHECK (cam_focus_near (t, lat50, 126.98, 200, now) == cam_focus_get (t, &f.id), "coalesce 50 m");
    CHECK (cam_focus_near (t, lat500, 126.98, 200, now) == NULL, "500 m is another place");
    CHECK (cam_focus_near (t, lat50, 126.98, 200, now + 20000) == NULL, "not after expiry");
    //  Matching cameras.
    cam_geo_t near = {lat50, 126.98, false, false, 0, 0}, far = {lat500, 126.98, false, false, 0, 0};
    CHECK (cam_focus_match (t, &near, now, &d) && fabs (d - 50) < 1, "near camera covered");
    CHECK (!cam_focus_match (t, &far, now, NULL), "far camera untouched");
    CHECK (!cam_focus_match (t, &near, now + 15000, NULL), "over after the ttl");
    CHECK (cam_focus_next_expiry (t) == now + 15000, "next expiry");
    //  Bad values are refused.
    cam_focus_t bad = f;
    bad.id.b[0] = 9;
    bad.radius_m = CAM_FOCUS_RADIUS_MAX_M + 1;
    CHECK (cam_focus_apply (t, &bad, now) == CAM_FOCUS_INVALID, "radius");
    bad.radius_m = 10;
    bad.lat = NAN;
    CHECK (cam_focus_apply (t, &bad, now) == CAM_FOCUS_INVALID, "nan");
    bad.lat = 0;
    bad.ttl_ms = 0;
    CHECK (cam_focus_apply (t, &bad, now) == CAM_FOCUS_INVALID, "ttl");
    memset (&bad.id, 0, sizeof bad.id);
    bad.ttl_ms = 10;
    CHECK (cam_focus_apply (t, &bad, now) == CAM_FOCUS_INVALID, "zero id");
    //  A flood of new ids: bounded, and the running focus stays.
    int full = 0, stored = 0;
    for (int i = 0; i < 1000; i++) {
        cam_focus_t x = f;
        x.id.b[1] = (uint8_t) (i & 0xff);
        x.id.b[2] = (uint8_t) (i >> 8);
        x.id.b[3] = 1;
        cam_focus_apply_t r = cam_focus_apply (t, &x, now);
        stored += r == CAM_FOCUS_NEW;
        full += r == CAM_FOCUS_FULL;
    }
    CHECK (stored == CAM_FOCUS_MAX - 1 && full == 1000 - stored && cam_focus_get (t, &f.id), "flood: %d %d",
           stored, full);
    CHECK (cam_focus_expire (t, now + 20000) == CAM_FOCUS_MAX && cam_focus_count (t, now) == 0, "expire all");
    cam_focus_table_destroy (&t);
    CHECK (t == NULL, "destroy nulls");

    cam_focus_id_t id = {{0xde, 0xad}}, back;
    char hex[2 * CAM_FOCUS_ID_LEN + 1];
    cam_focus_id_hex (&id, hex);
    CHECK (cam_focus_id_parse (hex, &back) == 0 && !memcmp (&id, &back, sizeof id)
               && !strncmp (hex, "dead", 4),
           "id hex");
    CHECK (cam_focus_id_parse ("xyz", &back) == -1, "bad id hex");
    return rc;
}
