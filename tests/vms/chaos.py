#!/usr/bin/env python3
"""chaos.py - kill a subscriber with SIGKILL at random moments and start it
again, as a VMS that keeps crashing would, then let the last one run.

usage: chaos.py --mode sse|zmq --out FILE --kills N [--min-ms A] [--max-ms B]
                [--seed S] --done FLAGFILE [--count-file F] -- ARGS...

sse: runs tests/vms/sse_client.py ARGS --out FILE (it resumes by itself
     from FILE's last line, with Last-Event-ID); the kill's clock starts
     once the client has its stream open (a Python start takes 100 ms or
     more on a loaded box: a kill before that would test nothing).
zmq: runs ARGS (a `meshwatch events --connect ... --api ... --json` command
     line) with `--since CURSOR` appended, stdout appended to FILE, where
     CURSOR is the id of the last whole event line in FILE ("0" at first);
     before each start a line {"resume": CURSOR, "session": K} marks where
     the new session begins.
Each instance lives a random time in [A, B] ms (default 40..300) before
SIGKILL, N times; then one more runs until FLAGFILE exists, and is stopped
with SIGTERM.  Prints how many kills it made and the sessions' lengths.
"""
import json, os, random, signal, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def last_cursor(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return "0"
    for line in reversed(lines[:-1]):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if "seq" in d and "epoch" in d:
            return "%d-%d" % (d["epoch"], d["seq"])
        if "resume" in d:
            return d["resume"]
    return "0"


def ends_with_newline(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return True
            f.seek(-1, 2)
            return f.read(1) == b"\n"
    except FileNotFoundError:
        return True


def start(mode, out, args, session):
    if mode == "sse":
        ready = out + ".ready"
        try:
            os.unlink(ready)
        except FileNotFoundError:
            pass
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "sse_client.py")] + args +
                             ["--out", out, "--ready", ready], stdin=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while not os.path.exists(ready) and p.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        return p
    cursor = last_cursor(out)
    with open(out, "a") as f:
        if not ends_with_newline(out):
            f.write("\n")   # a line cut by the kill: left as garbage
        f.write(json.dumps({"resume": cursor, "session": session}) + "\n")
    fo = open(out, "a")
    p = subprocess.Popen(args + ["--since", cursor], stdout=fo, stdin=subprocess.DEVNULL)
    fo.close()
    return p


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr); return 2
    k = argv.index("--")
    opts, args = argv[:k], argv[k + 1:]
    mode = out = done = None
    kills, lo, hi, seed = 100, 40, 300, 1
    i = 0
    while i < len(opts):
        a, v = opts[i], opts[i + 1] if i + 1 < len(opts) else None
        if a == "--mode": mode = v
        elif a == "--out": out = v
        elif a == "--kills": kills = int(v)
        elif a == "--min-ms": lo = int(v)
        elif a == "--max-ms": hi = int(v)
        elif a == "--seed": seed = int(v)
        elif a == "--done": done = v
        else:
            print(__doc__, file=sys.stderr); return 2
        i += 2
    if mode not in ("sse", "zmq") or not out or not done:
        print(__doc__, file=sys.stderr); return 2
    rnd = random.Random(seed)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    made = 0
    p = None
    for session in range(kills):
        if stop:
            break
        p = start(mode, out, args, session)
        time.sleep(rnd.uniform(lo, hi) / 1000.0)
        p.kill()
        p.wait()
        made += 1
        p = None
    if not stop:
        p = start(mode, out, args, kills)
        while not stop and not os.path.exists(done):
            if p.poll() is not None:   # it ended by itself (e.g. 410): report and stop
                print("chaos: the subscriber exited with %d" % p.returncode, file=sys.stderr)
                return 1
            time.sleep(0.05)
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    print("chaos %s: %d kills" % (mode, made))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
