/*  =========================================================================
    cam_focus - scenario 4 as pure code: when a security event happens at a
    place, the cameras around it concentrate on it for a while.

    A focus is {id, origin box, origin camera, lat, lon, radius_m, ttl}.
    It is created where the event happened (a rule on a job's detections,
    FOCUS_ON=face>=0.8, or `meshwatch focus`), spread to every box, and
    applied by each box to its own cameras:

      * geometry: a camera is covered when its great-circle distance to the
        focus point is within the radius and, where its heading_deg and
        fov_deg are known, the point lies inside its field of view (the
        bearing from the camera to the point within fov/2 of the heading);
        a camera at the point itself is always covered;
      * the table: focuses are idempotent by id (a copy that arrives twice,
        or through two paths, changes nothing); a copy with a later expiry
        extends it (a refresh), never shortens it; at most CAM_FOCUS_MAX are
        tracked, and a flood of new ids cannot push out the ones that are
        running (new ones are refused when the table is full);
      * coalescing: a new request close to a running focus (its point
        within half the smaller radius) refreshes that focus instead of
        making another one, so a face seen on every frame of a camera, or
        two cameras seeing the same person, make one focus, not hundreds;
      * the rule: FOCUS_ON is CLASS>=SCORE[,CLASS>=SCORE...]; a result
        matches when any detection of a listed class scores at least that.

    Times are the caller's monotonic milliseconds; a focus on the wire
    carries the time it has left (ttl_ms), not a clock reading, so boxes
    need no synchronised clocks.
    ========================================================================= */
#ifndef CAM_FOCUS_H_INCLUDED
#define CAM_FOCUS_H_INCLUDED

#include "common/detrule.h"
#include "common/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAM_FOCUS_MAX          64          //  focuses tracked at once
#define CAM_FOCUS_ID_LEN       16          //  random bytes
#define CAM_FOCUS_RADIUS_MAX_M 50000       //  50 km
#define CAM_FOCUS_TTL_MAX_MS   3600000     //  an hour
#define CAM_EARTH_RADIUS_M     6371008.8   //  mean radius (IUGG)

typedef struct {
    uint8_t b[CAM_FOCUS_ID_LEN];
} cam_focus_id_t;

typedef struct {
    cam_focus_id_t id;
    mw_id_t origin;                   //  the box that created it
    char camera[MW_CAMERA_MAX + 1];   //  the camera where it happened ("" = a point)
    char trigger[16];                 //  "rule", "cli", "api"
    double lat, lon;
    uint32_t radius_m;          //  1..CAM_FOCUS_RADIUS_MAX_M
    uint32_t ttl_ms;            //  as set when created or last refreshed
    uint64_t expires_ms;        //  local monotonic clock
    uint64_t created_wall_ms;   //  the origin's wall clock at creation (display, latency tests)
} cam_focus_t;

//  Great-circle distance (haversine), metres; initial bearing from 1 to 2,
//  degrees clockwise from north in [0, 360).
double cam_geo_distance_m (double lat1, double lon1, double lat2, double lon2);
double cam_geo_bearing_deg (double lat1, double lon1, double lat2, double lon2);

//  Where a camera is and looks.
typedef struct {
    double lat, lon;
    bool has_heading, has_fov;
    double heading_deg, fov_deg;
} cam_geo_t;

//  Is the point (lat, lon) at most radius_m from the camera and in its view?
//  *distance_m (may be NULL) gets the distance.
bool cam_geo_covers (const cam_geo_t *cam, double lat, double lon, double radius_m, double *distance_m);

//  Check a focus from outside (wire, control): point, radius, ttl, id.
//  0, or -1 with the reason.
int cam_focus_check (const cam_focus_t *f, char *err, size_t errlen);

typedef struct _cam_focus_table_t cam_focus_table_t;

cam_focus_table_t *cam_focus_table_new (void);
void cam_focus_table_destroy (cam_focus_table_t **self_p);

typedef enum {
    CAM_FOCUS_NEW = 1,         //  stored
    CAM_FOCUS_REFRESHED = 2,   //  known: expiry extended
    CAM_FOCUS_SAME = 0,        //  known, nothing changed
    CAM_FOCUS_FULL = -1,       //  new, but CAM_FOCUS_MAX are running
    CAM_FOCUS_INVALID = -2,    //  out of range (cam_focus_check)
} cam_focus_apply_t;

//  Apply a focus with `ttl_ms` left at `now_ms` (f->expires_ms is ignored
//  and set from it).  Expired focuses are dropped first.
cam_focus_apply_t cam_focus_apply (cam_focus_table_t *self, const cam_focus_t *f, uint64_t now_ms);
//  A running focus whose point lies within half the smaller radius of
//  (lat, lon, radius_m): the one to refresh instead of making a new one.
const cam_focus_t *cam_focus_near (cam_focus_table_t *self, double lat, double lon, uint32_t radius_m,
                                   uint64_t now_ms);
const cam_focus_t *cam_focus_get (cam_focus_table_t *self, const cam_focus_id_t *id);
//  Drop expired focuses; returns how many.
size_t cam_focus_expire (cam_focus_table_t *self, uint64_t now_ms);
//  Running focuses (at most CAM_FOCUS_MAX), soonest expiry first is not
//  promised: in table order.
size_t cam_focus_list (cam_focus_table_t *self, uint64_t now_ms, cam_focus_t *out, size_t max);
size_t cam_focus_count (cam_focus_table_t *self, uint64_t now_ms);
//  The earliest expiry (UINT64_MAX when none).
uint64_t cam_focus_next_expiry (cam_focus_table_t *self);
//  The running focus covering a camera that lasts longest (NULL: none).
//  *distance_m gets the camera's distance to its point.
const cam_focus_t *cam_focus_match (cam_focus_table_t *self, const cam_geo_t *cam, uint64_t now_ms,
                                    double *distance_m);

//  The FOCUS_ON rule: common/detrule.h (mw_detrule_t).

//  Focus ids as 32 hex digits.
void cam_focus_id_hex (const cam_focus_id_t *id, char out[2 * CAM_FOCUS_ID_LEN + 1]);
int cam_focus_id_parse (const char *hex, cam_focus_id_t *id);

int cam_focus_test (bool verbose);

#endif
