#!/usr/bin/env python3
"""job_check.py - reads every agent's LOG_FILE after a jobs scenario and
fails (exit 1) if a job broke the invariants of docs/JOBS.md section 3:

  * exactly once: every job id seen in an origin-side event (handed_off,
    fallback_vms, redispatched, escalated, done, failed) ends in exactly
    one job_done or one job_failed, on one node (its origin);
  * a job_failed carries a non-empty reason;
  * escalation is linked: a job_done with escalated=1 is followed, on the
    same node, by exactly one job_precise or job_escalation_failed with
    the same job id (and neither appears for a job not escalated);
  * --ids FILE: every job id listed (one per line, e.g. what `submit`
    printed) ended exactly once too (a job lost without any event);
  * --expect EXPR (repeatable): a bound on the summary counters, e.g.
    'peer>0', 'server==0', 'failed==0', 'ended>=30', 'redispatched>0'.
    Counters: ended done failed local peer server late in_deadline escalated precise
    escalation_failed handed_off fallback_vms redispatched.

It prints a summary: jobs by path, failures by reason, latency p50/p99
(nearest rank) of done jobs overall and by path, and for peer/server jobs
the latency the hand-off added: the time before the frame left (from the
handed_off / fallback_vms line; placement, offer round trips, queueing at
the origin) + transfer_ms (time away - runner queue - inference), i.e.
total_ms - infer_ms - the runner's queue.  --json FILE writes the same as one JSON object.

usage: job_check.py [--ids FILE] [--expect EXPR]... [--json FILE] LOG...
"""
import datetime, json, re, sys

KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
TS = re.compile(r"ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z")


def ts_ms(line):
    m = TS.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = map(int, m.groups())
    t = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + frac
ENDS = ("job_done", "job_failed")
ORIGIN_EVENTS = ("job_handed_off", "job_fallback_vms", "job_redispatched", "job_escalated",
                 "job_done", "job_failed", "job_precise", "job_escalation_failed")


def pct(vals, p):
    """nearest rank"""
    if not vals:
        return None
    v = sorted(vals)
    k = max(1, int(-(-p * len(v) // 100)))   # ceil(p/100 * n)
    return v[min(k, len(v)) - 1]


def fnum(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def main(argv):
    ids_file, expects, json_out, logs = None, [], None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--ids":
            ids_file = argv[i + 1]; i += 2
        elif a == "--expect":
            expects.append(argv[i + 1]); i += 2
        elif a == "--json":
            json_out = argv[i + 1]; i += 2
        elif a in ("-h", "--help"):
            print(__doc__); return 0
        else:
            logs.append(a); i += 1
    # job id -> list of (node, event, kv), in log order per node
    jobs = {}
    counts = {e: 0 for e in ("handed_off", "fallback_vms", "redispatched", "escalated", "precise",
                             "escalation_failed")}
    redispatch_reasons = {}
    for path in logs:
        try:
            f = open(path, errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                if "event=job_" not in line:
                    continue
                kv = dict((k, v.strip('"')) for k, v in KV.findall(line))
                ev = kv.get("event", "")
                if ev not in ORIGIN_EVENTS or "job" not in kv:
                    continue
                kv["_log"] = path
                kv["_ts"] = ts_ms(line)
                jobs.setdefault(kv["job"], []).append((kv.get("node", path), ev, kv))
                name = ev[4:]
                if name in counts:
                    counts[name] += 1
                if ev == "job_redispatched":
                    r = kv.get("reason", "") or "(empty)"
                    redispatch_reasons[r] = redispatch_reasons.get(r, 0) + 1
    fails = []
    s = {"ended": 0, "done": 0, "failed": 0, "local": 0, "peer": 0, "server": 0, "none": 0, "late": 0,
         "in_deadline": 0}
    s.update(counts)
    reasons = {}
    lat = {"all": [], "local": [], "peer": [], "server": []}
    overhead, transfer, presend = [], [], []
    per_origin = {}
    for jid, evs in jobs.items():
        ends = [e for e in evs if e[1] in ENDS]
        if len(ends) != 1:
            what = ",".join("%s@%s" % (e[1], e[0][:8]) for e in ends) or "none"
            fails.append("job %s ended %d times (%s)" % (jid, len(ends), what))
        for node, ev, kv in ends:
            s["ended"] += 1
            o = per_origin.setdefault(node, {"done": 0, "failed": 0, "local": 0, "peer": 0, "server": 0})
            if kv.get("late") == "1":
                s["late"] += 1
            if ev == "job_failed":
                s["failed"] += 1
                o["failed"] += 1
                r = kv.get("reason", "")
                if not r.strip():
                    fails.append("job %s failed with an empty reason" % jid)
                # group "timeout: ..." / "no_capacity: ..." by their first words
                key = re.sub(r"tcp://\S+", "ADDR", r)
                reasons[key] = reasons.get(key, 0) + 1
            else:
                s["done"] += 1
                o["done"] += 1
                if kv.get("late") != "1":
                    s["in_deadline"] += 1
                p = kv.get("path", "none")
                s[p] = s.get(p, 0) + 1
                if p in o:
                    o[p] += 1
                t = fnum(kv.get("total_ms"))
                lat["all"].append(t)
                if p in lat:
                    lat[p].append(t)
                if p in ("peer", "server"):
                    # Added by the hand-off: the time before the frame left
                    # (placement, offers and their replies; from the last
                    # handed_off/fallback_vms line, the submit time being
                    # the done's ts - total_ms) + transfer_ms (time away -
                    # runner queue - inference).  The event's queue_ms
                    # holds both queues, so it cannot be used for this.
                    sent = [e for e in evs if e[0] == node and e[1] in ("job_handed_off", "job_fallback_vms")]
                    tr = fnum(kv.get("transfer_ms"))
                    transfer.append(tr)
                    if sent and sent[-1][2].get("_ts") is not None and kv.get("_ts") is not None:
                        pre = max(0.0, sent[-1][2]["_ts"] - (kv["_ts"] - t))
                        presend.append(pre)
                        overhead.append(pre + tr)
        # escalation linkage, on the origin (the node that logged the end)
        if len(ends) == 1:
            node, ev, kv = ends[0]
            follow = [e for e in evs if e[0] == node and e[1] in ("job_precise", "job_escalation_failed")]
            if ev == "job_done" and kv.get("escalated") == "1":
                if len(follow) != 1:
                    fails.append("job %s: done escalated=1 but %d precise/escalation_failed" % (jid, len(follow)))
                elif follow[0][1] == "job_escalation_failed" and not follow[0][2].get("reason", "").strip():
                    fails.append("job %s: escalation_failed without a reason" % jid)
            elif follow:
                fails.append("job %s: %s without an escalated done" % (jid, follow[0][1]))
        # an end must not come before an origin event of the same node (ordering)
    if ids_file:
        try:
            want = [w.strip() for w in open(ids_file) if re.fullmatch(r"[0-9a-f]{32}", w.strip())]
        except OSError:
            want = []
            fails.append("cannot read %s" % ids_file)
        missing = [w for w in want if w not in jobs or not any(e[1] in ENDS for e in jobs[w])]
        for w in missing[:10]:
            fails.append("submitted job %s has no job_done/job_failed in any log" % w)
        if len(missing) > 10:
            fails.append("... and %d more submitted jobs without an end" % (len(missing) - 10))
        s["submitted_ids"] = len(want)
    summary = dict(s)
    summary["fail_reasons"] = reasons
    summary["redispatch_reasons"] = redispatch_reasons
    summary["per_origin"] = per_origin
    summary["latency_ms"] = {k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99)} for k, v in lat.items()}
    summary["handoff_overhead_ms"] = {"n": len(overhead), "p50": pct(overhead, 50), "p99": pct(overhead, 99)}
    summary["transfer_ms"] = {"n": len(transfer), "p50": pct(transfer, 50), "p99": pct(transfer, 99)}
    summary["presend_ms"] = {"n": len(presend), "p50": pct(presend, 50), "p99": pct(presend, 99)}
    # expectations
    for e in expects:
        m = re.fullmatch(r"\s*(\w+)\s*(==|!=|>=|<=|>|<)\s*(\d+)\s*", e)
        if not m:
            fails.append("bad --expect '%s'" % e)
            continue
        k, op, n = m.group(1), m.group(2), int(m.group(3))
        v = summary.get(k, 0) if isinstance(summary.get(k, 0), int) else 0
        ok = {"==": v == n, "!=": v != n, ">=": v >= n, "<=": v <= n, ">": v > n, "<": v < n}[op]
        if not ok:
            fails.append("expected %s, got %s=%d" % (e.strip(), k, v))
    # report
    def ms(x):
        return "-" if x is None else "%.0f" % x
    print("jobs: %d ended (%d done: local %d, peer %d, server %d; %d failed; %d late)" %
          (s["ended"], s["done"], s["local"], s["peer"], s["server"], s["failed"], s["late"]))
    print("events: " + " ".join("%s=%d" % (k, v) for k, v in counts.items()))
    for node, o in sorted(per_origin.items()):
        print("  origin %s: done %d (local %d, peer %d, server %d) failed %d" %
              (node[:12], o["done"], o["local"], o["peer"], o["server"], o["failed"]))
    for r, n in sorted(reasons.items(), key=lambda x: -x[1]):
        print("  failed x%d: %s" % (n, r))
    for r, n in sorted(redispatch_reasons.items(), key=lambda x: -x[1]):
        print("  redispatched x%d: %s" % (n, r))
    for k in ("all", "local", "peer", "server"):
        v = summary["latency_ms"][k]
        if v["n"]:
            print("  latency %-6s n=%-4d p50 %s ms  p99 %s ms" % (k, v["n"], ms(v["p50"]), ms(v["p99"])))
    if overhead:
        print("  added hand-off latency (before sending + transfer) p50 %s ms p99 %s ms; before sending p50 %s p99 %s;"
              " transfer_ms p50 %s p99 %s" % (ms(pct(overhead, 50)), ms(pct(overhead, 99)), ms(pct(presend, 50)),
                                              ms(pct(presend, 99)), ms(pct(transfer, 50)), ms(pct(transfer, 99))))
    if json_out:
        summary["problems"] = fails
        with open(json_out, "w") as fh:
            json.dump(summary, fh)
    if fails:
        for f in fails[:40]:
            print("FAIL  " + f)
        if len(fails) > 40:
            print("FAIL  ... %d more" % (len(fails) - 40))
        return 1
    print("PASS  every job ended exactly once%s" % (", failures with a reason" if s["failed"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
