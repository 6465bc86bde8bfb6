#!/usr/bin/env python3
"""Compares two records made by `tools/golden.sh record` (see there): value for value.

Safetensors files: every tensor byte for byte, metadata equal. JSON and JSON-lines files: strings,
booleans, nulls and integers equal; a real number must be the old one exactly, or, where the old
writer printed it with fewer digits, the new value printed the old writer's way must give the old
text (the old writer's format is known per file and key; see FORMATS). Time fields are skipped;
keys only in the new record are listed as additions. Other files (CSV, text): byte for byte.
Exit status 0 when everything agrees, 1 otherwise."""
import json
import os
import struct
import sys

SKIP = {"time_s", "wall_s", "gflops", "rate", "t_total"}


def old_format(fname, path):
    """The printf format the old writer used for the real at this key path."""
    key = path[-1] if path else ""
    keys = set(p for p in path if isinstance(p, str))
    if fname.startswith("stats"):
        return "%.6f"
    if key in ("dK", "dR"):
        return "%.17g"
    if keys & {"accuracy", "mean", "std"}:
        return "%.4f"
    if key == "kappa_gflop":
        return "%.1f"
    return "%.10g"


class Real:
    def __init__(self, text):
        self.text = text
        self.value = float(text)


def load_json_text(text):
    return json.loads(text, parse_float=Real, parse_int=int)


def cmp_value(fname, path, a, b, diffs, added):
    if path and path[-1] in SKIP:
        return
    if isinstance(a, dict):
        if not isinstance(b, dict):
            diffs.append((path, "object became %s" % type(b).__name__))
            return
        for k in a:
            if k in SKIP:
                continue
            if k not in b:
                diffs.append((path + [k], "missing in the new record"))
            else:
                cmp_value(fname, path + [k], a[k], b[k], diffs, added)
        for k in b:
            if k not in a and k not in SKIP:
                added.append(path + [k])
        return
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            diffs.append((path, "list length or type differs"))
            return
        for i, (x, y) in enumerate(zip(a, b)):
            cmp_value(fname, path + [i], x, y, diffs, added)
        return
    if isinstance(a, Real) or isinstance(b, Real):
        av = a.value if isinstance(a, Real) else a
        bv = b.value if isinstance(b, Real) else b
        if not isinstance(av, (int, float)) or not isinstance(bv, (int, float)):
            diffs.append((path, "%r vs %r" % (a, b)))
            return
        if float(av) == float(bv):
            return
        if isinstance(a, Real):
            fmt = old_format(fname, path)
            if fmt % float(bv) == a.text:
                return
        diffs.append((path, "%s vs %s" % (a.text if isinstance(a, Real) else a, b.text if isinstance(b, Real) else b)))
        return
    if a != b or type(a) != type(b):
        diffs.append((path, "%r vs %r" % (a, b)))


def safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        tensors[name] = (t["dtype"], tuple(t["shape"]), data[b:e])
    return tensors, meta


def compare_file(rel, a, b):
    """Returns a list of difference strings and a list of additions."""
    diffs, added = [], []
    fname = os.path.basename(rel)
    if rel.endswith(".safetensors"):
        ta, ma = safetensors(a)
        tb, mb = safetensors(b)
        for k in ta:
            if k not in tb:
                diffs.append("%s: tensor %s missing" % (rel, k))
            elif ta[k] != tb[k]:
                diffs.append("%s: tensor %s differs" % (rel, k))
        for k in tb:
            if k not in ta:
                added.append("%s: new tensor %s" % (rel, k))
        for k in ma:
            if mb.get(k) != ma[k]:
                diffs.append("%s: metadata %s: %r vs %r" % (rel, k, ma[k], mb.get(k)))
        for k in mb:
            if k not in ma:
                added.append("%s: new metadata %s" % (rel, k))
        return diffs, added
    with open(a, "rb") as f:
        ra = f.read()
    with open(b, "rb") as f:
        rb = f.read()
    if rel.endswith(".json") or rel.endswith(".jsonl"):
        la = [l for l in ra.decode().splitlines() if l.strip()]
        lb = [l for l in rb.decode().splitlines() if l.strip()]
        if rel.endswith(".json") and len(la) != 1:
            la, lb = [ra.decode()], [rb.decode()]
        if len(la) != len(lb):
            return ["%s: %d vs %d JSON lines" % (rel, len(la), len(lb))], []
        for i, (x, y) in enumerate(zip(la, lb)):
            d, ad = [], []
            cmp_value(fname, [], load_json_text(x), load_json_text(y), d, ad)
            diffs += ["%s:%d: %s: %s" % (rel, i + 1, "/".join(map(str, p)), w) for p, w in d]
            added += ["%s:%d: new key %s" % (rel, i + 1, "/".join(map(str, p))) for p in ad]
        return diffs, added
    if ra != rb:
        diffs.append("%s: bytes differ" % rel)
    return diffs, added


def main():
    old, new = sys.argv[1], sys.argv[2]
    files = []
    for root, _, names in os.walk(old):
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), old))
    files.sort()
    ndiff, nadd, nfiles = 0, 0, 0
    for rel in files:
        b = os.path.join(new, rel)
        if not os.path.exists(b):
            print("MISSING %s" % rel)
            ndiff += 1
            continue
        d, ad = compare_file(rel, os.path.join(old, rel), b)
        nfiles += 1
        for x in d:
            print("DIFF    %s" % x)
        for x in ad:
            print("added   %s" % x)
        ndiff += len(d)
        nadd += len(ad)
    print("golden: %d files compared, %d differences, %d additions" % (nfiles, ndiff, nadd))
    return 1 if ndiff else 0


if __name__ == "__main__":
    sys.exit(main())
