#!/usr/bin/env python3
"""check_outbox.py - what a receiver got against what the box's log holds.

usage: check_outbox.py --api URL --token-file F --after SEQ --kind webhook|env
                       --filter TOPICS --received FILE [--min N] [--nid NID]

The events the sink must deliver: the log's events after SEQ whose topic
the filter takes (env: env.report).  The receiver's records (receiver.py)
with status 200, de-duplicated by webhook-id, must be exactly those, in log
order, each with the id BOX-EPOCH-SEQ of its event; every signature must
have verified (webhook); the body must be the event (webhook: {type,
timestamp, data}; env: the seed's {nid, date, time, result}).  Requests
answered 500 must have been sent again (the same id later with 200).
Exit 0 good, 1 problems.
"""
import http.client, json, sys, urllib.parse


def fetch_log(api, token, after):
    u = urllib.parse.urlparse(api)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    events, cur = [], str(after)
    while True:
        c.request("GET", "/api/v1/events?limit=1000&after=" + cur, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        doc = json.loads(r.read())
        if r.status != 200:
            raise SystemExit("FAIL: events: %d %s" % (r.status, doc))
        events += doc["events"]
        cur = doc["next"]
        if not doc["more"] or not doc["events"]:
            return doc["node"], doc["epoch"], events


def match(filt, topic):
    for p in filt.split(","):
        p = p.strip()
        if p == "*" or p == topic or (p.endswith(".*") and topic.startswith(p[:-1])):
            return True
    return False


def main(argv):
    o = {"--min": "1", "--nid": None, "--filter": "*"}
    for i in range(0, len(argv), 2):
        o[argv[i]] = argv[i + 1]
    token = open(o["--token-file"]).read().strip()
    node, epoch, events = fetch_log(o["--api"], token, int(o["--after"]))
    kind = o["--kind"]
    want = [e for e in events if (e["topic"] == "env.report" if kind == "env" else match(o["--filter"], e["topic"]))]
    recs = [json.loads(l) for l in open(o["--received"])]
    problems = []
    ok_ids, seen, order = {}, set(), []
    failed_ids = set()
    for r in recs:
        if r["status"] == 500:
            failed_ids.add(r["id"])
        if r["status"] != 200:
            continue
        if r["id"] in seen:
            continue   # a re-delivery: de-duplicated by id
        seen.add(r["id"])
        order.append(r["id"])
        ok_ids[r["id"]] = r
    expect = ["%s-%d-%d" % (node, epoch, e["data"]["seq"]) for e in want]
    if order != expect:
        missing = [x for x in expect if x not in seen]
        extra = [x for x in order if x not in set(expect)]
        problems.append("%s: delivered %d, expected %d (missing %s, unexpected %s, in order: %s)" %
                        (kind, len(order), len(expect), missing[:3], extra[:3], order == sorted(order, key=expect.index)
                         if not extra else "-"))
    for e, mid in zip(want, expect):
        r = ok_ids.get(mid)
        if not r:
            continue
        body = json.loads(r["body"])
        if kind == "env":
            d = e["data"]
            if body != {"nid": d["nid"], "date": d["date"], "time": d["time"], "result": d["result"]}:
                problems.append("env body %s for %s" % (body, d))
            if o["--nid"] and body.get("nid") != o["--nid"]:
                problems.append("env nid %s, want %s" % (body.get("nid"), o["--nid"]))
        else:
            if body.get("type") != e["topic"] or body.get("data") != e["data"]:
                problems.append("webhook body for %s: %s" % (mid, r["body"][:200]))
            if r["sig_ok"] is not True:
                problems.append("webhook %s: signature did not verify" % mid)
    if any(r["sig_ok"] is False for r in recs):
        problems.append("%s: some signature did not verify" % kind)
    unretried = [x for x in failed_ids if x not in seen]
    if unretried:
        problems.append("%s: answered 500 and never delivered: %s" % (kind, unretried[:3]))
    if len(expect) < int(o["--min"]):
        problems.append("%s: only %d events to deliver (want at least %s)" % (kind, len(expect), o["--min"]))
    dups = sum(1 for r in recs if r["status"] == 200) - len(seen)
    print("  %-7s %3d to deliver, %3d delivered in order, %d requests (%d answered 500, %d re-deliveries of a 200)" %
          (kind, len(expect), len(order), len(recs), sum(1 for r in recs if r["status"] == 500), dups))
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
