#!/usr/bin/env python3
"""config-typed-callsites.py - move config call sites to the typed settings.

Rewrites, in every tracked .c/.h file outside config/ (or the files given):

    mw_config_str    (CFG, "KEY")      ->  mw_config_settings (CFG)->key
    mw_config_int    (CFG, "KEY")      ->  mw_config_settings (CFG)->key
    mw_config_double (CFG, "KEY")      ->  mw_config_settings (CFG)->key
    mw_config_is_set (CFG, "KEY")      ->  mw_config_settings (CFG)->set.key
    mw_config_list   (CFG, "KEY", ...) ->  mw_config_split (CFG, mw_config_settings (CFG)->key, ...)
    mw_config_int    (CFG, COND ? "A" : "B")
                     ->  (COND ? mw_config_settings (CFG)->a : mw_config_settings (CFG)->b)

and a macro whose parameter is used as the key, e.g. node/agent.c's

    #define MW_CFG_U32(KEY, field) if (mw_config_is_set (cfg, KEY)) ... mw_config_int (cfg, KEY)
    MW_CFG_U32 ("PROBE_INTERVAL_MS", probe_interval_ms)

becomes `mw_config_settings (cfg)->set.KEY` / `->KEY` in the body and
`MW_CFG_U32 (probe_interval_ms, ...)` at the uses.  The field of a key is
its name in lower case (config/keys.def; the config selftest checks it).

Purely textual and idempotent: run it again after a merge.  Then it runs
clang-format -i on the files it changed and lists any string-keyed call it
could not convert (exit 1), so nothing is left behind silently; the compiler
catches a key that does not exist (no such field in mw_settings_t).

    scripts/config-typed-callsites.py [--check] [FILE...]
      --check   change nothing; exit 1 if a file would change
"""
import os
import re
import shutil
import subprocess
import sys

GETTERS = r"mw_config_(?:str|int|double)"
CFG = r"([A-Za-z_][\w>.\-]*)"  # cfg, self->cfg, opts->cfg
KEY = r'"([A-Z][A-Z0-9_]*)"'


def field(key):
    return key.lower()


def convert(text):
    # Macros that take the key as a parameter: rewrite their bodies, then
    # their invocations.
    macro_names = []

    def fix_macro(m):
        name, params, body = m.group(1), m.group(2), m.group(3)
        new = body
        for i, par in enumerate(x.strip() for x in params.split(",")):
            if not re.fullmatch(r"\w+", par):
                continue
            before = new
            new = re.sub(r"mw_config_is_set \(" + CFG + r", " + par + r"\)",
                         lambda mm: "mw_config_settings (%s)->set.%s" % (mm.group(1), par), new)
            new = re.sub(GETTERS + r" \(" + CFG + r", " + par + r"\)",
                         lambda mm: "mw_config_settings (%s)->%s" % (mm.group(1), par), new)
            if new != before:
                macro_names.append((name, i))
        return "#define %s(%s)%s" % (name, params, new)

    text = re.sub(r"#define (\w+)\(([^)]*)\)((?:[^\n]*\\\n)*[^\n]*)", fix_macro, text)
    for name, idx in macro_names:
        def fix_use(m):
            args = m.group(2)
            parts = args.split(",")
            k = parts[idx].strip()
            if re.fullmatch(KEY, k):
                parts[idx] = (" " if idx else "") + field(k.strip('"'))
            return "%s (%s)" % (m.group(1), ",".join(parts))
        text = re.sub(r"\b(%s) \(([^()\n]*)\)" % re.escape(name), fix_use, text)

    text = re.sub(r"mw_config_is_set \(" + CFG + r", " + KEY + r"\)",
                  lambda m: "mw_config_settings (%s)->set.%s" % (m.group(1), field(m.group(2))), text)
    text = re.sub(GETTERS + r" \(" + CFG + r", " + KEY + r"\)",
                  lambda m: "mw_config_settings (%s)->%s" % (m.group(1), field(m.group(2))), text)
    text = re.sub(GETTERS + r" \(" + CFG + r", ([^?()\n]+?) \? " + KEY + r" : " + KEY + r"\)",
                  lambda m: "(%s ? mw_config_settings (%s)->%s : mw_config_settings (%s)->%s)"
                  % (m.group(2), m.group(1), field(m.group(3)), m.group(1), field(m.group(4))), text)
    text = re.sub(r"mw_config_list \(" + CFG + r", " + KEY + r",",
                  lambda m: "mw_config_split (%s, mw_config_settings (%s)->%s,"
                  % (m.group(1), m.group(1), field(m.group(2))), text)
    return text


LEFT = re.compile(r"mw_config_(?:str|int|double|is_set|list) \(")


def main():
    args = sys.argv[1:]
    check = "--check" in args
    files = [a for a in args if a != "--check"]
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip()
    if root:
        os.chdir(root)
    if not files:
        out = subprocess.run(["git", "ls-files", "*.c", "*.h"], capture_output=True, text=True, check=True).stdout
        files = [f for f in out.split() if not f.startswith("config/")]
    changed, left = [], []
    for f in files:
        with open(f) as fh:
            old = fh.read()
        new = convert(old)
        if new != old:
            changed.append(f)
            if not check:
                with open(f, "w") as fh:
                    fh.write(new)
        for n, line in enumerate(new.splitlines(), 1):
            if LEFT.search(line) and not f.startswith("config/"):
                left.append("%s:%d: %s" % (f, n, line.strip()))
    if changed and not check and shutil.which("clang-format"):
        subprocess.run(["clang-format", "-i"] + changed, check=True)
    for f in changed:
        print(("would change " if check else "converted ") + f)
    for line in left:
        print("not converted (do it by hand): " + line)
    return 1 if left or (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
