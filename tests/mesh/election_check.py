#!/usr/bin/env python3
"""election_check.py - reads every agent's LOG_FILE after an election
scenario and fails (exit 1) if

  * two nodes ever claimed the same ballot (coordinator_elected self=1;
    the ballot is (term, rank, id): term is its counter), or one node
    claimed one ballot twice (a forgotten vote or ballot), or a node
    claimed a ballot that is not its own (id != the node);
  * two coordinators coexisted in one connected component for longer than
    GRACE ms.  Connected = the network joined them at that moment (the
    scenario's timeline: kill/restart, stop/cont, cut/relink, partition/
    heal) and each one's SWIM view (its member_* log lines) held the other
    alive or suspect - i.e. they could hear each other's heartbeats.

usage: election_check.py [--grace MS] [--timeline FILE] LOG...
Timeline lines: "<wall ms> <event> <args>", events: node I ID | kill I |
restart I | stop I | cont I | cut I | relink I | partition "A..." "B..." | heal.
"""
import re, sys, datetime, shlex

TS = re.compile(r"ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z")
KV = re.compile(r'(\w+)=("[^"]*"|\S+)')

def ms(line):
    m = TS.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = map(int, m.groups())
    t = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + frac

def fmt(ballot):
    return "%d.%d.%s" % ballot

def main(argv):
    grace, timeline, logs = 900, None, []
    i = 0
    while i < len(argv):
        if argv[i] == "--grace":
            grace = int(argv[i + 1]); i += 2
        elif argv[i] == "--timeline":
            timeline = argv[i + 1]; i += 2
        else:
            logs.append(argv[i]); i += 1
    events = []     # (t, node, event, kv)
    for path in logs:
        try:
            f = open(path, errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                t = ms(line)
                if t is None:
                    continue
                kv = dict((k, v.strip('"')) for k, v in KV.findall(line))
                if "event" in kv and "node" in kv:
                    events.append((t, kv["node"], kv["event"], kv))
    events.sort(key=lambda e: e[0])
    # Timeline: index <-> id, and network state changes.
    idx, tl = {}, []
    if timeline:
        for line in open(timeline):
            p = shlex.split(line)
            if len(p) < 2:
                continue
            if p[1] == "node":
                idx[p[2]] = p[3]
            else:
                tl.append((int(p[0]), p[1], p[2:]))
    tl.sort(key=lambda e: e[0])
    fails = []
    # 1. Ballots claimed.  The counter alone may repeat across a partition
    # (both sides elect; docs/ELECTION.md), so it is only reported; two
    # coordinators of one counter in one component are caught below.
    claims, counters, shared = {}, {}, set()
    for t, node, ev, kv in events:
        if ev == "coordinator_elected" and kv.get("self") == "1":
            ballot = (int(kv["term"]), int(kv.get("rank", -1)), kv.get("id", node))
            if ballot[2] != node:
                fails.append("%s claimed ballot %s of another node" % (node, fmt(ballot)))
            if ballot in claims:
                fails.append("ballot %s claimed by %s and %s" % (fmt(ballot), claims[ballot], node))
            claims[ballot] = node
            if counters.setdefault(ballot[0], node) != node:
                shared.add(ballot[0])
    # 2. Coexistence: replay logs and timeline together.
    nodes = sorted(set(e[1] for e in events))
    view = {n: set() for n in nodes}
    coord = {n: False for n in nodes}
    down = set()                       # killed or stopped (by id)
    side = {}                          # id -> component label (cut / partition)
    merged = [(t, "log", (node, ev, kv)) for t, node, ev, kv in events] + \
             [(t, "tl", (ev, args)) for t, ev, args in tl]
    merged.sort(key=lambda e: (e[0], 0 if e[1] == "tl" else 1))
    since, worst, worst_pair = {}, 0, None
    def connected(a, b):
        return a not in down and b not in down and side.get(a, 0) == side.get(b, 0) \
            and b in view[a] and a in view[b]
    def account(now):
        nonlocal worst, worst_pair
        cs = [n for n in nodes if coord[n]]
        live = set()
        for i, a in enumerate(cs):
            for b in cs[i + 1:]:
                if connected(a, b):
                    key = (a, b)
                    live.add(key)
                    since.setdefault(key, now)
                    d = now - since[key]
                    if d > worst:
                        worst, worst_pair = d, key
        for key in list(since):
            if key not in live:
                del since[key]
    cuts = 0
    for t, kind, what in merged:
        account(t)
        if kind == "tl":
            ev, args = what
            ids = [idx.get(a, a) for a in args[:1]]
            if ev in ("kill", "stop") and ids:
                down.add(ids[0])
                if ev == "kill":
                    coord[ids[0]] = False
            elif ev in ("restart", "cont") and ids:
                down.discard(ids[0])
            elif ev == "cut" and ids:
                cuts += 1
                side[ids[0]] = 100 + cuts
            elif ev == "relink" and ids:
                side.pop(ids[0], None)
            elif ev == "partition":
                for a in args[1].split():
                    side[idx.get(a, a)] = 1
            elif ev == "heal":
                side.clear()
            continue
        node, ev, kv = what
        peer = kv.get("peer")
        if ev == "agent_started":
            view[node] = set(); coord[node] = False
        elif ev in ("member_join", "member_alive", "member_suspect") and peer:
            view[node].add(peer)
        elif ev in ("member_dead", "member_leave", "member_reap") and peer:
            view[node].discard(peer)
        elif ev == "coordinator_elected":
            coord[node] = kv.get("self") == "1"
        elif ev == "step_down":
            coord[node] = False
        elif ev == "agent_stopped":
            coord[node] = False
    if merged:
        account(merged[-1][0])
    if worst > grace:
        fails.append("coordinators %s and %s coexisted in one component for %d ms (> %d)"
                     % (worst_pair[0], worst_pair[1], worst, grace))
    steps = sum(1 for e in events if e[2] == "step_down")
    print("election_check: %d logs, ballots claimed %s, step_downs %d, longest coexistence %d ms (grace %d)"
          % (len(logs), " ".join(fmt(b) for b in sorted(claims)), steps, worst, grace))
    if shared:
        print("election_check: counters won by two nodes (different ballots, across a partition): %s"
              % sorted(shared))
    for f in fails:
        print("election_check: FAIL " + f)
    return 1 if fails else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
