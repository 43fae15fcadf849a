/*  =========================================================================
    cam_registry - the mesh-wide camera registry, as pure code: the seed's
    camera JSON parsed into typed fields, a version per camera, and the
    merge rule that makes every box converge on one value.

    A camera is registered with the customer's JSON, accepted verbatim:

        {"name":"EdgeCCTV01","type":1,"gps":{"latitude":"37.57","longitude":
         "126.98"},"address":"...","ip":"192.168.0.9","isSupportAnnalysis":
         "YES","url":"rtsp://...","description":"..."}

    (the seed's spelling `isSupportAnnalysis`, or `isSupportAnalysis`;
    YES/NO or true/false; numbers as numbers or numeric strings) plus the
    optional keys `id` (default: the name), `heading_deg`, `fov_deg`,
    `box` (the NODE_NAME of the edge box that analyses it), `fps` (the
    analysis rate in normal mode) and `mode` (`normal` or `idle`).  The
    document is kept as given (unknown keys included) and its fields are
    typed once, here; a document that breaks a rule is refused with the
    field's name, and nothing of it is stored.

    Versions and merge.  Every change (add, replace, assign, remove) gets a
    version: a hybrid logical clock (48 bits of wall-clock ms, 16 bits of
    counter) and the id of the box that made it.  Versions are totally
    ordered (clock first, then box id), so two boxes that each changed a
    camera during a partition pick the same winner when they meet: the
    last writer by the clocks, ties broken by box id.  A removal is a
    tombstone with its own version, so a stale copy cannot bring the camera
    back.  The clock never runs behind a version it has seen, so an edit
    made after seeing another always wins over it even when the wall clocks
    disagree; a version further ahead of our wall clock than the allowed
    skew is refused (one bad clock must not pin a camera forever).

    Bounds: at most `max` entries (tombstones included; CAM_REGISTRY_MAX
    for the mesh).  A new camera when the table is full evicts the oldest
    tombstone; with none, it is refused.  A document is at most
    CAM_JSON_MAX bytes.

    No sockets, files or clocks here: the agent's camera service
    (camera/cam_service.h) persists, replicates and feeds it the time.
    ========================================================================= */
#ifndef CAM_REGISTRY_H_INCLUDED
#define CAM_REGISTRY_H_INCLUDED

#include "common/types.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAM_REGISTRY_MAX 1024            //  cameras per mesh, tombstones included
#define CAM_JSON_MAX     4096            //  one camera's document, bytes
#define CAM_ID_MAX       MW_CAMERA_MAX   //  64: [A-Za-z0-9._:-]
#define CAM_NAME_MAX     128             //  UTF-8 bytes
#define CAM_IP_MAX       64
#define CAM_URL_MAX      1024
#define CAM_BOX_MAX      MW_NAME_MAX   //  a NODE_NAME
#define CAM_FPS_MAX      60.0
//  A version may run this far ahead of our wall clock (MAX_CLOCK_SKEW_MS).
#define CAM_SKEW_DEFAULT_MS 60000

typedef enum {
    CAM_MODE_IDLE = 0,     //  keyframes only
    CAM_MODE_NORMAL = 1,   //  the camera's fps
    CAM_MODE_FOCUS = 2,    //  every frame (set by a focus, never stored)
} cam_mode_t;

//  The typed fields of one camera document.
typedef struct {
    char id[CAM_ID_MAX + 1];
    char name[CAM_NAME_MAX + 1];
    int64_t type;
    double lat, lon;   //  degrees
    char ip[CAM_IP_MAX + 1];
    char url[CAM_URL_MAX + 1];
    bool analysis;   //  isSupportAnalysis
    bool has_heading, has_fov;
    double heading_deg;          //  [0, 360): where the camera looks, clockwise from north
    double fov_deg;              //  (0, 360]: horizontal field of view
    char box[CAM_BOX_MAX + 1];   //  "" = any box (placed by the mesh)
    double fps;                  //  (0, 60]; 0 = not given
    cam_mode_t mode;             //  IDLE or NORMAL
} cam_info_t;

typedef struct {
    uint64_t hlc;   //  ms << 16 | counter
    mw_id_t origin;
} cam_version_t;

//  One entry: a live camera or a tombstone.
typedef struct {
    char id[CAM_ID_MAX + 1];
    cam_version_t version;
    bool deleted;
    char *json;   //  the document as stored (NULL for a tombstone)
    size_t json_len;
    cam_info_t info;   //  typed fields (zero for a tombstone, id kept)
} cam_record_t;

typedef struct _cam_registry_t cam_registry_t;

//  Parse and check one document; on success fills *out (and *doc_out, if
//  given, with the parsed object: the caller puts it).  -1 with the reason
//  in err, naming the field: `field "gps.latitude": "abc" is not a number`.
int cam_info_parse (const char *text, size_t len, cam_info_t *out, json_object **doc_out, char *err,
                    size_t errlen);
//  Is `id` a valid camera id (1..64 of [A-Za-z0-9._:-])?
bool cam_id_valid (const char *id);
//  -1, 0, 1 as a orders before, equal to, after b.
int cam_version_cmp (const cam_version_t *a, const cam_version_t *b);
//  The wall-clock ms of a version.
static inline uint64_t
cam_version_ms (const cam_version_t *v)
{
    return v->hlc >> 16;
}

//  `self_id`: our box id (the origin of our own versions).  max: entries,
//  1..CAM_REGISTRY_MAX.  skew_ms: how far ahead of the wall clock a remote
//  version may be.
cam_registry_t *cam_registry_new (size_t max, const mw_id_t *self_id, uint64_t skew_ms);
void cam_registry_destroy (cam_registry_t **self_p);

//  Local changes.  Each takes the wall clock, gives the change a new
//  version and returns 0 with *out pointing at the stored record (valid
//  until the next change), or -1 with the reason in err.
//  put: add or replace the camera the document describes.
int cam_registry_put (cam_registry_t *self, const char *json, size_t len, uint64_t wall_ms,
                      const cam_record_t **out, char *err, size_t errlen);
//  remove: a tombstone (-1 if the camera is unknown or already removed).
int cam_registry_remove (cam_registry_t *self, const char *id, uint64_t wall_ms, const cam_record_t **out,
                         char *err, size_t errlen);
//  assign: set the document's "box" ("" removes it: any box).
int cam_registry_assign (cam_registry_t *self, const char *id, const char *box, uint64_t wall_ms,
                         const cam_record_t **out, char *err, size_t errlen);

typedef enum {
    CAM_MERGE_APPLIED = 1,     //  newer than ours: stored
    CAM_MERGE_STALE = 0,       //  ours is as new or newer: ignored
    CAM_MERGE_REJECTED = -1,   //  bad document, id or version: ignored, err says why
    CAM_MERGE_FULL = -2,       //  a new camera and no room: ignored
} cam_merge_t;

//  A record from a peer (or from disk, trusted = true: no skew check).
//  json/len: the document (ignored for a tombstone).
cam_merge_t cam_registry_merge (cam_registry_t *self, const char *id, const cam_version_t *v, bool deleted,
                                const char *json, size_t len, uint64_t wall_ms, bool trusted,
                                const cam_record_t **out, char *err, size_t errlen);

//  Lookups.  get: the entry (tombstones included) or NULL.  at: the i-th
//  entry in id order (0 <= i < size).
const cam_record_t *cam_registry_get (cam_registry_t *self, const char *id);
const cam_record_t *cam_registry_at (cam_registry_t *self, size_t i);
size_t cam_registry_size (cam_registry_t *self);   //  entries, tombstones included
size_t cam_registry_live (cam_registry_t *self);   //  cameras
size_t cam_registry_max (cam_registry_t *self);
//  An order-independent hash of every (id, version): two registries with
//  the same entries have the same summary (anti-entropy's cheap check).
uint64_t cam_registry_summary (cam_registry_t *self);
//  The clock's last value (tests).
uint64_t cam_registry_clock (cam_registry_t *self);

//  JSON views (the control protocol and the HTTP API).  A record:
//  {"id", "name", "type", "lat", "lon", "ip", "url", "analysis",
//   "heading_deg"|null, "fov_deg"|null, "box"|null, "fps"|null, "mode",
//   "version": {"hlc", "ms", "origin"}, "deleted", "camera": <document>}.
json_object *cam_record_json (const cam_record_t *r);
//  Every live camera (and the tombstones with all = true), in id order.
json_object *cam_registry_list_json (cam_registry_t *self, bool all);

int cam_registry_test (bool verbose);

#endif
