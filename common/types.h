/*  =========================================================================
    common/types.h - the ids, limits and small value types that every layer
    shares: the wire codec (gossip/), the pure decision modules
    (scheduler/) and the daemon (node/).

    They live here rather than in gossip/wire.h so that the pure modules
    can name a node or a job without depending on the wire codec: the
    scheduler has its own message structs, translated at the edge (node/).
    A limit is defined once, here, and both the codec and the modules that
    size buffers by it read the same number.
    ========================================================================= */
#ifndef COMMON_TYPES_H_INCLUDED
#define COMMON_TYPES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MW_ID_LEN      8    //  node id: first 8 bytes of BLAKE2b(node public key)
#define MW_ID_HEX_LEN  16   //  hex form, without the terminating NUL
#define MW_NAME_MAX    64   //  NODE_NAME
#define MW_ADDR_MAX    96   //  "tcp://[v6 address]:port"
#define MW_CLUSTER_MAX 32   //  CLUSTER_NAME
#define MW_DIGEST_MAX  64   //  opaque per-node digest (resource forecasts)

//  Inference jobs.
#define MW_JOBID_LEN  16                  //  random, globally unique
#define MW_CAMERA_MAX 64                  //  camera id
#define MW_MODEL_MAX  32                  //  "tiny-face", "ssd-mobilenet"
#define MW_REASON_MAX 96                  //  refusal / failure reason, a short word or phrase
#define MW_FRAME_MAX  (4 * 1024 * 1024)   //  largest JPEG frame in a job
#define MW_MAX_BOXES  256                 //  detections in one result
#define MW_FIXED_ONE  1000000u            //  fixed point: millionths

//  AI packages (docs/PACKAGES.md): the package plane's limits.  pkg/meta.h
//  sizes its pieces and lists by the same numbers.
#define MW_PKG_ID_LEN       32                               //  a package: its manifest's SHA-256
#define MW_PKG_PIECES_MAX   16384                            //  pieces per package
#define MW_PKG_PIECE_MAX    (2 * 1024 * 1024)                //  largest piece
#define MW_PKG_META_MAX     4096                             //  signed metadata text
#define MW_PKG_SIG_MAX      9600                             //  minisign signature text
#define MW_PKG_MANIFEST_MAX 65536                            //  OCI manifest, config blob
#define MW_PKG_INDEX_MAX    256                              //  packages in one index
#define MW_PKG_INDEX_ENTRY  41                               //  bytes per index entry
#define MW_PKG_MSG_MAX      (MW_PKG_PIECE_MAX + 64 * 1024)   //  largest plaintext on the package plane
//  The largest PKG_INDEX body: every entry of a full index.
#define MW_PKG_INDEX_BYTES (MW_PKG_INDEX_MAX * MW_PKG_INDEX_ENTRY)

//  Deployments (docs/DEPLOY.md): the packed plan, a box's report, a
//  command; scheduler/deploy_plan.h checks its own bounds fit these.
#define MW_DEPLOY_PLAN_BYTES   (80 * 1024)
#define MW_DEPLOY_REPORT_BYTES (4 * 1024)
#define MW_DEPLOY_CMD_BYTES    1024

//  Cameras (camera/): the mesh-wide registry and focus (scenario 4).
#define MW_CAM_MAX            1024      //  cameras per mesh, tombstones included
#define MW_CAM_JSON_MAX       4096      //  one camera's JSON document, bytes
#define MW_CAM_RECORDS_MAX    32        //  camera documents in one message
#define MW_FOCUS_RADIUS_MAX_M 50000     //  a focus covers at most 50 km
#define MW_FOCUS_TTL_MAX_MS   3600000   //  and lasts at most an hour
#define MW_FOCUS_TRIGGER_MAX  15        //  "rule", "cli", "api"

typedef struct {
    uint8_t b[MW_ID_LEN];
} mw_id_t;

typedef struct {
    uint8_t b[MW_JOBID_LEN];
} mw_jobid_t;

//  What a job is for.
typedef enum {
    MW_JOB_KIND_RUN = 0,        //  hand-off to a peer, or fallback to the analysis server
    MW_JOB_KIND_ESCALATE = 1,   //  precise re-analysis of an uncertain edge result
} mw_job_kind_t;

//  One detection: image-relative box and score, fixed point in millionths
//  (0..MW_FIXED_ONE), so no NaN or infinity can ever be decoded.
typedef struct {
    uint32_t x, y, w, h;
    uint32_t score;
} mw_wire_box_t;

static inline bool
mw_id_eq (const mw_id_t *a, const mw_id_t *b)
{
    return memcmp (a->b, b->b, MW_ID_LEN) == 0;
}

static inline bool
mw_id_zero (const mw_id_t *id)
{
    static const mw_id_t zero = {{0}};
    return mw_id_eq (id, &zero);
}

#endif
