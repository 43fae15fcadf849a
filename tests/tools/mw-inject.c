/*  =========================================================================
    mw-inject - send hostile traffic to a meshwatch agent (test tool).

    Usage:
      mw-inject --to ENDPOINT [--key B64] [--to-id HEX] [--plane mesh|data]
                [--count N] [--seed S] MODE

    Envelopes are sealed for the receiver --to-id (its node id, as
    `meshwatch status` shows it) on --plane (default: mesh, data for the
    job modes); without --to-id they are sealed unbound, which a receiver
    accepts only for a join (PUSH_PULL) or, at the analysis server, an
    offer or a job.

    ENDPOINT: tcp://IP:PORT or ipc://PATH (a ZeroMQ DEALER connects to it),
              or udp://IP:PORT for the beacon modes (IP may be a broadcast
              address: the datagram never leaves the test namespace).
    MODE:
      garbage     N random messages: raw bytes, random frame counts, fake
                  envelopes, and (with --key) random or mutated plaintext,
                  or a GOSSIP with one fault from the protocol's definition,
                  sealed with the cluster key (exercises the decoder)
      wrongkey    one valid GOSSIP sealed with a fresh random key
      tampered    one valid GOSSIP sealed with --key, one ciphertext byte flipped
      replay      one valid GOSSIP sealed with --key, sent twice
      clock       one valid GOSSIP from a new sender, ts one hour old
      stale       two valid messages from one sender: session S, then S-1000
      valid       one valid GOSSIP (no updates) sealed with --key
      rawtcp      N connections writing random bytes to the TCP port (not ZMTP)
      udp-garbage N random datagrams to a udp:// endpoint
      beacon-replay  capture one beacon on udp://0.0.0.0:PORT (--capture-ms,
                  default 5000), then send it twice to --to (udp://)

    Flood and forgery modes (docs/SECURITY.md; tests/mesh/flood_*.sh):
      session-poison  --victim HEX: --count GOSSIPs and unbound PUSH_PULLs
                  under the victim's id with session 2^64-1 and now + 1 day
                  (a receiver that took one would fence the victim out)
      cross-replay  one GOSSIP sealed for --to-id, sent to --to, then the
                  same bytes to --also ENDPOINT (another node: it must refuse
                  them, auth)
      reply-flood N messages (mesh: PINGs for --to-id; data: JOB_OFFERs),
                  each naming another reply address tcp://NET.(200..249):PORT
                  (--reply-net, default 127.0.0), from --senders ids in turn,
                  for at most --secs; counts the answers that come back on
                  the injector's own connection
      conn-flood  N TCP connections to --to, idle, held for --secs; one the
                  agent closes is opened again (--greet: each first sends a
                  ZMTP NULL greeting, so only the agent's idle cut applies);
                  prints how many were open at the end
      status-probe  --to ipc://STATE_DIR/control.sock: every 500 ms for
                  --secs, `status --json` on one long-lived connection;
                  prints "MS_SINCE_START ROUND_TRIP_MS" per answer (99999
                  when none came within 5 s): the agent's own answer time,
                  without a CLI process's start-up in it
      junk-flood  --conns C DEALERs sending --size byte frames (default
                  4 MiB) as fast as the agent takes them, for --secs: an
                  envelope header (with --key: its key id, so each frame is
                  authenticated in full) and random bytes

    Job modes (data plane, docs/PROTOCOL.md section 7; all need --key):
      job-offer   one valid JOB_OFFER for --model (default "nope") whose
                  reply-to is --reply tcp://IP:PORT; binds a ROUTER there and
                  waits (--capture-ms) for the JOB_REPLY; prints
                  "reply=accepted|refused reason=..." (exit 2: no reply).
                  Sent to a mesh port it must be rejected as `plane`.
      job-garbage N job messages (OFFER, REPLY, JOB, RESULT; valid encodings
                  truncated or bit-flipped, or with one fault from the
                  protocol's definition at a random field: a bad job id,
                  kind, field count, length...), each sealed with --key:
                  `malformed` rejects
      job-stray   N valid REPLYs and RESULTs for job ids nobody knows
                  (dropped by the state machine, no event)
      oversize    one raw frame of --size bytes (default 5 MiB): beyond
                  the data plane's ZMQ_MAXMSGSIZE, the agent drops the peer
      hostile-name  --count GOSSIPs at --rate per second from one fresh
                  sender announcing itself alive (incarnation 1, 2, ...)
                  under --name NAME (any bytes: quotes, backslashes,
                  newlines, braces) with a valid resource digest, so that
                  the name reaches members, events, /metrics and logs as
                  a peer's would; its address --addr (default
                  tcp://127.0.0.1:9, where nothing answers probes)
      cam-flood   --count CAM_RECORDS messages of 32 valid camera records
                  each, every id new (flood-<tag>-<n>), versions "now":
                  the registry must stay within MW_CAM_MAX (docs/CAMERAS.md)
      focus-flood --count FOCUS messages, every focus id new, around
                  --lat/--lon (default 0, 0): the focus table must stay
                  within CAM_FOCUS_MAX
      submit      --to ipc://STATE_DIR/control.sock: --count jobs of
                  --image at --rate per second through the control socket
                  (camera --camera, model --model, --deadline-ms); prints
                  each accepted job id on a line, refusals on stderr

    Membership floods (docs/MEMBERSHIP.md, "Bounds"; need --key):
      member-flood  --count forged member ids (alive; ids of real node keys,
                  each record signed by its own ghost: 16384 ghosts in turn) at full
                  speed: GOSSIP messages of 64 updates, every 16th a PUSH_PULL
                  of 1024; from one sender id, or --senders S ids in turn,
                  each message then led by its sender's own record (a
                  newcomer introducing itself).  The ids' addresses are
                  tcp://--ghost-ip:20000.. (give the injector's own address:
                  probes to them stay inside the test bed).  Prints
                  "mode=member-flood ids=N msgs=M secs=T ids_per_s=R".
      announce    one GOSSIP led by our own record: --name, --ghost-ip (our
                  address); e.g. a hostile name with control characters
    Election modes (forged coordinator-election messages, docs/ELECTION.md;
    all need --key and --to-id, the receiver's id: sealed with the cluster
    key for that receiver, like a member's):
      forge-heartbeat  HEARTBEAT (term, rank, lease) from --sender
      forge-prevote    VOTE_REQ pre=1 (the ballot --sender would take)
      forge-votereq    VOTE_REQ pre=0 (a candidacy of --sender)
      forge-vote       VOTE refusal carrying ballot (term, rank, --ballot)
      forge-all        the four above, for each term
                  --term T[,T...] one message per term and kind (decimal
                  uint64: 18446744073709551615, 9223372036854775808, ...);
                  --sender HEX (16 hex digits; default: a random id, i.e. a
                  non-member) --ballot HEX (VOTE ballot id, default the
                  sender) --rank R (default 1110) --lease-ms L (default 400).
                  Speaking as a real member needs that member's transport
                  session and a seq inside the receiver's replay window:
                  --session S --seq Q (from its `status --json`: session,
                  and msgs_out + send_dropped + beacons_out plus a margin
                  under 64); a random sender gets a fresh session.
                  Prints "mode=forge-... sent=N".
                  Every forged message is signed with the injector's own
                  node key (fresh each run) in the name of --sender: it
                  cannot hold a member's key, so a member's name never
                  verifies (docs/SECURITY.md); every other HEARTBEAT
                  carries a 16-byte pair MAC under a random key instead.
      forge-record     --victim HEX [--incarnation N, default 1]: --count
                  GOSSIPs from --sender (as above: a member's id, session
                  and seq; default our own id) carrying, at incarnation N
                  and at 2^63, the victim alive (once with our key
                  attached, once without) and the victim dead and suspect
                  from --sender, all signed with our key.  Prints "mode=forge-record sent=N records=R".
      session-bump     --victim HEX --session S (the victim's): --count x
                  a GOSSIP and an unbound PUSH_PULL under the victim's id
                  with session S + 1000 + i (within the clock skew), each
                  carrying the victim's alive record naming it, signed with
                  our key.  Prints "mode=session-bump sent=N".

    Exit: 0 sent, 1 bad usage/setup failure, 2 capture timeout.
    Output: one line per mode, "sent=N ..." (and the captured beacon's size).
    The checks (did the counters move?) are the caller's: see
    tests/mesh/wrongkey_ns.sh.
    ========================================================================= */
#include "gossip/crypto.h"
#include "gossip/sign.h"

#include <sodium.h>
#include "gossip/wire.h"
#include "scheduler/digest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static uint64_t s_rng;
//  Who and which plane envelopes are sealed for (--to-id, --plane).
static mw_id_t s_to_id;
static bool s_have_to;
static uint8_t s_plane = MW_PLANE_MESH;
//  The injector's own node key, fresh each run: it signs whatever the
//  injector forges.  It is nobody's key: a record or election message it
//  signs in a member's name can never verify under that member's key.
static gossip_identity_t s_forger;

//  Our own alive record (`u`: id = from = s_forger.id): session, stamp,
//  our key, signed: what an honest newcomer introduces itself with.
static void
sign_own (mw_update_t *u, uint64_t session, uint64_t stamp)
{
    u->session = session;
    u->stamp = stamp;
    memcpy (u->pk, s_forger.pk, MW_PK_MAX);
    u->pk_len = MW_PK_MAX;
    gossip_sign_record (&s_forger, u);
}

//  A record in another's name (its signer: the member for alive/left,
//  `from` for suspect/dead), signed with OUR key; with_pk: our public key
//  attached, as if it were the member's.  It can never verify: the key
//  does not hash to the id, and a receiver that knows the member checks
//  the member's own key.
static void
sign_as (mw_update_t *u, bool with_pk)
{
    gossip_identity_t fake = s_forger;
    fake.id = *gossip_sign_record_signer (u);
    gossip_sign_record (&fake, u);
    if (with_pk) {
        memcpy (u->pk, s_forger.pk, MW_PK_MAX);
        u->pk_len = MW_PK_MAX;
    }
}
static uint32_t
rnd (void)
{
    //  xorshift64*: reproducible with --seed.
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (uint32_t) ((s_rng * 2685821657736338717ULL) >> 32);
}
static void
rnd_fill (uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t) rnd ();
}

static uint64_t
wall_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000u + (uint64_t) tv.tv_usec / 1000u;
}

//  A GOSSIP message from `sender` with no updates (harmless if accepted).
static void
make_gossip (mw_msg_t *m, const mw_id_t *sender, uint64_t session, uint64_t seq, uint64_t ts)
{
    memset (m, 0, sizeof *m);
    m->type = MW_MSG_GOSSIP;
    m->sender = *sender;
    m->session = session;
    m->seq = seq;
    m->ts_ms = ts;
}

static int
seal_msg (gossip_keyring_t *keys, const mw_msg_t *m, uint8_t **out, size_t *len)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (gossip_wire_encode (m, &plain, &plain_len) != 0)
        return -1;
    int rc = gossip_crypto_seal (keys, s_have_to ? &s_to_id : NULL, s_plane, plain, plain_len, out, len);
    free (plain);
    return rc;
}

static void *s_ctx, *s_sock;
//  The DEALER's send queue: deep for bursts of test messages; a flood sets
//  it short, so that "sent" means "taken by the agent", not "queued here".
static int s_hwm = 100000;

static int
zsend (const void *data, size_t len, int more)
{
    int rc = zmq_send (s_sock, data, len, more ? ZMQ_SNDMORE : 0);
    return rc < 0 ? -1 : 0;
}

//  Seal a (possibly broken) plaintext, free it, send it.  0/-1.
static int
seal_plain_send (gossip_keyring_t *keys, uint8_t *plain, size_t plain_len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc =
        gossip_crypto_seal (keys, s_have_to ? &s_to_id : NULL, s_plane, plain, plain_len, &out, &out_len);
    free (plain);
    if (rc != 0)
        return -1;
    rc = zsend (out, out_len, 0);
    free (out);
    return rc;
}

static int
open_zmq (const char *ep)
{
    s_ctx = zmq_ctx_new ();
    s_sock = zmq_socket (s_ctx, ZMQ_DEALER);
    int linger = 3000, hwm = s_hwm;
    zmq_setsockopt (s_sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s_sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect (s_sock, ep) != 0) {
        fprintf (stderr, "mw-inject: connect %s: %s\n", ep, zmq_strerror (errno));
        return -1;
    }
    //  Let the connection come up so that nothing is queued for ever.
    usleep (300 * 1000);
    return 0;
}

static void
close_zmq (void)
{
    if (s_sock)
        zmq_close (s_sock);
    if (s_ctx)
        zmq_ctx_term (s_ctx);
    s_sock = s_ctx = NULL;
}

//  "udp://IP:PORT" or "tcp://IP:PORT" → sockaddr.
static int
parse_ipport (const char *ep, struct sockaddr_in *sa)
{
    const char *p = strstr (ep, "://");
    p = p ? p + 3 : ep;
    char host[64];
    const char *colon = strrchr (p, ':');
    if (!colon || (size_t) (colon - p) >= sizeof host)
        return -1;
    memcpy (host, p, (size_t) (colon - p));
    host[colon - p] = 0;
    memset (sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons ((uint16_t) atoi (colon + 1));
    return inet_pton (AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int
udp_send (const char *ep, const uint8_t *data, size_t len)
{
    struct sockaddr_in sa;
    if (parse_ipport (ep, &sa) != 0)
        return -1;
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    ssize_t n = sendto (fd, data, len, 0, (struct sockaddr *) &sa, sizeof sa);
    close (fd);
    return n == (ssize_t) len ? 0 : -1;
}

//  One fault from the protocol's definition (gossip/wire_def.h) at a random
//  field of m (header, body, updates, or a field of a list's last element),
//  encoded by the codec's own walk (gossip_wire_encode_fault) and sealed.
//  Every such fault is one the decoder must reject.  0/-1.
static int
send_fault_one (gossip_keyring_t *keys, const mw_msg_t *m)
{
    const mw_wire_msg_def_t *def = gossip_wire_def (m->type);
    uint32_t n_hdr;
    const mw_wire_field_t *hdr = gossip_wire_header (&n_hdr);
    if (!def)
        return -1;
    //  Not every fault fits every field (no OVER for a uint64, no NUL
    //  outside a str): draw until one does, a bounded number of times.
    for (int attempt = 0; attempt < 64; attempt++) {
        uint32_t pick = rnd () % (n_hdr + def->n_fields + 1);
        const mw_wire_field_t *f = pick < n_hdr                   ? &hdr[pick]
                                   : pick < n_hdr + def->n_fields ? &def->fields[pick - n_hdr]
                                                                  : NULL;
        char path[64];
        if (!f)
            path[0] = 0;   //  the whole message
        else if (f->kind == MW_WIRE_LIST && rnd () % 2) {
            const mw_wire_field_t *e = &f->rec->fields[rnd () % f->rec->n_fields];
            snprintf (path, sizeof path, "%s.%s", f->name, e->name);
        }
        else
            snprintf (path, sizeof path, "%s", f->name);
        mw_wire_fault_kind_t fault = (mw_wire_fault_kind_t) (1 + rnd () % (MW_WIRE_FAULT_COUNT - 1));
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        int rc = gossip_wire_encode_fault (m, path[0] ? path : NULL, fault, &plain, &plain_len);
        if (rc == 0)
            return seal_plain_send (keys, plain, plain_len);
        free (plain);
        if (rc != MW_WIRE_ENOFAULT)
            return -1;
    }
    return -1;
}

//  One garbage message of a random kind.
static int
send_garbage_one (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq)
{
    uint8_t buf[4096];
    int kind = (int) (rnd () % (keys ? 7 : 3));
    size_t len = rnd () % 1024;
    rnd_fill (buf, len);
    switch (kind) {
    case 0:   //  raw bytes, one frame (possibly empty)
        return zsend (buf, len, 0);
    case 1: {   //  1..4 frames of raw bytes; half of the time behind an
                //  empty delimiter frame, so a REP socket passes it on
        int frames = 1 + (int) (rnd () % 4);
        if (rnd () % 2 && zsend ("", 0, 1) != 0)
            return -1;
        for (int f = 0; f < frames; f++)
            if (zsend (buf, rnd () % (len + 1), f < frames - 1) != 0)
                return -1;
        return 0;
    }
    case 2:   //  envelope-looking header, random rest
        if (len < MW_ENVELOPE_OVERHEAD)
            len = MW_ENVELOPE_OVERHEAD + rnd () % 64;
        buf[0] = 'M';
        buf[1] = 'W';
        buf[2] = (uint8_t) (rnd () % 3 | (rnd () % 2 ? MW_ENVELOPE_UNBOUND : 0));
        return zsend (buf, len, 0);
    case 6: {   //  a GOSSIP with one fault from the protocol's definition
        mw_msg_t m;
        mw_update_t upd[2];
        memset (upd, 0, sizeof upd);
        make_gossip (&m, sender, session, ++*seq, wall_ms ());
        for (int u = 0; u < 2; u++) {
            rnd_fill (upd[u].id.b, MW_ID_LEN);
            snprintf (upd[u].name, sizeof upd[u].name, "fz%u", rnd () % 1000);
            snprintf (upd[u].addr, sizeof upd[u].addr, "tcp://127.0.0.1:9");
            upd[u].from = upd[u].id;
        }
        m.updates = upd;
        m.n_updates = 2;
        return send_fault_one (keys, &m);
    }
    case 3: {   //  random plaintext sealed with the cluster key
        uint8_t *out = NULL;
        size_t out_len = 0;
        if (gossip_crypto_seal (keys, s_have_to ? &s_to_id : NULL, s_plane, buf, len, &out, &out_len) != 0)
            return -1;
        int rc = zsend (out, out_len, 0);
        free (out);
        return rc;
    }
    default: {   //  a valid message's plaintext, mutated, sealed
        mw_msg_t m;
        make_gossip (&m, sender, session, ++*seq, wall_ms ());
        int nupd = (int) (rnd () % 4);
        mw_update_t upd[4];
        memset (upd, 0, sizeof upd);
        for (int u = 0; u < nupd; u++) {
            rnd_fill (upd[u].id.b, MW_ID_LEN);
            snprintf (upd[u].name, sizeof upd[u].name, "fz%u", rnd () % 1000);
            //  Loopback, closed port: an agent that believes it probes
            //  nothing (mutations never touch "tcp://" strings, below).
            snprintf (upd[u].addr, sizeof upd[u].addr, "tcp://127.0.0.1:9");
            upd[u].state = (uint8_t) (rnd () % 4);
            upd[u].incarnation = rnd ();
            upd[u].from = upd[u].id;
        }
        m.updates = nupd ? upd : NULL;
        m.n_updates = (uint32_t) nupd;
        if (kind == 5)
            m.type = (uint8_t) (1 + rnd () % MW_MSG_TYPE_MAX);
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        if (gossip_wire_encode (&m, &plain, &plain_len) != 0) {
            //  e.g. a type whose required fields are empty: send raw
            return zsend (buf, len, 0);
        }
        //  Never mutate inside an endpoint string: a flipped digit could
        //  turn 127.0.0.1 into a routable address the agent would dial.
        uint8_t *protect = calloc (plain_len + 1, 1);
        for (size_t k = 0; protect && k + 6 <= plain_len; k++)
            if (memcmp (plain + k, "tcp://", 6) == 0)
                for (size_t j = k;
                     j < plain_len && j < k + MW_ADDR_MAX + 2 && plain[j] >= 0x21 && plain[j] < 0x7f; j++)
                    protect[j] = 1;
        int flips = 1 + (int) (rnd () % 4);
        for (int f = 0; f < flips && plain_len && protect; f++) {
            size_t at = rnd () % plain_len;
            if (protect[at])
                continue;
            switch (rnd () % 3) {
            case 0: plain[at] ^= (uint8_t) (1u << (rnd () % 8)); break;
            case 1: plain[at] = (uint8_t) rnd (); break;
            default: plain_len = at; break;   //  truncate
            }
        }
        free (protect);
        return seal_plain_send (keys, plain, plain_len);
    }
    }
}

static int
send_rawtcp (const char *ep, int count)
{
    struct sockaddr_in sa;
    if (parse_ipport (ep, &sa) != 0) {
        fprintf (stderr, "mw-inject: rawtcp needs tcp://IP:PORT\n");
        return -1;
    }
    int sent = 0;
    for (int i = 0; i < count; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {1, 0};
        setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0) {
            uint8_t buf[2048];
            size_t len = 1 + rnd () % sizeof buf;
            rnd_fill (buf, len);
            if (rnd () % 4 == 0 && len > 10) {
                //  a ZMTP-like greeting start, then junk
                buf[0] = 0xff;
                memset (buf + 1, 0, 8);
                buf[9] = 0x7f;
            }
            if (send (fd, buf, len, MSG_NOSIGNAL) > 0)
                sent++;
        }
        close (fd);
    }
    printf ("mode=rawtcp sent=%d\n", sent);
    return 0;
}

//  Capture a beacon (with --key: only one that opens with it, so another
//  cluster's beacon is never taken), then send it twice.
static int
beacon_replay (gossip_keyring_t *keys, const char *to, int capture_port, int capture_ms)
{
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt (fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons ((uint16_t) capture_port);
    sa.sin_addr.s_addr = htonl (INADDR_ANY);
    if (bind (fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        fprintf (stderr, "mw-inject: bind udp %d: %s\n", capture_port, strerror (errno));
        close (fd);
        return 1;
    }
    uint8_t buf[2048];
    ssize_t n = -1;
    uint64_t deadline = wall_ms () + (uint64_t) capture_ms;
    while (wall_ms () < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 100) > 0) {
            n = recv (fd, buf, sizeof buf, 0);
            if (n >= MW_ENVELOPE_OVERHEAD && buf[0] == 'M' && buf[1] == 'W') {
                if (!keys)
                    break;
                uint8_t *plain = NULL;
                size_t plain_len = 0;
                int rc = gossip_crypto_open (keys, NULL, MW_PLANE_BEACON, buf, (size_t) n, &plain, &plain_len,
                                             NULL);
                free (plain);
                if (rc == 0)
                    break;
            }
            n = -1;
        }
    }
    close (fd);
    if (n < 0) {
        fprintf (stderr, "mw-inject: no beacon captured on udp %d in %d ms\n", capture_port, capture_ms);
        return 2;
    }
    int ok = udp_send (to, buf, (size_t) n) == 0;
    usleep (100 * 1000);
    ok = ok && udp_send (to, buf, (size_t) n) == 0;
    printf ("mode=beacon-replay captured=%zd sent=%d\n", n, ok ? 2 : 0);
    return ok ? 0 : 1;
}

//  --------------------------------------------------------------------------
//  Membership floods

//  Ghost identities: the flood's ids are real node keys (a key holder can
//  mint as many as it likes: id = BLAKE2b (pk)[:8]), each record signed by
//  its ghost and carrying its key, so every record passes the signature
//  check and meets the table's bounds.  Keys and signatures cost the
//  injector ~40 us each, so FLOOD_POOL ghosts are made once and their
//  signed records sent in turn (what the receiver refuses is the same:
//  unknown ids beyond the insert rate or the caps).
#define FLOOD_POOL 16384

typedef struct {
    gossip_identity_t ident;
    mw_update_t rec;   //  its alive record, signed, with its key
} ghost_t;

//  Ghost k: its own key, alive at ghost_ip:20000+k, signed.
static int
ghost_make (ghost_t *g, const char *ghost_ip, uint64_t k, uint64_t session)
{
    if (gossip_identity_generate (&g->ident) != 0)
        return -1;
    mw_update_t *u = &g->rec;
    memset (u, 0, sizeof *u);
    u->id = u->from = g->ident.id;
    u->state = MW_STATE_ALIVE;
    u->incarnation = 1;
    u->session = session;
    u->stamp = 1;
    snprintf (u->name, sizeof u->name, "ghost-%llu", (unsigned long long) k);
    snprintf (u->addr, sizeof u->addr, "tcp://%s:%u", ghost_ip, (unsigned) (20000 + k % 40000));
    memcpy (u->pk, g->ident.pk, MW_PK_MAX);
    u->pk_len = MW_PK_MAX;
    return gossip_sign_record (&g->ident, u);
}

static int
member_flood (gossip_keyring_t *keys, uint64_t ids, int senders, const char *ghost_ip)
{
    if (senders < 1 || senders > 100000)
        return 1;
    uint64_t session = wall_ms (), t0 = wall_ms (), k = 0, msgs = 0;
    size_t pool = ids < FLOOD_POOL ? (size_t) ids : FLOOD_POOL;
    if (pool == 0)
        pool = 1;
    mw_update_t *ups = calloc (MW_MAX_MEMBERS, sizeof *ups);
    ghost_t *ghosts = calloc (pool, sizeof *ghosts);
    ghost_t *from = calloc ((size_t) senders, sizeof *from);
    uint64_t *seq = calloc ((size_t) senders, sizeof *seq);
    int rc = !ups || !ghosts || !from || !seq;
    for (size_t i = 0; i < pool && !rc; i++)
        rc = ghost_make (&ghosts[i], ghost_ip, i, session) != 0;
    for (int i = 0; i < senders && !rc; i++)
        rc = ghost_make (&from[i], ghost_ip, 30000 + (uint64_t) i, session) != 0;
    while (k < ids && rc == 0) {
        int who = (int) (msgs % (uint64_t) senders);
        mw_msg_t m;
        make_gossip (&m, &from[who].ident.id, session, ++seq[who], wall_ms ());
        uint32_t n = MW_MAX_UPDATES;
        if (msgs % 16 == 15) {
            m.type = MW_MSG_PUSH_PULL;
            n = MW_MAX_MEMBERS;
        }
        if (n > ids - k)
            n = (uint32_t) (ids - k);
        for (uint32_t i = 0; i < n; i++)
            ups[i] = ghosts[(k + i) % pool].rec;
        if (senders > 1) {   //  led by the sender's own record
            ups[0] = from[who].rec;
            snprintf (m.addr, sizeof m.addr, "%s", ups[0].addr);
        }
        m.updates = ups;
        m.n_updates = n;
        uint8_t *out = NULL;
        size_t len = 0;
        //  A blocking send: "full speed" is as fast as the target reads.
        if (seal_msg (keys, &m, &out, &len) != 0 || zsend (out, len, 0) != 0)
            rc = 1;
        free (out);
        k += n;
        msgs++;
    }
    double secs = (double) (wall_ms () - t0) / 1000.0;
    printf ("mode=member-flood ids=%llu distinct=%zu msgs=%llu senders=%d secs=%.1f ids_per_s=%.0f\n",
            (unsigned long long) k, pool, (unsigned long long) msgs, senders, secs,
            secs > 0 ? (double) k / secs : 0.0);
    free (ups);
    free (ghosts);
    free (from);
    free (seq);
    return rc;
}

static int
announce (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, const char *name, const char *ip)
{
    mw_update_t me;
    memset (&me, 0, sizeof me);
    me.id = me.from = *sender;
    me.incarnation = 1;
    snprintf (me.name, sizeof me.name, "%s", name);
    snprintf (me.addr, sizeof me.addr, "tcp://%s:7946", ip);
    sign_own (&me, session, 1);
    mw_msg_t m;
    make_gossip (&m, sender, session, 1, wall_ms ());
    m.updates = &me;
    m.n_updates = 1;
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0 ? 0 : 1;
    free (out);
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (sender, hex);
    printf ("mode=announce sent=%d id=%s\n", rc == 0, hex);
    return rc;
}

//  Job modes

static void
make_job (mw_msg_t *m, mw_job_t *j, int type, const mw_id_t *sender, uint64_t session, uint64_t seq,
          const char *model, const char *reply)
{
    memset (m, 0, sizeof *m);
    memset (j, 0, sizeof *j);
    m->type = (uint8_t) type;
    m->sender = *sender;
    m->session = session;
    m->seq = seq;
    m->ts_ms = wall_ms ();
    rnd_fill (j->id.b, MW_JOBID_LEN);
    j->kind = MW_JOB_KIND_RUN;
    snprintf (j->model, sizeof j->model, "%s", model);
    snprintf (j->camera, sizeof j->camera, "inject-cam");
    j->deadline_ms = 1000;
    j->priority = 5;
    if (type == MW_MSG_JOB_OFFER || type == MW_MSG_JOB)
        snprintf (m->addr, sizeof m->addr, "%s", reply ? reply : "tcp://127.0.0.1:9");
    m->job = j;
}

//  A valid OFFER whose reply-to we listen on; wait for the REPLY, which
//  comes back on our own connection (the agent answers an address nobody
//  registered only there) or, from an agent that knows that address, to it.
static int
job_offer (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq, const char *model,
           const char *reply, int wait_ms)
{
    void *router = zmq_socket (s_ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (router, reply) != 0) {
        fprintf (stderr, "mw-inject: bind %s: %s\n", reply, zmq_strerror (errno));
        zmq_close (router);
        return 1;
    }
    mw_msg_t m;
    mw_job_t j;
    make_job (&m, &j, MW_MSG_JOB_OFFER, sender, session, ++*seq, model, reply);
    j.frame_len = 100000;
    char idhex[2 * MW_JOBID_LEN + 1];
    gossip_wire_jobid_hex (&j.id, idhex);
    uint8_t *out = NULL;
    size_t len = 0;
    if (seal_msg (keys, &m, &out, &len) != 0 || zsend (out, len, 0) != 0) {
        fprintf (stderr, "mw-inject: cannot encode/send the offer\n");
        free (out);
        zmq_close (router);
        return 1;
    }
    free (out);
    int rc = 2;
    uint64_t deadline = wall_ms () + (uint64_t) wait_ms;
    while (rc == 2 && wall_ms () < deadline) {
        zmq_pollitem_t it[2] = {{router, 0, ZMQ_POLLIN, 0}, {s_sock, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (it, 2, 100) <= 0)
            continue;
        void *from = (it[0].revents & ZMQ_POLLIN) ? router : s_sock;
        //  [identity] [payload...]: the payload is the last frame.
        zmq_msg_t part;
        uint8_t *last = NULL;
        size_t last_len = 0;
        int more = 1;
        while (more) {
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, from, 0) < 0) {
                zmq_msg_close (&part);
                break;
            }
            free (last);
            last_len = zmq_msg_size (&part);
            last = malloc (last_len ? last_len : 1);
            memcpy (last, zmq_msg_data (&part), last_len);
            more = zmq_msg_more (&part);
            zmq_msg_close (&part);
        }
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        mw_msg_t r;
        memset (&r, 0, sizeof r);
        if (last
            && gossip_crypto_open (keys, sender, MW_PLANE_DATA, last, last_len, &plain, &plain_len, NULL) == 0
            && gossip_wire_decode (plain, plain_len, &r) == 0 && r.type == MW_MSG_JOB_REPLY && r.job
            && !memcmp (r.job->id.b, j.id.b, MW_JOBID_LEN)) {
            printf ("mode=job-offer sent=1 job=%s model=%s reply=%s wait_ms=%u reason=\"%s\"\n", idhex, model,
                    r.job->status ? "accepted" : "refused", r.job->wait_ms, r.job->reason);
            rc = 0;
        }
        gossip_wire_msg_clear (&r);
        free (plain);
        free (last);
    }
    zmq_close (router);
    if (rc == 2)
        printf ("mode=job-offer sent=1 job=%s model=%s reply=none\n", idhex, model);
    return rc;
}

//  One malformed job message, sealed: a valid encoding of a random job
//  type, truncated or bit-flipped, or with a fault from the definition at a
//  random field (a bad job id, kind, field count, length, ...).
static int
send_job_garbage_one (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq)
{
    //  (JOB_CANCEL is left out: a flip in its short body mostly lands in
    //  the reason and leaves a valid message; the fuzz corpus covers it.)
    static const int types[] = {MW_MSG_JOB_OFFER, MW_MSG_JOB_REPLY, MW_MSG_JOB, MW_MSG_JOB_RESULT};
    int type = types[rnd () % 4];
    mw_msg_t m;
    mw_job_t j;
    uint8_t frame[512];
    mw_wire_box_t box[2] = {{1000, 2000, 3000, 4000, 500000}, {5000, 6000, 7000, 8000, 600000}};
    make_job (&m, &j, type, sender, session, ++*seq, "tiny-face", "tcp://127.0.0.1:9");
    if (type == MW_MSG_JOB) {
        rnd_fill (frame, sizeof frame);
        j.frame = frame;
        j.frame_len = sizeof frame;
    }
    else if (type == MW_MSG_JOB_OFFER)
        j.frame_len = 1000;
    else if (type == MW_MSG_JOB_REPLY)
        j.status = 1;
    else {
        j.n_boxes = 2;
        j.boxes = box;
    }
    int how = (int) (rnd () % 4);
    if (how >= 2)
        return send_fault_one (keys, &m);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (gossip_wire_encode (&m, &plain, &plain_len) != 0 || plain_len < 8) {
        free (plain);
        return -1;
    }
    if (how == 0)   //  truncated inside the body
        plain_len = plain_len / 2 + rnd () % (plain_len / 2);
    else {   //  bytes flipped in the second half, clear of "tcp://" strings
        for (int f = 0; f < 3; f++) {
            size_t at = plain_len / 2 + rnd () % (plain_len - plain_len / 2);
            if (at + 6 <= plain_len && !memcmp (plain + at, "tcp://", 6))
                continue;
            plain[at] ^= (uint8_t) (1u << (rnd () % 8));
        }
    }
    return seal_plain_send (keys, plain, plain_len);
}

//  Valid REPLY / RESULT for random job ids.
static int
send_job_stray_one (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq, int i)
{
    mw_msg_t m;
    mw_job_t j;
    mw_wire_box_t box = {1000, 2000, 3000, 4000, 900000};
    make_job (&m, &j, i % 2 ? MW_MSG_JOB_RESULT : MW_MSG_JOB_REPLY, sender, session, ++*seq, "tiny-face",
              NULL);
    if (m.type == MW_MSG_JOB_REPLY)
        j.status = 1;
    else {
        j.n_boxes = 1;
        j.boxes = &box;
        j.confidence = 900000;
        j.width = j.height = 100;
    }
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = seal_msg (keys, &m, &out, &len) == 0 ? zsend (out, len, 0) : -1;
    free (out);
    return rc;
}

//  --------------------------------------------------------------------------
//  Election modes: forged HEARTBEAT / VOTE_REQ / VOTE.

typedef struct {
    mw_id_t sender, ballot;
    uint64_t session, seq;
    uint32_t rank, lease_ms;
} forge_opts_t;

//  The one place a forged message is sealed and sent (seal_msg binds the
//  envelope to --to-id and the mesh plane).
static int
forge_send (gossip_keyring_t *keys, mw_msg_t *m, forge_opts_t *o)
{
    m->sender = o->sender;
    m->session = o->session;
    m->seq = o->seq++;
    m->ts_ms = wall_ms ();
    //  Signed, as a member's would be, but with our key in the sender's
    //  name (the receiver checks the key of the member the sender names).
    gossip_identity_t fake = s_forger;
    fake.id = m->sender;
    if (gossip_sign_msg_needed (m->type) && gossip_sign_msg (&fake, s_have_to ? &s_to_id : NULL, m) != 0)
        return -1;
    if (gossip_sign_mac_type (m->type) && (m->seq & 1)) {
        //  Every other heartbeat carries a pair MAC instead (what a real
        //  coordinator sends its followers, gossip/sign.h), made under a
        //  key that is not the pair's: the receiver derives its key from
        //  the sender's and its own node key, which we hold neither of.
        uint8_t key[32];
        randombytes_buf (key, sizeof key);
        if (gossip_sign_msg_mac (key, s_have_to ? &s_to_id : NULL, m) != 0)
            return -1;
    }
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = seal_msg (keys, m, &out, &len) == 0 ? zsend (out, len, 0) : -1;
    free (out);
    return rc;
}

//  forge-record: one GOSSIP from --sender (a member's id, its session and
//  a seq in the window; or our own id) carrying records about --victim
//  that only the victim (alive) or their `from` (suspect, dead) could
//  sign, each signed with our key, at incarnation `inc` (plausible: what
//  an unsigned mesh would take) and at 2^63 (absurd): the victim alive
//  with our key attached (a receiver that never met the victim would have
//  to trust the key the record brings), the same without a key, and the
//  victim dead and suspect "according to" the sender.  Printed: messages
//  and records sent.
static int
forge_record (gossip_keyring_t *keys, const mw_id_t *victim, uint64_t inc, forge_opts_t *o, int count)
{
    int sent = 0, records = 0;
    for (int i = 0; i < count; i++) {
        mw_update_t u[8];
        memset (u, 0, sizeof u);
        for (int k = 0; k < 8; k++) {
            u[k].id = *victim;
            u[k].incarnation = k < 4 ? inc : UINT64_C (1) << 63;
            if (k % 4 < 2) {
                u[k].state = MW_STATE_ALIVE;
                u[k].from = *victim;
                u[k].session = wall_ms ();
                u[k].stamp = 1;
                snprintf (u[k].name, sizeof u[k].name, "forged");
                snprintf (u[k].addr, sizeof u[k].addr, "tcp://127.0.0.1:9");
                sign_as (&u[k], k % 4 == 0);
            }
            else {
                u[k].state = k % 4 == 2 ? MW_STATE_DEAD : MW_STATE_SUSPECT;
                u[k].from = o->sender;
                sign_as (&u[k], false);
            }
        }
        mw_msg_t m;
        make_gossip (&m, &o->sender, o->session, 0, 0);
        m.updates = u;
        m.n_updates = 8;
        if (forge_send (keys, &m, o) == 0) {
            sent++;
            records += 8;
        }
    }
    printf ("mode=forge-record sent=%d records=%d\n", sent, records);
    return 0;
}

//  session-bump: under --victim's id, a GOSSIP (sealed for --to-id) and a
//  PUSH_PULL (unbound) with a session just above the victim's real one
//  (--session S: S + 1000 + i, well within the clock skew rule), each
//  carrying the victim's alive record naming that session, signed with
//  our key (with our key attached): a node that took the new session
//  would refuse the victim's real packets as stale.
static int
session_bump (gossip_keyring_t *keys, const mw_id_t *victim, uint64_t real_session, int count)
{
    int sent = 0;
    bool had_to = s_have_to;
    for (int i = 0; i < count; i++)
        for (int unbound = 0; unbound < 2; unbound++) {
            uint64_t session = real_session + 1000 + (uint64_t) i;
            mw_update_t u;
            memset (&u, 0, sizeof u);
            u.id = u.from = *victim;
            u.state = MW_STATE_ALIVE;
            u.incarnation = 1;
            u.session = session;
            u.stamp = 1;
            snprintf (u.name, sizeof u.name, "forged");
            snprintf (u.addr, sizeof u.addr, "tcp://127.0.0.1:9");
            sign_as (&u, true);
            mw_msg_t m;
            make_gossip (&m, victim, session, 1, wall_ms ());
            m.type = unbound ? MW_MSG_PUSH_PULL : MW_MSG_GOSSIP;
            m.updates = &u;
            m.n_updates = 1;
            s_have_to = had_to && !unbound;
            uint8_t *out = NULL;
            size_t len = 0;
            if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                sent++;
            free (out);
        }
    s_have_to = had_to;
    printf ("mode=session-bump sent=%d\n", sent);
    return 0;
}

//  One forged election message of `kind` (0 HEARTBEAT, 1 pre-vote request,
//  2 vote request, 3 VOTE refusal) with counter `term`.
static int
forge_election_one (gossip_keyring_t *keys, int kind, uint64_t term, forge_opts_t *o)
{
    mw_msg_t m;
    memset (&m, 0, sizeof m);
    m.type = kind == 0 ? MW_MSG_HEARTBEAT : kind <= 2 ? MW_MSG_VOTE_REQ : MW_MSG_VOTE;
    m.term = term;
    m.rank = o->rank;
    m.lease_ms = kind == 0 ? o->lease_ms : 0;
    m.pre = kind == 1;
    m.granted = 0;
    if (kind == 3) {
        m.ballot = o->ballot;        //  "my highest ballot is (term, rank, ballot)"
        m.coordinator = o->ballot;   //  "... and I follow it"
    }
    return forge_send (keys, &m, o);
}

//  `kinds`: bit set of the kinds above; `terms`: comma-separated counters.
static int
forge_election (gossip_keyring_t *keys, int kinds, const char *terms, int count, forge_opts_t *o, int *sent)
{
    for (int i = 0; i < count; i++) {
        const char *p = terms;
        while (*p) {
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull (p, &end, 10);
            if (end == p || errno || (*end && *end != ',')) {
                fprintf (stderr, "mw-inject: --term: bad counter at '%s'\n", p);
                return -1;
            }
            for (int kind = 0; kind < 4; kind++)
                if (kinds & (1 << kind))
                    *sent += forge_election_one (keys, kind, (uint64_t) t, o) == 0;
            p = *end ? end + 1 : end;
        }
    }
    return 0;
}

//  Jobs through the agent's control socket, at a fixed rate.
static int
submit_jobs (const char *to, const char *image, const char *camera, const char *model, const char *deadline,
             int count, double rate)
{
    FILE *f = fopen (image, "rb");
    if (!f) {
        fprintf (stderr, "mw-inject: %s: %s\n", image, strerror (errno));
        return 1;
    }
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *jpeg = n > 0 ? malloc ((size_t) n) : NULL;
    if (!jpeg || fread (jpeg, 1, (size_t) n, f) != (size_t) n) {
        fclose (f);
        free (jpeg);
        return 1;
    }
    fclose (f);
    void *req = zmq_socket (s_ctx, ZMQ_REQ);
    int tmo = 3000, linger = 0;
    zmq_setsockopt (req, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt (req, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (req, to) != 0) {
        fprintf (stderr, "mw-inject: connect %s: %s\n", to, zmq_strerror (errno));
        zmq_close (req);
        free (jpeg);
        return 1;
    }
    uint64_t t0 = wall_ms ();
    int accepted = 0, refused = 0, rc = 0;
    for (int i = 0; i < count; i++) {
        uint64_t at = t0 + (uint64_t) (1000.0 * i / rate);
        while (wall_ms () < at)
            usleep (2000);
        const char *parts[] = {"submit", camera, model, deadline, "5"};
        for (int k = 0; k < 5; k++)
            zmq_send (req, parts[k], strlen (parts[k]), ZMQ_SNDMORE);
        if (zmq_send (req, jpeg, (size_t) n, 0) < 0) {
            fprintf (stderr, "mw-inject: submit %d: send failed\n", i);
            rc = 1;
            break;
        }
        //  The reply (node/control.h): "ok" or "error", then a JSON document,
        //  {"id": ...} or {"error": ..., "detail": ...}.
        char status[16] = "", body[1024] = "";
        int a = zmq_recv (req, status, sizeof status - 1, 0);
        int b = a >= 0 ? zmq_recv (req, body, sizeof body - 1, 0) : -1;
        if (a < 0 || b < 0) {
            fprintf (stderr, "mw-inject: submit %d: no answer from the agent\n", i);
            rc = 1;
            break;
        }
        status[a < (int) sizeof status - 1 ? a : (int) sizeof status - 1] = 0;
        body[b < (int) sizeof body - 1 ? b : (int) sizeof body - 1] = 0;
        json_object *doc = json_tokener_parse (body);
        json_object *v = NULL;
        const char *text = NULL;
        if (doc && json_object_object_get_ex (doc, !strcmp (status, "ok") ? "id" : "detail", &v))
            text = json_object_get_string (v);
        if (!strcmp (status, "ok") && text) {
            printf ("%s\n", text);
            fflush (stdout);
            accepted++;
        }
        else {
            fprintf (stderr, "refused: %s\n", text ? text : body);
            refused++;
        }
        json_object_put (doc);
    }
    fprintf (stderr, "mode=submit accepted=%d refused=%d secs=%.1f\n", accepted, refused,
             (double) (wall_ms () - t0) / 1000.0);
    zmq_close (req);
    free (jpeg);
    return rc;
}

//  A fresh sender that announces itself alive under a name of the test's
//  choosing, again and again (a higher incarnation each time refutes the
//  suspicion its silent address earns), with a digest so that /metrics
//  lists it among the live peers.
static int
hostile_name (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq,
              const char *name, const char *addr, int count, double rate)
{
    int sent = 0;
    uint64_t t0 = wall_ms ();
    for (int i = 0; i < count; i++) {
        uint64_t at = t0 + (uint64_t) (1000.0 * i / rate);
        while (wall_ms () < at)
            usleep (2000);
        mw_update_t u;
        memset (&u, 0, sizeof u);
        u.id = *sender;
        u.from = *sender;
        snprintf (u.name, sizeof u.name, "%s", name);
        snprintf (u.addr, sizeof u.addr, "%s", addr);
        u.state = MW_STATE_ALIVE;
        u.incarnation = (uint64_t) i + 1;
        sched_digest_t d;
        memset (&d, 0, sizeof d);
        d.ts_ms = (uint32_t) wall_ms ();
        d.cur[SCHED_DIGEST_CPU] = 10;
        d.cpu_cores = 1;
        d.horizon_s[0] = 5;
        d.horizon_s[1] = 30;
        int dl = sched_digest_encode (&d, u.digest, sizeof u.digest);
        u.digest_len = (uint16_t) (dl > 0 ? dl : 0);
        sign_own (&u, session, (uint64_t) i + 1);
        mw_msg_t m;
        make_gossip (&m, sender, session, ++*seq, wall_ms ());
        m.updates = &u;
        m.n_updates = 1;
        uint8_t *out = NULL;
        size_t len = 0;
        if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
            sent++;
        free (out);
    }
    return sent;
}

//  --------------------------------------------------------------------------
//  Flood and forgery modes (each self-contained; one line each in the mode
//  table and in main's dispatch)

//  Under the victim's id, sessions no boot time can have: 2^64-1 and now +
//  one day; a GOSSIP sealed for --to-id and a PUSH_PULL sealed unbound (the
//  one type every mesh receiver takes unbound).  Printed: how many sent.
//  The same sealed bytes to their receiver and to another node.
static int
cross_replay (gossip_keyring_t *keys, const char *also, int count)
{
    void *other = zmq_socket (s_ctx, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt (other, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (other, also) != 0) {
        fprintf (stderr, "mw-inject: connect %s: %s\n", also, zmq_strerror (errno));
        zmq_close (other);
        return 1;
    }
    usleep (300 * 1000);
    mw_id_t sender;
    rnd_fill (sender.b, MW_ID_LEN);
    uint64_t session = wall_ms ();
    int to_first = 0, to_other = 0;
    for (int i = 0; i < count; i++) {
        mw_msg_t m;
        make_gossip (&m, &sender, session, (uint64_t) i + 1, wall_ms ());
        uint8_t *out = NULL;
        size_t len = 0;
        if (seal_msg (keys, &m, &out, &len) == 0) {
            to_first += zsend (out, len, 0) == 0;
            to_other += zmq_send (other, out, len, 0) == (int) len;
        }
        free (out);
    }
    zmq_close (other);
    printf ("mode=cross-replay sent=%d also=%d\n", to_first, to_other);
    return 0;
}

static int
session_poison (gossip_keyring_t *keys, const mw_id_t *victim, int count)
{
    int sent = 0;
    uint64_t sessions[2] = {UINT64_MAX, wall_ms () + 86400000ULL};
    bool had_to = s_have_to;
    for (int i = 0; i < count; i++)
        for (int k = 0; k < 2; k++)
            for (int unbound = 0; unbound < 2; unbound++) {
                mw_msg_t m;
                make_gossip (&m, victim, sessions[k], (uint64_t) i + 1, wall_ms ());
                if (unbound)
                    m.type = MW_MSG_PUSH_PULL;
                s_have_to = had_to && !unbound;
                uint8_t *out = NULL;
                size_t len = 0;
                if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                    sent++;
                free (out);
            }
    s_have_to = had_to;
    printf ("mode=session-poison sent=%d\n", sent);
    return 0;
}

//  Drain whatever came back on our DEALER; returns how many envelopes.
static int
drain_replies (void)
{
    int n = 0;
    zmq_msg_t part;
    for (int i = 0; i < 10000; i++) {
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, s_sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            break;
        }
        n += zmq_msg_size (&part) >= MW_ENVELOPE_OVERHEAD
             && ((const uint8_t *) zmq_msg_data (&part))[0] == 'M';
        zmq_msg_close (&part);
    }
    return n;
}

//  `count` requests, each naming a reply address nobody else names; the
//  agent must answer on this connection, never open one to the address.
static int
reply_flood (gossip_keyring_t *keys, int count, int senders, const char *net, int secs)
{
    if (senders < 1)
        senders = 1;
    mw_id_t *ids = calloc ((size_t) senders, sizeof *ids);
    uint64_t *seqs = calloc ((size_t) senders, sizeof *seqs);
    if (!ids || !seqs) {
        free (ids);
        free (seqs);
        return 1;
    }
    for (int k = 0; k < senders; k++)
        rnd_fill (ids[k].b, MW_ID_LEN);
    uint64_t session = wall_ms (), deadline = wall_ms () + (uint64_t) secs * 1000;
    int sent = 0, replies = 0;
    for (int i = 0; i < count && wall_ms () < deadline; i++) {
        int k = i % senders;
        char addr[MW_ADDR_MAX + 1];
        snprintf (addr, sizeof addr, "tcp://%s.%d:%d", net, 200 + i % 50, 1024 + (i / 50) % 64000);
        mw_msg_t m;
        mw_job_t j;
        if (s_plane == MW_PLANE_DATA) {
            make_job (&m, &j, MW_MSG_JOB_OFFER, &ids[k], session, ++seqs[k], "tiny-face", addr);
            j.frame_len = 50000;
        }
        else {
            make_gossip (&m, &ids[k], session, ++seqs[k], wall_ms ());
            m.type = MW_MSG_PING;
            m.probe = (uint32_t) i;
            if (s_have_to)
                m.target = s_to_id;
            snprintf (m.addr, sizeof m.addr, "%s", addr);
        }
        uint8_t *out = NULL;
        size_t len = 0;
        if (seal_msg (keys, &m, &out, &len) == 0) {
            //  Full speed, but never stuck: a send the agent does not take
            //  within a second is given up (and counted as not sent).
            zmq_pollitem_t it = {s_sock, 0, ZMQ_POLLOUT, 0};
            if (zmq_poll (&it, 1, 1000) > 0 && zmq_send (s_sock, out, len, ZMQ_DONTWAIT) == (int) len)
                sent++;
        }
        free (out);
        if (i % 32 == 31)
            replies += drain_replies ();
    }
    usleep (500 * 1000);
    replies += drain_replies ();
    printf ("mode=reply-flood sent=%d addresses=%d senders=%d replies=%d\n", sent, sent, senders, replies);
    free (ids);
    free (seqs);
    return 0;
}

//  A non-blocking TCP connection to sa; -1 on failure.
static int
tcp_open (const struct sockaddr_in *sa)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect (fd, (const struct sockaddr *) sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
        close (fd);
        return -1;
    }
    return fd;
}

//  The ZMTP 3.0 greeting and READY of a NULL-mechanism DEALER: after this
//  the agent's libzmq considers the handshake done.
static void
zmtp_greet (int fd)
{
    uint8_t g[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    static const uint8_t ready[] = {0x04, 28,  5,   'R', 'E', 'A', 'D', 'Y', 11,  'S',
                                    'o',  'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e',
                                    0,    0,   0,   6,   'D', 'E', 'A', 'L', 'E', 'R'};
    (void) !send (fd, g, sizeof g, MSG_NOSIGNAL);
    (void) !send (fd, ready, sizeof ready, MSG_NOSIGNAL);
}

static int
conn_flood (const char *ep, int count, int secs, bool greet)
{
    struct sockaddr_in sa;
    if (parse_ipport (ep, &sa) != 0) {
        fprintf (stderr, "mw-inject: conn-flood needs tcp://IP:PORT\n");
        return 1;
    }
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) count + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t) count + 64 ? rl.rlim_max : (rlim_t) count + 64;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    struct pollfd *p = calloc ((size_t) count, sizeof *p);
    bool *greeted = calloc ((size_t) count, sizeof *greeted);
    if (!p || !greeted) {
        free (p);
        free (greeted);
        return 1;
    }
    long opened = 0, closed = 0;
    for (int i = 0; i < count; i++) {
        p[i].fd = tcp_open (&sa);
        p[i].events = POLLIN | POLLOUT;
        opened += p[i].fd >= 0;
    }
    uint64_t deadline = wall_ms () + (uint64_t) secs * 1000;
    while (wall_ms () < deadline) {
        if (poll (p, (nfds_t) count, 100) <= 0)
            continue;
        for (int i = 0; i < count; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            bool gone = (p[i].revents & (POLLHUP | POLLERR)) != 0;
            if (!gone && (p[i].revents & POLLIN)) {
                char buf[512];
                ssize_t n = recv (p[i].fd, buf, sizeof buf, 0);
                gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            }
            if (!gone && (p[i].revents & POLLOUT)) {
                //  Connected: greet once if asked to, then only listen.
                if (greet && !greeted[i])
                    zmtp_greet (p[i].fd);
                greeted[i] = true;
                p[i].events = POLLIN;
            }
            if (gone) {
                //  Cut by the agent: come back at once (the pressure stays on).
                close (p[i].fd);
                closed++;
                greeted[i] = false;
                p[i].fd = tcp_open (&sa);
                p[i].events = POLLIN | POLLOUT;
                opened += p[i].fd >= 0;
            }
        }
    }
    //  Still open now: connected and not closed by the agent.
    int open_now = 0;
    for (int i = 0; i < count; i++) {
        if (p[i].fd < 0)
            continue;
        char c;
        ssize_t n = recv (p[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        bool alive = greeted[i] && (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));
        open_now += alive;
        close (p[i].fd);
    }
    printf ("mode=conn-flood connections=%d opened=%ld closed_by_agent=%ld open_at_end=%d\n", count, opened,
            closed, open_now);
    free (p);
    free (greeted);
    return 0;
}

static int
junk_flood (gossip_keyring_t *keys, const char *ep, int conns, long size, int secs)
{
    if (conns < 1 || conns > 256 || size < MW_ENVELOPE_OVERHEAD || size > 64L * 1024 * 1024)
        return 1;
    uint8_t key_id = (uint8_t) rnd ();
    if (keys) {
        uint8_t *out = NULL;
        size_t len = 0;
        if (gossip_crypto_seal (keys, NULL, MW_PLANE_DATA, NULL, 0, &out, &len) == 0)
            key_id = out[3];
        free (out);
    }
    uint8_t *frame = malloc ((size_t) size);
    void **socks = calloc ((size_t) conns, sizeof *socks);
    if (!frame || !socks) {
        free (frame);
        free (socks);
        return 1;
    }
    rnd_fill (frame, (size_t) size);
    frame[0] = 'M';
    frame[1] = 'W';
    frame[2] = MW_ENVELOPE_VERSION;
    frame[3] = key_id;
    s_ctx = zmq_ctx_new ();
    for (int c = 0; c < conns; c++) {
        socks[c] = zmq_socket (s_ctx, ZMQ_DEALER);
        int linger = 0, hwm = 2;
        zmq_setsockopt (socks[c], ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt (socks[c], ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_connect (socks[c], ep);
    }
    uint64_t deadline = wall_ms () + (uint64_t) secs * 1000;
    long sent = 0;
    while (wall_ms () < deadline) {
        zmq_pollitem_t it[256];
        for (int c = 0; c < conns; c++)
            it[c] = (zmq_pollitem_t){socks[c], 0, ZMQ_POLLOUT, 0};
        if (zmq_poll (it, conns, 100) <= 0)
            continue;
        for (int c = 0; c < conns; c++)
            if (it[c].revents & ZMQ_POLLOUT) {
                frame[4 + sent % 24] ^= 1;   //  no two frames alike
                if (zmq_send (socks[c], frame, (size_t) size, ZMQ_DONTWAIT) == (int) size)
                    sent++;
            }
    }
    for (int c = 0; c < conns; c++)
        zmq_close (socks[c]);
    zmq_ctx_term (s_ctx);
    s_ctx = NULL;
    printf ("mode=junk-flood conns=%d frames=%ld bytes=%ld secs=%d mb_per_s=%.0f\n", conns, sent, sent * size,
            secs, (double) sent * (double) size / 1048576.0 / (secs ? secs : 1));
    free (frame);
    free (socks);
    return 0;
}

static int
status_probe (const char *to, int secs)
{
    s_ctx = zmq_ctx_new ();
    void *req = NULL;
    uint64_t t0 = wall_ms (), deadline = t0 + (uint64_t) secs * 1000;
    setvbuf (stdout, NULL, _IOLBF, 0);
    while (wall_ms () < deadline) {
        if (!req) {   //  a REQ that lost its answer cannot send again: a new one
            req = zmq_socket (s_ctx, ZMQ_REQ);
            int linger = 0, tmo = 5000;
            zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
            zmq_setsockopt (req, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
            zmq_setsockopt (req, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
            if (zmq_connect (req, to) != 0) {
                fprintf (stderr, "mw-inject: connect %s: %s\n", to, zmq_strerror (errno));
                zmq_close (req);
                zmq_ctx_term (s_ctx);
                return 1;
            }
        }
        uint64_t t = wall_ms ();
        bool ok = zmq_send (req, "status --json", 13, 0) == 13;
        char buf[256];
        ok = ok && zmq_recv (req, buf, sizeof buf, 0) >= 0;   //  status word
        while (ok) {                                          //  the rest of the answer
            int more = 0;
            size_t sz = sizeof more;
            zmq_getsockopt (req, ZMQ_RCVMORE, &more, &sz);
            if (!more)
                break;
            ok = zmq_recv (req, buf, sizeof buf, 0) >= 0;
        }
        printf ("%llu %llu\n", (unsigned long long) (t - t0),
                ok ? (unsigned long long) (wall_ms () - t) : 99999ULL);
        if (!ok) {
            zmq_close (req);
            req = NULL;
        }
        uint64_t next = t + 500;
        while (wall_ms () < next)
            usleep (10 * 1000);
    }
    if (req)
        zmq_close (req);
    zmq_ctx_term (s_ctx);
    s_ctx = NULL;
    return 0;
}

//  --count CAM_RECORDS of 32 new, valid cameras each.
static int
cam_flood (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq, int count)
{
    int sent = 0;
    mw_wire_cam_t *cams = calloc (MW_CAM_RECORDS_MAX, sizeof *cams);
    if (!cams)
        return 0;
    uint32_t tag = rnd ();
    for (int i = 0; i < count; i++) {
        for (int k = 0; k < MW_CAM_RECORDS_MAX; k++) {
            mw_wire_cam_t *c = &cams[k];
            memset (c, 0, sizeof *c);
            snprintf (c->id, sizeof c->id, "flood-%08x-%d", tag, i * MW_CAM_RECORDS_MAX + k);
            c->hlc = wall_ms () << 16;
            c->origin = *sender;
            snprintf (c->json, sizeof c->json,
                      "{\"name\":\"%s\",\"type\":1,\"gps\":{\"latitude\":\"1.5\",\"longitude\":\"2.5\"},"
                      "\"ip\":\"192.0.2.1\",\"isSupportAnnalysis\":\"NO\",\"url\":\"rtsp://192.0.2.1/x\"}",
                      c->id);
        }
        mw_msg_t m;
        make_gossip (&m, sender, session, ++*seq, wall_ms ());
        m.type = MW_MSG_CAM_RECORDS;
        m.cams = cams;
        m.n_cams = MW_CAM_RECORDS_MAX;
        uint8_t *out = NULL;
        size_t len = 0;
        if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
            sent++;
        free (out);
        if (i % 20 == 19)
            usleep (5 * 1000);
    }
    free (cams);
    return sent;
}

//  --count FOCUS messages, each a new focus id near (lat, lon).
static int
focus_flood (gossip_keyring_t *keys, const mw_id_t *sender, uint64_t session, uint64_t *seq, int count,
             double lat, double lon)
{
    int sent = 0;
    for (int i = 0; i < count; i++) {
        mw_msg_t m;
        make_gossip (&m, sender, session, ++*seq, wall_ms ());
        m.type = MW_MSG_FOCUS;
        rnd_fill (m.focus_id.b, MW_JOBID_LEN);
        m.focus_origin = *sender;
        snprintf (m.focus_trigger, sizeof m.focus_trigger, "api");
        m.lat_e6 = (uint32_t) ((lat + 90.0) * 1e6) + rnd () % 1000;
        m.lon_e6 = (uint32_t) ((lon + 180.0) * 1e6) + rnd () % 1000;
        m.radius_m = 100;
        m.ttl_ms = 60000;
        m.created_ms = wall_ms ();
        m.hops = 3;   //  not relayed on
        uint8_t *out = NULL;
        size_t len = 0;
        if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
            sent++;
        free (out);
        if (i % 50 == 49)
            usleep (5 * 1000);
    }
    return sent;
}

static void
usage (void)
{
    fprintf (stderr,
             "usage: mw-inject --to ENDPOINT [--key B64] [--count N] [--seed S] "
             "[--capture-port P] [--capture-ms MS] "
             "[--model M] [--reply tcp://IP:PORT] [--size BYTES] [--image F] [--rate R] [--camera C] "
             "[--deadline-ms D] "
             "garbage|wrongkey|tampered|replay|clock|stale|valid|rawtcp|udp-garbage|beacon-replay|"
             "job-offer|job-garbage|job-stray|oversize|submit|"
             "hostile-name|session-poison|cross-replay|reply-flood|conn-flood|junk-flood|status-probe|"
             "member-flood|announce|forge-heartbeat|forge-prevote|forge-votereq|forge-vote|forge-all|"
             "forge-record|session-bump|cam-flood|focus-flood\n"
             "       [--name N] [--addr A] [--to-id HEX] [--plane mesh|data] [--victim HEX] [--secs S] "
             "[--senders K]\n"
             "       [--reply-net A.B.C] [--conns C] [--greet] [--also ENDPOINT] [--ghost-ip IP] [--lat L "
             "--lon L]\n"
             "       [--term T[,T..]] [--sender HEX] [--ballot HEX] [--session S] [--seq Q] [--rank R] "
             "[--lease-ms L] [--victim HEX] [--incarnation N]\n");
}

int
main (int argc, char **argv)
{
    const char *to = NULL, *key = NULL, *mode = NULL;
    int count = 1, capture_port = 5670, capture_ms = 5000;
    const char *model = NULL, *reply = NULL, *image = NULL, *camera = "inject-cam", *deadline = "";
    const char *name = "hostile", *addr = "tcp://127.0.0.1:9", *ghost_ip = "127.0.0.1";
    long size = 5 * 1024 * 1024;
    double rate = 5, lat = 0, lon = 0;
    const char *terms = NULL, *f_sender = NULL, *f_ballot = NULL;
    forge_opts_t fo = {{{0}}, {{0}}, 0, 1, 1110, 400};
    uint64_t f_inc = 1;
    uint64_t seed = (uint64_t) wall_ms () ^ (uint64_t) getpid () << 32;
    const char *victim_hex = NULL, *reply_net = "127.0.0", *plane = NULL, *also = NULL;
    int secs = 20, senders = 1, conns = 4;
    bool greet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--to") && i + 1 < argc)
            to = argv[++i];
        else if (!strcmp (argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp (argv[i], "--count") && i + 1 < argc)
            count = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--seed") && i + 1 < argc)
            seed = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--capture-port") && i + 1 < argc)
            capture_port = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--capture-ms") && i + 1 < argc)
            capture_ms = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp (argv[i], "--reply") && i + 1 < argc)
            reply = argv[++i];
        else if (!strcmp (argv[i], "--size") && i + 1 < argc)
            size = atol (argv[++i]);
        else if (!strcmp (argv[i], "--image") && i + 1 < argc)
            image = argv[++i];
        else if (!strcmp (argv[i], "--rate") && i + 1 < argc)
            rate = atof (argv[++i]);
        else if (!strcmp (argv[i], "--camera") && i + 1 < argc)
            camera = argv[++i];
        else if (!strcmp (argv[i], "--deadline-ms") && i + 1 < argc)
            deadline = argv[++i];
        else if (!strcmp (argv[i], "--senders") && i + 1 < argc)
            senders = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--ghost-ip") && i + 1 < argc)
            ghost_ip = argv[++i];
        else if (!strcmp (argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp (argv[i], "--lat") && i + 1 < argc)
            lat = atof (argv[++i]);
        else if (!strcmp (argv[i], "--lon") && i + 1 < argc)
            lon = atof (argv[++i]);
        else if (!strcmp (argv[i], "--addr") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp (argv[i], "--to-id") && i + 1 < argc) {
            if (gossip_wire_id_parse (argv[++i], &s_to_id) != 0) {
                fprintf (stderr, "mw-inject: --to-id wants 16 hex digits\n");
                return 1;
            }
            s_have_to = true;
        }
        else if (!strcmp (argv[i], "--plane") && i + 1 < argc)
            plane = argv[++i];
        else if (!strcmp (argv[i], "--victim") && i + 1 < argc)
            victim_hex = argv[++i];
        else if (!strcmp (argv[i], "--secs") && i + 1 < argc)
            secs = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--reply-net") && i + 1 < argc)
            reply_net = argv[++i];
        else if (!strcmp (argv[i], "--conns") && i + 1 < argc)
            conns = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--also") && i + 1 < argc)
            also = argv[++i];
        else if (!strcmp (argv[i], "--greet"))
            greet = true;
        else if (!strcmp (argv[i], "--term") && i + 1 < argc)
            terms = argv[++i];
        else if (!strcmp (argv[i], "--sender") && i + 1 < argc)
            f_sender = argv[++i];
        else if (!strcmp (argv[i], "--ballot") && i + 1 < argc)
            f_ballot = argv[++i];
        else if (!strcmp (argv[i], "--session") && i + 1 < argc)
            fo.session = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--seq") && i + 1 < argc)
            fo.seq = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--rank") && i + 1 < argc)
            fo.rank = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--incarnation") && i + 1 < argc)
            f_inc = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--lease-ms") && i + 1 < argc)
            fo.lease_ms = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !mode)
            mode = argv[i];
        else {
            usage ();
            return 1;
        }
    }
    if (!to || !mode || count < 0 || count > 1000000) {
        usage ();
        return 1;
    }
    static const char *modes[] = {
        "garbage",        "wrongkey",      "tampered",     "replay",      "clock",
        "stale",          "valid",         "rawtcp",       "udp-garbage", "beacon-replay",
        "job-offer",      "job-garbage",   "job-stray",    "oversize",    "submit",
        "session-poison", "reply-flood",   "conn-flood",   "junk-flood",  "cross-replay",
        "status-probe",   "hostile-name",  "member-flood", "announce",    "forge-heartbeat",
        "forge-prevote",  "forge-votereq", "forge-vote",   "forge-all",   "forge-record",
        "session-bump",   "cam-flood",     "focus-flood",  NULL};
    int known = 0;
    for (int i = 0; modes[i]; i++)
        known |= !strcmp (mode, modes[i]);
    if (!known) {
        usage ();
        return 1;
    }
    s_rng = seed ? seed : 88172645463325252ULL;
    //  The job modes speak the data plane unless told otherwise.
    if (plane)
        s_plane = !strcmp (plane, "data") ? MW_PLANE_DATA : MW_PLANE_MESH;
    else if (!strncmp (mode, "job-", 4))
        s_plane = MW_PLANE_DATA;
    if (secs < 1 || secs > 3600)
        secs = 20;

    gossip_keyring_t *keys = NULL;
    if (key) {
        keys = gossip_keyring_new (key);
        if (!keys) {
            fprintf (stderr, "mw-inject: --key is not a valid key\n");
            return 1;
        }
    }
    //  Our own key; our id (the default sender) is its hash: a newcomer
    //  that can sign its own records, and nobody else's.
    if (gossip_identity_generate (&s_forger) != 0) {
        fprintf (stderr, "mw-inject: cannot make a node key\n");
        gossip_keyring_destroy (&keys);
        return 1;
    }
    mw_id_t sender = s_forger.id;
    uint64_t session = wall_ms (), seq = 0;
    int rc = 0, sent = 0;

    if (!strcmp (mode, "beacon-replay"))
        return beacon_replay (keys, to, capture_port, capture_ms);
    if (!strcmp (mode, "rawtcp"))
        return send_rawtcp (to, count) == 0 ? 0 : 1;
    if (!strcmp (mode, "conn-flood"))
        return conn_flood (to, count, secs, greet);
    if (!strcmp (mode, "status-probe"))
        return status_probe (to, secs);
    if (!strcmp (mode, "junk-flood"))
        return junk_flood (keys, to, conns, size == 5 * 1024 * 1024 ? 4 * 1024 * 1024 : size, secs);
    if (!strcmp (mode, "udp-garbage")) {
        sent = 0;
        for (int i = 0; i < count; i++) {
            uint8_t buf[512];
            size_t len = 1 + rnd () % 255;
            rnd_fill (buf, len);
            if (i % 2) {
                buf[0] = 'M';
                buf[1] = 'W';
                buf[2] = 1;
            }
            sent += udp_send (to, buf, len) == 0;
            if (i % 50 == 49)
                usleep (10 * 1000);
        }
        printf ("mode=udp-garbage sent=%d\n", sent);
        return 0;
    }

    if (!strcmp (mode, "submit")) {
        if (!image || rate <= 0) {
            fprintf (stderr, "mw-inject: submit needs --image and a positive --rate\n");
            return 1;
        }
        s_ctx = zmq_ctx_new ();
        rc = submit_jobs (to, image, camera, model ? model : "tiny-face", deadline, count, rate);
        zmq_ctx_term (s_ctx);
        return rc;
    }
    if (!strcmp (mode, "oversize")) {
        if (size <= 0 || size > 64L * 1024 * 1024 || open_zmq (to) != 0)
            return 1;
        uint8_t *big = malloc ((size_t) size);
        if (!big)
            return 1;
        rnd_fill (big, (size_t) size);
        big[0] = 'M';
        big[1] = 'W';
        big[2] = MW_ENVELOPE_VERSION;
        sent = zsend (big, (size_t) size, 0) == 0;
        free (big);
        printf ("mode=oversize sent=%d bytes=%ld\n", sent, size);
        close_zmq ();
        return sent ? 0 : 1;
    }
    if (!strcmp (mode, "reply-flood"))
        s_hwm = 64;
    if (open_zmq (to) != 0)
        return 1;
    int needs_key = strcmp (mode, "garbage") != 0 && strcmp (mode, "wrongkey") != 0;
    if (needs_key && !keys) {
        fprintf (stderr, "mw-inject: mode %s needs --key\n", mode);
        close_zmq ();
        return 1;
    }
    if (!strcmp (mode, "cross-replay")) {
        rc = also ? cross_replay (keys, also, count) : 1;
        if (!also)
            fprintf (stderr, "mw-inject: cross-replay needs --also ENDPOINT\n");
        close_zmq ();
        gossip_keyring_destroy (&keys);
        return rc;
    }
    if (!strcmp (mode, "session-poison") || !strcmp (mode, "reply-flood")) {
        mw_id_t victim;
        if (!strcmp (mode, "session-poison")
            && (!victim_hex || gossip_wire_id_parse (victim_hex, &victim) != 0)) {
            fprintf (stderr, "mw-inject: session-poison needs --victim HEX\n");
            rc = 1;
        }
        else
            rc = !strcmp (mode, "reply-flood") ? reply_flood (keys, count, senders, reply_net, secs)
                                               : session_poison (keys, &victim, count);
        close_zmq ();
        gossip_keyring_destroy (&keys);
        return rc;
    }
    if (!strcmp (mode, "job-offer")) {
        if (!reply) {
            fprintf (stderr, "mw-inject: job-offer needs --reply tcp://IP:PORT\n");
            close_zmq ();
            return 1;
        }
        rc = job_offer (keys, &sender, session, &seq, model ? model : "nope", reply, capture_ms);
        close_zmq ();
        gossip_keyring_destroy (&keys);
        return rc;
    }
    if (!strcmp (mode, "member-flood") || !strcmp (mode, "announce")) {
        rc = !strcmp (mode, "announce") ? announce (keys, &sender, session, name, ghost_ip)
                                        : member_flood (keys, (uint64_t) count, senders, ghost_ip);
        close_zmq ();
        gossip_keyring_destroy (&keys);
        return rc;
    }
    if (!strcmp (mode, "forge-record") || !strcmp (mode, "session-bump")) {
        mw_id_t victim;
        if (!victim_hex || gossip_wire_id_parse (victim_hex, &victim) != 0
            || (f_sender && gossip_wire_id_parse (f_sender, &fo.sender) != 0)) {
            fprintf (stderr, "mw-inject: %s needs --victim HEX (and ids as 16 hex digits)\n", mode);
            rc = 1;
        }
        else if (!strcmp (mode, "session-bump")) {
            if (!fo.session) {
                fprintf (stderr, "mw-inject: session-bump needs --session (the victim's)\n");
                rc = 1;
            }
            else
                rc = session_bump (keys, &victim, fo.session, count);
        }
        else {
            if (!f_sender)
                fo.sender = sender;
            if (!fo.session)
                fo.session = session;
            rc = forge_record (keys, &victim, f_inc, &fo, count);
        }
        usleep (200 * 1000);
        close_zmq ();
        gossip_keyring_destroy (&keys);
        return rc;
    }
    if (!strncmp (mode, "forge-", 6)) {
        int kinds = !strcmp (mode, "forge-heartbeat") ? 1
                    : !strcmp (mode, "forge-prevote") ? 2
                    : !strcmp (mode, "forge-votereq") ? 4
                    : !strcmp (mode, "forge-vote")    ? 8
                                                      : 15;
        if (!terms || (f_sender && gossip_wire_id_parse (f_sender, &fo.sender) != 0)
            || (f_ballot && gossip_wire_id_parse (f_ballot, &fo.ballot) != 0)) {
            fprintf (stderr, "mw-inject: %s needs --term, and ids as 16 hex digits\n", mode);
            rc = 1;
        }
        else {
            if (!f_sender)
                fo.sender = sender;   //  random: a non-member
            if (!f_ballot)
                fo.ballot = fo.sender;
            if (!fo.session)
                fo.session = session;
            rc = forge_election (keys, kinds, terms, count, &fo, &sent) == 0 ? 0 : 1;
            usleep (200 * 1000);   //  (linger sends the rest; this keeps the order of output sane)
        }
    }
    else if (!strcmp (mode, "garbage")) {
        for (int i = 0; i < count; i++) {
            if (send_garbage_one (keys, &sender, session, &seq) == 0)
                sent++;
            if (i % 100 == 99)
                usleep (5 * 1000);   //  keep it bounded, not a flood
        }
    }
    else if (!strcmp (mode, "job-garbage") || !strcmp (mode, "job-stray")) {
        int stray = !strcmp (mode, "job-stray");
        for (int i = 0; i < count; i++) {
            if ((stray ? send_job_stray_one (keys, &sender, session, &seq, i)
                       : send_job_garbage_one (keys, &sender, session, &seq))
                == 0)
                sent++;
            if (i % 50 == 49)
                usleep (5 * 1000);
        }
    }
    else if (!strcmp (mode, "wrongkey")) {
        char other[64];
        gossip_key_generate (other);
        gossip_keyring_t *wrong = gossip_keyring_new (other);
        for (int i = 0; i < count; i++) {
            mw_msg_t m;
            make_gossip (&m, &sender, session, ++seq, wall_ms ());
            uint8_t *out = NULL;
            size_t len = 0;
            if (wrong && seal_msg (wrong, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                sent++;
            free (out);
        }
        gossip_keyring_destroy (&wrong);
    }
    else if (!strcmp (mode, "tampered")) {
        for (int i = 0; i < count; i++) {
            mw_msg_t m;
            make_gossip (&m, &sender, session, ++seq, wall_ms ());
            uint8_t *out = NULL;
            size_t len = 0;
            if (seal_msg (keys, &m, &out, &len) == 0) {
                out[MW_ENVELOPE_HDR + rnd () % (len - MW_ENVELOPE_HDR)] ^= 0x20;
                if (zsend (out, len, 0) == 0)
                    sent++;
            }
            free (out);
        }
    }
    else if (!strcmp (mode, "replay") || !strcmp (mode, "valid")) {
        int twice = !strcmp (mode, "replay");
        for (int i = 0; i < count; i++) {
            mw_msg_t m;
            make_gossip (&m, &sender, session, ++seq, wall_ms ());
            uint8_t *out = NULL;
            size_t len = 0;
            if (seal_msg (keys, &m, &out, &len) == 0) {
                sent += zsend (out, len, 0) == 0;
                if (twice) {
                    usleep (50 * 1000);
                    sent += zsend (out, len, 0) == 0;
                }
            }
            free (out);
        }
    }
    else if (!strcmp (mode, "cam-flood"))
        sent = cam_flood (keys, &sender, session, &seq, count);
    else if (!strcmp (mode, "focus-flood"))
        sent = focus_flood (keys, &sender, session, &seq, count, lat, lon);
    else if (!strcmp (mode, "hostile-name"))
        sent = hostile_name (keys, &sender, session, &seq, name, addr, count, rate > 0 ? rate : 5);
    else if (!strcmp (mode, "clock")) {
        for (int i = 0; i < count; i++) {
            mw_id_t fresh;
            rnd_fill (fresh.b, MW_ID_LEN);   //  never seen before: ts is checked
            mw_msg_t m;
            uint64_t old = wall_ms () - 3600 * 1000;
            make_gossip (&m, &fresh, old, 1, old);
            uint8_t *out = NULL;
            size_t len = 0;
            if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                sent++;
            free (out);
        }
    }
    else if (!strcmp (mode, "stale")) {
        for (int i = 0; i < count; i++) {
            mw_id_t fresh;
            rnd_fill (fresh.b, MW_ID_LEN);
            uint64_t now = wall_ms ();
            mw_msg_t m;
            uint8_t *out = NULL;
            size_t len = 0;
            make_gossip (&m, &fresh, now, 1, now);   //  current session
            if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                sent++;
            free (out);
            usleep (50 * 1000);
            out = NULL;
            make_gossip (&m, &fresh, now - 1000, 1, now);   //  an older session
            if (seal_msg (keys, &m, &out, &len) == 0 && zsend (out, len, 0) == 0)
                sent++;
            free (out);
        }
    }
    else {
        usage ();
        rc = 1;
    }
    if (rc == 0)
        printf ("mode=%s sent=%d\n", mode, sent);
    close_zmq ();
    gossip_keyring_destroy (&keys);
    return rc;
}
