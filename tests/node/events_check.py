#!/usr/bin/env python3
"""events_check.py - check recorded events (events_sub.py) against
docs/EVENTS.md, the machine-readable definition of the stream.

usage: events_check.py --doc docs/EVENTS.md [--require TOPIC]... RECORDS

For every recorded message:
  * its topic is documented (`member.join`, or `json.member.join`);
  * the message has exactly two frames;
  * JSON frames: one object, valid UTF-8, keys exactly the documented
    fields in the documented order (the common ones first), each of the
    documented type (string, integer, number, boolean, array, object; "|null"
    also allows null), and
    "event" is the topic's last part;
  * msgpack frames: one map with the same keys, order and types (a number
    is a float64, an integer an int, null is nil);
  * every msgpack event has a JSON twin (a json.<same topic> with
    equal content: one field list, two serialisations).
--require: the topic must have been seen (both frames).  Prints a count
per topic.  Exit 0 all good, 1 a problem (listed), 2 usage.
"""
import json, struct, sys


def parse_doc(path):
    """topic -> [(name, type)], the common fields under '*'."""
    sections, cur = {}, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("Topics:"):
            topics = [t for i, t in enumerate(line.split("`")) if i % 2 == 1]
            cur = []
            for t in topics:
                sections[t] = cur
        elif cur is not None and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            name = cells[0].strip("`")
            typ = cells[1].replace("\\", "")
            cur.append((name, typ))
    common = sections.pop("*", [])
    return common, sections


class Reader:
    """Just enough msgpack for the event maps (str, int, float, bool, nil, map, array)."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("truncated")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def obj(self):
        c = self.take(1)[0]
        if c <= 0x7f:
            return c
        if c >= 0xe0:
            return c - 0x100
        if 0x80 <= c <= 0x8f:
            return self.map(c & 0x0f)
        if 0xa0 <= c <= 0xbf:
            return self.str(c & 0x1f)
        if 0x90 <= c <= 0x9f:
            return [self.obj() for _ in range(c & 0x0f)]
        if c in (0xdc, 0xdd):
            n = struct.unpack(">H" if c == 0xdc else ">I", self.take(2 if c == 0xdc else 4))[0]
            return [self.obj() for _ in range(n)]
        fixed = {0xc0: None, 0xc2: False, 0xc3: True}
        if c in fixed:
            return fixed[c]
        if c == 0xcb:
            return struct.unpack(">d", self.take(8))[0]
        if c == 0xca:
            return struct.unpack(">f", self.take(4))[0]
        ints = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
        if c in ints:
            fmt = ints[c]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if c in (0xd9, 0xda, 0xdb):
            n = struct.unpack({0xd9: ">B", 0xda: ">H", 0xdb: ">I"}[c], self.take({0xd9: 1, 0xda: 2, 0xdb: 4}[c]))[0]
            return self.str(n)
        if c in (0xde, 0xdf):
            n = struct.unpack(">H" if c == 0xde else ">I", self.take(2 if c == 0xde else 4))[0]
            return self.map(n)
        raise ValueError("msgpack type 0x%02x not expected in an event" % c)

    def str(self, n):
        return _Str(self.take(n).decode("utf-8"))

    def map(self, n):
        pairs = []
        for _ in range(n):
            k = self.obj()
            pairs.append((k, self.obj()))
        return _Map(pairs)


class _Str(str):
    pass


class _Map(list):
    pass


def type_ok(typ, v, mp):
    if typ.endswith("|null"):
        return v is None or type_ok(typ[:-5], v, mp)
    if typ == "array":
        return isinstance(v, list) and not isinstance(v, _Map)
    if typ == "object":
        return isinstance(v, _Map) or (not mp and isinstance(v, list) and all(
            isinstance(p, tuple) and len(p) == 2 for p in v))
    if typ == "string":
        return isinstance(v, str)
    if typ == "string|null":
        return v is None or isinstance(v, str)
    if typ == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if typ == "number":
        # msgpack: a float64 always; JSON: any number literal
        return isinstance(v, float) if mp else isinstance(v, (int, float)) and not isinstance(v, bool)
    if typ == "boolean":
        return isinstance(v, bool)
    return False


def check_fields(topic, pairs, spec, mp, problems):
    what = "msgpack" if mp else "json"
    keys = [k for k, _ in pairs]
    want = [n for n, _ in spec]
    if keys != want:
        problems.append("%s %s: keys %s, documented %s" % (what, topic, keys, want))
        return
    for (k, v), (_, typ) in zip(pairs, spec):
        if not type_ok(typ, v, mp):
            problems.append("%s %s: %s=%r is not %s" % (what, topic, k, v, typ))
    ev = dict(pairs).get("event")
    if ev != topic.split(".", 1)[1]:
        problems.append("%s %s: event=%r" % (what, topic, ev))


def main(argv):
    doc, required, files = None, [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--doc":
            doc = argv[i + 1]; i += 2
        elif argv[i] == "--require":
            required.append(argv[i + 1]); i += 2
        elif argv[i].startswith("-"):
            print(__doc__); return 2
        else:
            files.append(argv[i]); i += 1
    if not doc or not files:
        print(__doc__); return 2
    common, sections = parse_doc(doc)
    if not common or not sections:
        print("FAIL: no tables in %s" % doc); return 1
    problems, counts = [], {}
    pending = {}   # topic -> msgpack contents waiting for their JSON twin
    for path in files:
        for line in open(path, encoding="utf-8"):
            rec = json.loads(line)
            t = rec["topic"]
            mp = not t.startswith("json.")
            topic = t if mp else t[5:]
            if topic not in sections:
                problems.append("undocumented topic %s" % t)
                continue
            if rec["frames"] != 2:
                problems.append("%s: %d frames" % (t, rec["frames"]))
                continue
            body = bytes.fromhex(rec["body"])
            spec = common + sections[topic]
            try:
                if mp:
                    r = Reader(body)
                    m = r.obj()
                    if not isinstance(m, _Map) or r.i != len(body):
                        raise ValueError("not one map")
                    pairs = list(m)
                else:
                    pairs = json.loads(body.decode("utf-8"), object_pairs_hook=lambda p: p)
                    if not isinstance(pairs, list):
                        raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError) as e:
                problems.append("%s: undecodable: %s" % (t, e))
                continue
            check_fields(topic, pairs, spec, mp, problems)
            key = "msgpack" if mp else "json"
            counts.setdefault(topic, {"msgpack": 0, "json": 0})[key] += 1
            if mp:
                pending.setdefault(topic, []).append(pairs)
            else:
                # One subscriber reads several boxes' streams: their
                # messages interleave, so box B's msgpack frame can come
                # between box A's two.  The twin is the waiting msgpack event
                # equal to this one (same node, epoch, seq: equal throughout).
                waiting = pending.get(topic, [])
                if pairs in waiting:
                    waiting.remove(pairs)
                elif waiting:
                    problems.append("%s: the JSON frame has no equal msgpack twin:\n  %s\n  waiting: %s" %
                                    (topic, pairs, waiting))
                #  (Nothing waiting: the recorder joined between the two.)
    for topic, waiting in pending.items():
        # The last msgpack frame of each box may have been recorded without
        # its twin when the recorder stopped between the two.
        per_node = {}
        for w in waiting:
            node = dict(w).get("node")
            per_node[node] = per_node.get(node, 0) + 1
        for node, n in per_node.items():
            if n > 1:
                problems.append("%s: %d msgpack events of node %s without a JSON twin" % (topic, n, node))
    for t in required:
        c = counts.get(t, {})
        if not c.get("json") or not c.get("msgpack"):
            problems.append("required topic %s not seen (%s)" % (t, c or "never"))
    for t in sorted(counts):
        print("  %-24s json %4d  msgpack %4d" % (t, counts[t]["json"], counts[t]["msgpack"]))
    for p in problems[:30]:
        print("FAIL: " + p)
    if len(problems) > 30:
        print("FAIL: ... %d more" % (len(problems) - 30))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
