#!/usr/bin/python3
"""focus_check.py - the verdict of a focus fan-out run (tests/camera/focus_ns.sh,
tests/bench/cameras.sh) from the boxes' recorded event streams.

usage: focus_check.py --cameras CAMERAS.json --trials TRIALS.jsonl [--ttl-ms T]
                      [--max-p99-ms M] EVENTS.jsonl...

CAMERAS.json: [{"id", "lat", "lon", "heading_deg"?, "fov_deg"?}, ...]
TRIALS.jsonl: one {"focus": ID, "camera": ORIGIN_CAMERA, "radius_m": R} a line
EVENTS.jsonl: events_sub.py records (json.focus.* topics are read)

For every trial: the cameras that must join are computed here, independently
of the agents (haversine distance within the radius and, where heading and
fov are known, the bearing within fov/2 of the heading); every one of them
must have exactly one focus.started and one focus.ended for the focus on its
box, no other camera may have any, and each ended must come about the ttl
after its started.  The fan-out latency is each started's ts_ms minus the
origin's focus.requested ts_ms (the boxes share one clock in the test bed).
Prints the latency table; exit 0 when every check passed and p99 <= the max.
"""
import json
import math
import sys

R = 6371008.8


def dist(a, b):
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def bearing(a, b):
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dl = math.radians(b[1] - a[1])
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def covers(cam, point, radius):
    d = dist((cam["lat"], cam["lon"]), point)
    if d > radius:
        return False
    if d < 1 or cam.get("heading_deg") is None or cam.get("fov_deg") is None or cam["fov_deg"] >= 360:
        return True
    diff = abs((bearing((cam["lat"], cam["lon"]), point) - cam["heading_deg"] + 540) % 360 - 180)
    return diff <= cam["fov_deg"] / 2


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(math.ceil(p / 100.0 * len(xs))) - 1))
    return xs[k]


def main(argv):
    cams_path, trials_path, ttl, max_p99, files = None, None, None, None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--cameras", "--trials", "--ttl-ms", "--max-p99-ms"):
            v = argv[i + 1]
            i += 2
            if a == "--cameras":
                cams_path = v
            elif a == "--trials":
                trials_path = v
            elif a == "--ttl-ms":
                ttl = int(v)
            else:
                max_p99 = float(v)
        else:
            files.append(a)
            i += 1
    if not cams_path or not trials_path or not files:
        print(__doc__)
        return 2
    cams = {c["id"]: c for c in json.load(open(cams_path))}
    trials = [json.loads(l) for l in open(trials_path) if l.strip()]
    ev = []
    for path in files:
        for line in open(path, errors="replace"):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if not r.get("topic", "").startswith("json.focus."):
                continue
            e = json.loads(bytes.fromhex(r["body"]).decode("utf-8"))
            e["topic"] = r["topic"][5:]
            ev.append(e)
    problems, lat = [], []
    for t in trials:
        fid = t["focus"]
        origin = cams[t["camera"]]
        point = (origin["lat"], origin["lon"])
        want = sorted(c for c in cams if covers(cams[c], point, t["radius_m"]))
        mine = [e for e in ev if e["focus"] == fid]
        req = [e for e in mine if e["topic"] == "focus.requested"]
        started = [e for e in mine if e["topic"] == "focus.started"]
        ended = [e for e in mine if e["topic"] == "focus.ended"]
        if len(req) != 1:
            problems.append("focus %s: %d focus.requested" % (fid[:8], len(req)))
            continue
        got = sorted(e["camera"] for e in started)
        if got != want:
            problems.append("focus %s at %s: started %s, want %s" % (fid[:8], t["camera"], got, want))
        if sorted(e["camera"] for e in ended) != want:
            problems.append("focus %s: ended %s, want %s" % (fid[:8], sorted(e["camera"] for e in ended), want))
        for s in started:
            lat.append(s["ts_ms"] - req[0]["ts_ms"])
            e = [x for x in ended if x["camera"] == s["camera"]]
            if ttl and e:
                held = e[0]["ts_ms"] - s["ts_ms"]
                if held < ttl * 0.5 or held > ttl + 1500:
                    problems.append("focus %s: %s in focus %d ms (ttl %d)" % (fid[:8], s["camera"], held, ttl))
    n = len(lat)
    print("focus fan-out: %d trials, %d camera starts" % (len(trials), n))
    if n:
        print("| samples | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|")
        print("| %d | %d | %d | %d | %d |" % (n, pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat)))
    for p in problems[:20]:
        print("PROBLEM " + p)
    if problems or not n or (max_p99 is not None and pct(lat, 99) > max_p99):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
