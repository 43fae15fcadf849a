#!/usr/bin/env python3
"""check_replay.py - what subscribers received against what the box published.

usage: check_replay.py --api URL --token-file F [--acked FILE] [--min N]
                       [--sse FILE]... [--zmq FILE]...

"Published" is the box's whole event log, read back page by page with
GET /api/v1/events (from the oldest event, which must be seq 1: nothing was
lost to retention).  Checks:
  * the log: one epoch, seq 1..last without a hole, at least N events;
  * every acknowledged POST (--acked: "EPOCH-SEQ result" lines) is in the
    log at that id with that result (nothing acknowledged was lost, even
    across a kill -9 of the box, and seq went on after it);
  * each subscriber (SSE records from sse_client.py, or the JSON lines of
    `meshwatch events --since` between chaos.py's resume markers):
      - within a session, events in seq order with no gap;
      - a session starts at most one past where the last one ended (no
        gap across a resume), and repeats only events already received
        (duplicates only across a resume);
      - the union of what it received is exactly the log, each event with
        the log's topic and content.
Exit 0 all good, 1 problems (listed).
"""
import http.client, json, sys, urllib.parse


def fetch_log(api, token):
    u = urllib.parse.urlparse(api)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    events, after = [], None
    while True:
        path = "/api/v1/events?limit=1000" + ("&after=" + after if after else "")
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        doc = json.loads(r.read())
        if r.status != 200:
            raise SystemExit("FAIL: GET %s: %d %s" % (path, r.status, doc))
        events += doc["events"]
        after = doc["next"]
        if not doc["more"] or not doc["events"]:
            return doc["epoch"], events


def read_sse(path):
    sessions, cur, sid = [], None, None
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d["session"] != sid:
            sid = d["session"]
            cur = []
            sessions.append(cur)
        cur.append((d["epoch"], d["seq"], d["topic"], None))
    return sessions


def read_zmq(path):
    sessions, cur = [], None
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            d = json.loads(line)
        except ValueError:
            continue   # a line cut by a kill
        if "resume" in d:
            cur = []
            sessions.append(cur)
            continue
        if cur is None or "seq" not in d:
            continue
        cur.append((d["epoch"], d["seq"], None, d))
    return sessions


def check_sessions(name, sessions, log, epoch, problems):
    got = set()
    high = 0   # the highest seq received so far
    n_events = 0
    for k, s in enumerate(sessions):
        prev = None
        for (e, seq, topic, data) in s:
            n_events += 1
            if e != epoch:
                problems.append("%s: session %d: epoch %s, the log's is %s" % (name, k, e, epoch)); return
            if prev is not None and seq != prev + 1:
                problems.append("%s: session %d: seq %d after %d (a gap or disorder inside a session)" %
                                (name, k, seq, prev))
            if prev is None and seq > high + 1:
                problems.append("%s: session %d starts at %d, the last one reached %d: a gap across the resume" %
                                (name, k, seq, high))
            prev = seq
            if seq not in log:
                problems.append("%s: seq %d is not in the log" % (name, seq)); continue
            rec = log[seq]
            if topic is not None and topic != rec["topic"]:
                problems.append("%s: seq %d topic %s, the log's %s" % (name, seq, topic, rec["topic"]))
            if data is not None and data != rec["data"]:
                problems.append("%s: seq %d differs from the log:\n  %s\n  %s" % (name, seq, data, rec["data"]))
            got.add(seq)
            high = max(high, seq)
    missing = sorted(set(log) - got)
    if missing:
        problems.append("%s: %d published events never received (first %s)" % (name, len(missing), missing[:5]))
    dups = n_events - len(got)
    print("  %-4s %4d sessions, %6d events received, %6d distinct, %5d duplicates across resumes" %
          (name, len(sessions), n_events, len(got), dups))


def main(argv):
    api = token_file = acked = None
    sse, zmq, minimum = [], [], 0
    i = 0
    while i < len(argv):
        a, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if a == "--api": api = v
        elif a == "--token-file": token_file = v
        elif a == "--acked": acked = v
        elif a == "--min": minimum = int(v)
        elif a == "--sse": sse.append(v)
        elif a == "--zmq": zmq.append(v)
        else:
            print(__doc__, file=sys.stderr); return 2
        i += 2
    token = open(token_file).read().strip()
    epoch, events = fetch_log(api, token)
    problems = []
    log = {}
    for rec in events:
        e, s = (int(x) for x in rec["id"].split("-"))
        if e != epoch or rec["data"]["seq"] != s or rec["data"]["epoch"] != e:
            problems.append("log: record %s inconsistent" % rec["id"])
        log[s] = rec
    seqs = sorted(log)
    if not seqs or seqs[0] != 1 or seqs[-1] != len(seqs):
        problems.append("log: seq not 1..N without holes (%d events, first %s, last %s)" %
                        (len(seqs), seqs[:1], seqs[-1:]))
    if len(seqs) < minimum:
        problems.append("log: %d events, fewer than %d" % (len(seqs), minimum))
    topics = {}
    for rec in events:
        topics[rec["topic"]] = topics.get(rec["topic"], 0) + 1
    print("  log: epoch %d, %d events (%s)" % (epoch, len(seqs),
          ", ".join("%s %d" % kv for kv in sorted(topics.items()))))
    if acked:
        n = bad = 0
        for line in open(acked):
            rid, result = line.split()
            e, s = (int(x) for x in rid.split("-"))
            n += 1
            rec = log.get(s)
            if e != epoch or not rec or rec["topic"] != "env.report" or rec["data"]["result"] != result:
                bad += 1
                if bad <= 5:
                    problems.append("acknowledged %s (result %s) is not in the log as such: %s" % (rid, result, rec))
        if bad:
            problems.append("%d of %d acknowledged events missing or different" % (bad, n))
        print("  acknowledged: %d, all in the log: %s" % (n, "yes" if not bad else "NO"))
    for p in sse:
        check_sessions("sse", read_sse(p), log, epoch, problems)
    for p in zmq:
        check_sessions("zmq", read_zmq(p), log, epoch, problems)
    for p in problems[:20]:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
