#!/usr/bin/python3
"""verify_torch.py - independent PyTorch check of `clnas score --dump DIR`.

Rebuilds TE-NAS's two NAS-Bench-201 proxies in PyTorch (float64) from the arch string and
the definitions in shared/docs/TENAS.md (sections 1-3) - or, for a dump of the DARTS space
(metadata space = darts, arch = the supernet state's alpha JSON), TE-NAS's DARTS proxies (§4), loads the dumped float32 weights and
inputs, recomputes per repeat
  - the NTK: train-mode forward of the B images, B per-sample gradients of the logit sums
    w.r.t. every parameter named *.weight through the whole-batch graph, Theta = G G^T,
    eigenvalues (torch.linalg.eigvalsh), kappa = lambda_max / lambda_min;
  - the linear regions: train-mode forward of the patches in batches of lr_batch, forward
    hooks on every ReLU (outputs > 0, flattened per sample, in call order), R = number of
    distinct code rows;
and compares them with clnas's numbers. Exit status 0 iff every kappa agrees within --tol
(relative) and every R is equal.

The safetensors format is parsed here directly (8-byte little-endian header length, JSON
header, raw little-endian data); no safetensors package is needed.

  verify_torch.py DIR [--tol 1e-3] [--quiet]
  verify_torch.py --read-safetensors FILE     (list tensors and metadata; no torch needed)
"""
import argparse
import json
import math
import os
import struct
import sys

DTYPES = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "I64": ("q", 8), "I32": ("i", 4),
          "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1)}

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # arch-string order


class FormatError(Exception):
    pass


# ----------------------------------------------------------------------------- safetensors
def read_safetensors(path):
    """Returns (tensors, metadata, order): tensors maps name -> (dtype, shape, bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError("%s: truncated (%d bytes)" % (path, len(raw)))
    (hlen,) = struct.unpack("<Q", raw[:8])
    if hlen > len(raw) - 8:
        raise FormatError("%s: header length %d exceeds the file" % (path, hlen))
    try:
        header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("%s: bad JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise FormatError("%s: header is not a JSON object" % path)
    data = raw[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise FormatError("%s: __metadata__ must map strings to strings" % path)
    tensors, order = {}, []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise FormatError("%s: entry %r is not an object" % (path, name))
        dt, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dt not in DTYPES:
            raise FormatError("%s: tensor %r: unsupported dtype %r" % (path, name, dt))
        if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                or not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) for o in offs)):
            raise FormatError("%s: tensor %r: bad shape or data_offsets" % (path, name))
        b, e = offs
        if not 0 <= b <= e <= len(data):
            raise FormatError("%s: tensor %r: data_offsets %r outside the %d-byte data section"
                              % (path, name, offs, len(data)))
        n = 1
        for s in shape:
            n *= s
        if n * DTYPES[dt][1] != e - b:
            raise FormatError("%s: tensor %r: shape %r needs %d bytes, offsets span %d"
                              % (path, name, shape, n * DTYPES[dt][1], e - b))
        tensors[name] = (dt, shape, data[b:e])
        order.append(name)
    return tensors, meta, order


def values(dt, blob):
    """Python list of a tensor's values (little-endian)."""
    code, size = DTYPES[dt]
    return list(struct.unpack("<%d%s" % (len(blob) // size, code), blob))


def cmd_read(path):
    tensors, meta, order = read_safetensors(path)
    for name in order:
        dt, shape, blob = tensors[name]
        vals = values(dt, blob)
        s = math.fsum(float(v) for v in vals)
        print("tensor\t%s\t%s\t[%s]\tsum=%.17g" % (name, dt, ",".join(str(d) for d in shape), s))
    for k in sorted(meta):
        print("meta\t%s\t%s" % (k, meta[k]))
    return 0


# ----------------------------------------------------------------------------- arch string
def parse_arch(s):
    """NB201 arch string (standard or supernet form, or 'supernet' / 'full') -> list of 6 op
    lists in arch-string edge order."""
    s = s.strip()
    if s == "supernet":
        return [list(OPS[1:]) for _ in EDGES]
    if s == "full":
        return [list(OPS) for _ in EDGES]
    nodes = s.split("+")
    if len(nodes) != 3:
        raise ValueError("arch %r: expected 3 '+'-separated nodes" % s)
    edges = []
    for i, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ValueError("arch %r: node %d is not |...|" % (s, i))
        items = node[1:-1].split("|")
        if len(items) != i:
            raise ValueError("arch %r: node %d needs %d inputs" % (s, i, i))
        for j, it in enumerate(items):
            ops, _, src = it.rpartition("~")
            if src != str(j):
                raise ValueError("arch %r: node %d input %d reads ~%s" % (s, i, j, src))
            names = ops.split(",")
            for o in names:
                if o not in OPS:
                    raise ValueError("arch %r: unknown op %r" % (s, o))
            if len(set(names)) != len(names):
                raise ValueError("arch %r: repeated op on edge %d<-%d" % (s, i, j))
            # execution order inside an edge: TE-NAS's op column order
            edges.append(sorted(names, key=OPS.index))
    return edges


# ----------------------------------------------------------------------------- networks
def build_modules(torch):
    nn = torch.nn

    class ReLUConvBN(nn.Module):
        """NB201 ReLUConvBN: ReLU -> Conv(k, stride, pad, no bias) -> BN(affine)."""

        def __init__(self, cin, cout, k, stride, pad):
            super().__init__()
            self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                                    nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1, affine=True,
                                                   track_running_stats=True))

        def forward(self, x):
            return self.op(x)

        def named_tensors(self, prefix):
            return {prefix + ".conv.weight": self.op[1].weight, prefix + ".bn.weight": self.op[2].weight,
                    prefix + ".bn.bias": self.op[2].bias}

    class Cell(nn.Module):
        """NAS201SearchCell with alpha = 0 (active) / -1000 (pruned): node i = sum over j < i
        of the mean of edge (i<-j)'s active ops; 'none' counts in the mean but adds nothing."""

        def __init__(self, C, arch_edges, prefix):
            super().__init__()
            self.mods = nn.ModuleList()
            self.plan = []  # (i, j, k, [module index or None for 'none'])
            self.tensors = {}
            for (i, j), ops in zip(EDGES, arch_edges):
                idx = []
                for o in ops:
                    p = "%s.edges.%d<-%d.%s" % (prefix, i, j, o)
                    if o == "none":
                        idx.append(None)
                        continue
                    if o == "skip_connect":
                        m = nn.Identity()
                    elif o == "nor_conv_1x1":
                        m = ReLUConvBN(C, C, 1, 1, 0)
                        self.tensors.update(m.named_tensors(p))
                    elif o == "nor_conv_3x3":
                        m = ReLUConvBN(C, C, 3, 1, 1)
                        self.tensors.update(m.named_tensors(p))
                    else:
                        m = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
                    self.mods.append(m)
                    idx.append(len(self.mods) - 1)
                self.plan.append((i, j, len(ops), idx))

        def forward(self, x):
            nodes = [x]
            for i in (1, 2, 3):
                terms = []
                for (ti, j, k, idx) in self.plan:
                    if ti != i:
                        continue
                    outs = [self.mods[m](nodes[j]) * (1.0 / k) for m in idx if m is not None]
                    if outs:
                        terms.append(sum(outs))
                nodes.append(sum(terms) if terms else torch.zeros_like(x))
            return nodes[3]

    class ResBlock(nn.Module):
        """ResNetBasicblock(inplanes, planes, stride 2): ReLUConvBN 3x3 /2, ReLUConvBN 3x3,
        shortcut AvgPool 2x2 /2 -> Conv 1x1 (no bias); output = shortcut + branch."""

        def __init__(self, cin, cout, prefix):
            super().__init__()
            self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1)
            self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
            self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(cin, cout, 1, 1, 0, bias=False))
            self.tensors = {}
            self.tensors.update(self.conv_a.named_tensors(prefix + ".conv_a"))
            self.tensors.update(self.conv_b.named_tensors(prefix + ".conv_b"))
            self.tensors[prefix + ".downsample.conv.weight"] = self.downsample[1].weight

        def forward(self, x):
            return self.downsample(x) + self.conv_b(self.conv_a(x))

    class TinyNetwork(nn.Module):
        """TinyNetworkDarts(C, N, depth, use_stem) with the arch's active ops."""

        def __init__(self, C, N, classes, arch_edges, use_stem=True, depth=-1, in_channels=3):
            super().__init__()
            self.tensors = {}
            if use_stem:
                self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
                self.tensors.update({"stem.conv.weight": self.stem[0].weight, "stem.bn.weight": self.stem[1].weight,
                                     "stem.bn.bias": self.stem[1].bias})
            else:
                self.stem = nn.Identity()
            chans = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
            reduction = [False] * N + [True] + [False] * N + [True] + [False] * N
            if depth > 0:
                chans, reduction = chans[:depth], reduction[:depth]
            self.cells = nn.ModuleList()
            cprev = C
            for idx, (c, red) in enumerate(zip(chans, reduction)):
                prefix = "cells.%d" % idx
                cell = ResBlock(cprev, c, prefix) if red else Cell(c, arch_edges, prefix)
                self.tensors.update(cell.tensors)
                self.cells.append(cell)
                cprev = c
            self.lastact = nn.Sequential(nn.BatchNorm2d(cprev), nn.ReLU(inplace=False))
            self.global_pooling = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(cprev, classes)
            self.tensors.update({"lastact.bn.weight": self.lastact[0].weight, "lastact.bn.bias": self.lastact[0].bias,
                                 "classifier.weight": self.classifier.weight, "classifier.bias": self.classifier.bias})

        def forward(self, x):
            x = self.stem(x)
            for c in self.cells:
                x = c(x)
            x = self.global_pooling(self.lastact(x))
            return self.classifier(x.view(x.size(0), -1))

    return TinyNetwork


# ----------------------------------------------------------------------------- DARTS space
DARTS_OPS = ("none", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
             "avg_pool_3x3", "max_pool_3x3")
DARTS_EDGES = [(i, j) for i in range(4) for j in range(i + 2)]  # sorted "i<-j" keys = TE-NAS's rows


def darts_weights(torch, alpha_rows):
    """TE-NAS's MixedOp weights of one cell type: float32 softmax per edge, ops with weight <= 0.01
    dropped; an edge whose alphas are all <= -1000 contributes nothing (an empty list)."""
    out = []
    for row in alpha_rows:
        if len(row) != 8:
            raise FormatError("a DARTS alpha row must have 8 values, got %d" % len(row))
        if sum(row) <= -1000 * 8:
            out.append([])
            continue
        w = torch.softmax(torch.tensor(row, dtype=torch.float32), 0)
        out.append([(o, float(w[o])) for o in range(8) if float(w[o]) > 0.01])
    return out


def build_darts(torch):
    nn = torch.nn
    F = torch.nn.functional

    class Net(nn.Module):
        """NASNetworkDARTS(C=1, N=1, depth=2, stem multiplier 1, steps 4, multiplier 4) of TE-NAS,
        at a given alpha; every module registered under clnas's dump names."""

        def __init__(self, alpha, classes, use_stem, in_channels):
            super().__init__()
            self.tensors = {}
            self.mods = nn.ModuleDict()
            self.use_stem = use_stem
            self.alpha = {"normal": darts_weights(torch, alpha["normal"]), "reduce": darts_weights(torch, alpha["reduce"])}
            if len(self.alpha["normal"]) != 14 or len(self.alpha["reduce"]) != 14:
                raise FormatError("a DARTS alpha needs 14 rows per cell type")
            if use_stem:
                self.conv("stem.conv", in_channels, 1, 3, 1, 1)
                self.bn("stem.bn", 1)
            self.cellspec = [(0, 1, 1, 1, False, False), (1, 1, 4, 2, True, False)]  # ci, Cpp, Cp, C, red, red_prev
            for ci, cpp, cp, c, red, rprev in self.cellspec:
                p = "cells.%d" % ci
                if rprev:
                    self.fr(p + ".preprocess0", cpp, c)
                else:
                    self.rcb(p + ".preprocess0", cpp, c)
                self.rcb(p + ".preprocess1", cp, c)
                for e, (i, j) in enumerate(DARTS_EDGES):
                    stride = 2 if red and j < 2 else 1
                    for o, _ in self.alpha["reduce" if red else "normal"][e]:
                        self.op("%s.edges.%d<-%d.%s" % (p, i, j, DARTS_OPS[o]), o, c, stride)
            self.bn("lastact.bn", 8)
            self.classifier = nn.Linear(8, classes)
            self.tensors["classifier.weight"] = self.classifier.weight
            self.tensors["classifier.bias"] = self.classifier.bias

        def conv(self, name, cin, cout, k, stride, pad, groups=1, dil=1):
            m = nn.Conv2d(cin, cout, k, stride, pad, dilation=dil, groups=groups, bias=False)
            self.mods[name.replace(".", "/")] = m
            self.tensors[name + ".weight"] = m.weight

        def bn(self, name, c):
            m = nn.BatchNorm2d(c)
            self.mods[name.replace(".", "/")] = m
            self.tensors[name + ".weight"] = m.weight
            self.tensors[name + ".bias"] = m.bias

        def rcb(self, p, cin, cout):
            self.conv(p + ".conv", cin, cout, 1, 1, 0)
            self.bn(p + ".bn", cout)

        def fr(self, p, cin, cout):
            self.conv(p + ".convs.0", cin, cout // 2, 1, 2, 0)
            self.conv(p + ".convs.1", cin, cout - cout // 2, 1, 2, 0)
            self.bn(p + ".bn", cout)

        def sep(self, p, c, k, stride, dil):
            self.conv(p + ".dw", c, c, k, stride, (k - 1) * dil // 2, groups=c, dil=dil)
            self.conv(p + ".pw", c, c, 1, 1, 0)
            self.bn(p + ".bn", c)

        def op(self, p, o, c, stride):
            name = DARTS_OPS[o]
            if name == "skip_connect" and stride == 2:
                self.fr(p, c, c)
            elif name.startswith("sep_conv"):
                k = int(name[-1])
                self.sep(p + ".op_a", c, k, stride, 1)
                self.sep(p + ".op_b", c, k, 1, 1)
            elif name.startswith("dil_conv"):
                self.sep(p, c, int(name[-1]), stride, 2)

        def m(self, name):
            return self.mods[name.replace(".", "/")]

        def f_rcb(self, p, x):
            return self.m(p + ".bn")(self.m(p + ".conv")(self.relu(x)))

        def f_fr(self, p, x):
            x = self.relu(x)
            y = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
            return self.m(p + ".bn")(torch.cat([self.m(p + ".convs.0")(x), self.m(p + ".convs.1")(y)], dim=1))

        def f_sep(self, p, x):
            return self.m(p + ".bn")(self.m(p + ".pw")(self.m(p + ".dw")(self.relu(x))))

        def f_op(self, p, o, x, stride):
            name = DARTS_OPS[o]
            if name == "skip_connect":
                return x if stride == 1 else self.f_fr(p, x)
            if name.startswith("sep_conv"):
                return self.f_sep(p + ".op_b", self.f_sep(p + ".op_a", x))
            if name.startswith("dil_conv"):
                return self.f_sep(p, x)
            if name == "avg_pool_3x3":
                return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
            if name == "max_pool_3x3":
                return F.max_pool2d(x, 3, stride, 1)
            return None  # none: adds nothing (its weight still counts in the softmax)

        def forward(self, x):
            s0 = s1 = (self.m("stem.bn")(self.m("stem.conv")(x)) if self.use_stem else x)
            for ci, cpp, cp, c, red, rprev in self.cellspec:
                p = "cells.%d" % ci
                a = self.f_fr(p + ".preprocess0", s0) if rprev else self.f_rcb(p + ".preprocess0", s0)
                b = self.f_rcb(p + ".preprocess1", s1)
                states = [a, b]
                for i in range(4):
                    terms = []
                    for j in range(i + 2):
                        e = DARTS_EDGES.index((i, j))
                        for o, w in self.alpha["reduce" if red else "normal"][e]:
                            y = self.f_op("%s.edges.%d<-%d.%s" % (p, i, j, DARTS_OPS[o]), o, states[j],
                                          2 if red and j < 2 else 1)
                            if y is not None:
                                terms.append(w * y)
                    if not terms:
                        raise FormatError("cell %d node %d has no input (the state is not one TE-NAS can build)" % (ci, i))
                    states.append(sum(terms))
                s0, s1 = s1, torch.cat(states[2:], dim=1)
            out = self.relu(self.m("lastact.bn")(s1))
            return self.classifier(out.mean(dim=(2, 3)))

        def relu(self, x):
            y = F.relu(x)
            if self.hook is not None:
                self.hook(x, y)
            return y

        hook = None

    return Net


def darts_regions(torch, net, patches, batch):
    """regions() for the DARTS network: its ReLUs are functional, so it records them itself."""
    net.train()
    acts = []
    net.hook = lambda x, y: acts.append((y > 0).reshape(y.shape[0], -1)) if x.dim() == 4 else None
    codes = []
    try:
        with torch.no_grad():
            for b0 in range(0, patches.shape[0], batch):
                acts.clear()
                net(patches[b0:b0 + batch])
                codes.append(torch.cat(acts, dim=1))
    finally:
        net.hook = None
    codes = torch.cat(codes).to(torch.uint8)
    return codes, torch.unique(codes, dim=0).shape[0]


def load_weights(torch, net, tensors, what):
    """Copies the dumped float32 tensors into net (float64). Names and shapes must match
    the independently built network exactly."""
    mine = net.tensors
    theirs = set(tensors)
    missing, extra = sorted(set(mine) - theirs), sorted(theirs - set(mine))
    if missing or extra:
        raise FormatError("%s: parameter tensors differ from the PyTorch network: missing in the dump %s; "
                          "not in the PyTorch network %s" % (what, missing[:8], extra[:8]))
    with torch.no_grad():
        for name, p in mine.items():
            dt, shape, blob = tensors[name]
            if list(p.shape) != list(shape):
                raise FormatError("%s: tensor %s has shape %s in the dump, %s in PyTorch"
                                  % (what, name, shape, list(p.shape)))
            p.copy_(to_torch(torch, dt, shape, blob))


def to_torch(torch, dt, shape, blob):
    tdt = {"F32": torch.float32, "F64": torch.float64, "U8": torch.uint8, "I64": torch.int64,
           "I32": torch.int32, "F16": torch.float16, "I16": torch.int16, "I8": torch.int8, "BOOL": torch.bool}[dt]
    if sys.byteorder != "little":
        raise FormatError("big-endian hosts are not supported")
    if len(blob) == 0:
        return torch.zeros(shape, dtype=tdt)
    return torch.frombuffer(bytearray(blob), dtype=tdt).reshape(shape).clone()


# ----------------------------------------------------------------------------- metrics
def ntk(torch, net, images):
    """Theta, eigenvalues, G row norms for one batch (float64, BN in train mode)."""
    net.train()
    weights = [p for n, p in net.tensors.items() if n.endswith(".weight")]
    logits = net(images)
    rows = []
    B = images.shape[0]
    for i in range(B):
        g = torch.autograd.grad(logits[i].sum(), weights, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(gi if gi is not None else torch.zeros_like(w)).reshape(-1)
                               for gi, w in zip(g, weights)]))
    G = torch.stack(rows)
    theta = G @ G.t()
    eig = torch.linalg.eigvalsh(theta)
    # what a float32 Gram of the same G gives (clnas's default), to tell precision from bugs
    G32 = G.float()
    e32 = torch.linalg.eigvalsh((G32 @ G32.t()).double())
    return theta, eig, G.norm(dim=1), G.shape[1], kappa_of(e32[0].item(), e32[-1].item())


def regions(torch, net, patches, batch):
    """Codes (n x bits, uint8) and the number of distinct codes."""
    net.train()
    acts = []

    def hook(mod, inp, out):
        if inp[0].dim() == 4:
            acts.append((out > 0).reshape(out.shape[0], -1))

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    codes = []
    try:
        with torch.no_grad():
            for b0 in range(0, patches.shape[0], batch):
                acts.clear()
                net(patches[b0:b0 + batch])
                codes.append(torch.cat(acts, dim=1) if acts else
                             torch.zeros(patches[b0:b0 + batch].shape[0], 0, dtype=torch.bool))
    finally:
        for h in hs:
            h.remove()
    codes = torch.cat(codes).to(torch.uint8)
    R = torch.unique(codes, dim=0).shape[0] if codes.shape[1] else 1
    return codes, R


def kappa_of(lmin, lmax):
    if not (math.isfinite(lmin) and math.isfinite(lmax)) or lmin <= 0:
        return float("inf")
    return lmax / lmin


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", help="directory written by clnas score --dump")
    ap.add_argument("--tol", type=float, default=1e-3, help="max relative kappa difference (default 1e-3)")
    ap.add_argument("--quiet", action="store_true", help="print only the verdict")
    ap.add_argument("--read-safetensors", metavar="FILE", help="list a safetensors file and exit")
    a = ap.parse_args(argv)
    if a.read_safetensors:
        try:
            return cmd_read(a.read_safetensors)
        except (OSError, FormatError) as e:
            print("error: %s" % e, file=sys.stderr)
            return 2
    if not a.dir:
        ap.error("a dump directory is required")
    try:
        import torch
    except ImportError:
        print("error: PyTorch is not installed for %s; install python3-torch (Debian) to run the "
              "independent check" % sys.executable, file=sys.stderr)
        return 2
    try:
        return verify(torch, a)
    except (OSError, FormatError, ValueError, KeyError, IndexError, RuntimeError) as e:
        print("error: %s" % e, file=sys.stderr)
        print("verdict: FAIL (the dump could not be checked)")
        return 1


def expect_shape(name, t, shape):
    if t is not None and list(t.shape) != list(shape):
        raise FormatError("%s has shape %s, expected %s" % (name, list(t.shape), list(shape)))


def verify(torch, a):
    torch.set_grad_enabled(True)
    say = (lambda *x: None) if a.quiet else print
    rd = lambda f: read_safetensors(os.path.join(a.dir, f))
    inputs, meta, _ = rd("inputs.safetensors")
    outputs, _, _ = rd("outputs.safetensors")
    ntk_w, _, _ = rd("ntk_weights.safetensors")
    lr_w, _, _ = rd("lr_weights.safetensors")
    for k in ("arch", "classes"):
        if k not in meta:
            raise FormatError("inputs.safetensors: metadata %r missing" % k)
    darts = meta.get("space", "nb201") == "darts"
    arch = json.loads(meta["arch"]) if darts else parse_arch(meta["arch"])
    classes = int(meta["classes"])
    T = lambda d, n: to_torch(torch, *d[n]) if n in d else None

    images = T(inputs, "ntk_images")    # [K, B, 3, hw, hw]
    patches = T(inputs, "lr_patches")   # [K, n, 1, 3, 3]
    if images is None and patches is None:
        raise FormatError("inputs.safetensors holds neither ntk_images nor lr_patches")
    if images is not None and (images.dim() != 5 or images.shape[3] != images.shape[4]):
        raise FormatError("ntk_images must be [K, B, C, hw, hw], got %s" % list(images.shape))
    if patches is not None and (patches.dim() != 5 or list(patches.shape[2:]) != [1, 3, 3]):
        raise FormatError("lr_patches must be [K, n, 1, 3, 3], got %s" % list(patches.shape))
    K = images.shape[0] if images is not None else patches.shape[0]
    if images is not None and patches is not None and patches.shape[0] != K:
        raise FormatError("ntk_images has %d repeats, lr_patches %d" % (K, patches.shape[0]))
    say("arch     %s" % ("DARTS supernet state (alpha in the dump's metadata)" if darts else meta["arch"]))
    say("dataset  %s (%d classes), seed %s, %d repeats" % (meta.get("dataset", "?"), classes, meta.get("seed", "?"), K))

    TinyNetwork = build_modules(torch)
    DartsNet = build_darts(torch) if darts else None
    torch.manual_seed(0)  # construction only; every parameter is overwritten from the dump
    kappa_c = theta_c = eig_c = gn_c = lmin_c = lmax_c = regions_c = codes_c = None
    if images is not None:
        B, ch, hw = images.shape[1], images.shape[2], images.shape[3]
        say("NTK      %d images %dx%dx%d per repeat" % (B, ch, hw, hw))
        ntk_net = (DartsNet(arch, classes, True, ch) if darts else
                   TinyNetwork(3, 1, classes, arch, use_stem=True, depth=-1, in_channels=ch)).double()
        load_weights(torch, ntk_net, ntk_w, "ntk_weights.safetensors")
        kappa_c = T(outputs, "kappa")
        if kappa_c is None:
            raise FormatError("outputs.safetensors lacks kappa although the dump has NTK images")
        lmin_c, lmax_c = T(outputs, "lambda_min"), T(outputs, "lambda_max")
        theta_c, eig_c, gn_c = T(outputs, "theta"), T(outputs, "eigenvalues"), T(outputs, "g_row_norms")
        for nm, t, sh in (("kappa", kappa_c, [K]), ("lambda_min", lmin_c, [K]), ("lambda_max", lmax_c, [K]),
                          ("theta", theta_c, [K, B, B]), ("eigenvalues", eig_c, [K, B]), ("g_row_norms", gn_c, [K, B])):
            expect_shape(nm, t, sh)
    if patches is not None:
        if "lr_batch" not in meta:
            raise FormatError("inputs.safetensors: metadata 'lr_batch' missing")
        lr_batch = int(meta["lr_batch"])
        n = patches.shape[1]
        if lr_batch < 1 or n % lr_batch:
            raise FormatError("%d patches per repeat is not a multiple of lr_batch %d" % (n, lr_batch))
        say("LR       %d patches per repeat, BN statistics per batch of %d" % (n, lr_batch))
        lr_net = (DartsNet(arch, classes, False, 1) if darts else
                  TinyNetwork(1, 1, classes, arch, use_stem=False, depth=1, in_channels=1)).double()
        load_weights(torch, lr_net, lr_w, "lr_weights.safetensors")
        regions_c, codes_c = T(outputs, "regions"), T(outputs, "codes")
        if regions_c is None:
            raise FormatError("outputs.safetensors lacks regions although the dump has LR patches")
        expect_shape("regions", regions_c, [K])
        if codes_c is not None and (codes_c.dim() != 3 or list(codes_c.shape[:2]) != [K, n]):
            raise FormatError("codes has shape %s, expected [%d, %d, bits]" % (list(codes_c.shape), K, n))

    ok = True
    worst = [0.0, 0.0]  # kappa, Theta relative differences
    r_equal = True
    for k in range(K):
        if images is not None:
            ok &= check_ntk(torch, a, say, k, ntk_net, images[k].double(), kappa_c, lmin_c, lmax_c, theta_c, eig_c,
                            gn_c, worst)
        if patches is not None:
            same = check_lr(torch, say, k, lr_net, patches[k].double(), lr_batch, regions_c, codes_c)
            r_equal &= same
            ok &= same
    parts = []
    if images is not None:
        parts.append("max kappa rel diff %.3e (tol %.1e), max Theta rel diff %.3e" % (worst[0], a.tol, worst[1]))
    if patches is not None:
        parts.append("R %s" % ("equal" if r_equal else "DIFFERENT"))
    print("verdict: %s  arch %s: %s over %d repeats" % ("PASS" if ok else "FAIL", "(DARTS state)" if darts else meta["arch"],
                                                         ", ".join(parts), K))
    return 0 if ok else 1


def check_ntk(torch, a, say, k, net, images, kappa_c, lmin_c, lmax_c, theta_c, eig_c, gn_c, worst):
    theta, eig, gnorm, P, k32 = ntk(torch, net, images)
    lmin, lmax = eig[0].item(), eig[-1].item()
    kt = kappa_of(lmin, lmax)
    kc = kappa_c[k].item()
    if math.isfinite(kc) and math.isfinite(kt):
        rel = abs(kc - kt) / abs(kt)
    elif not math.isfinite(kc) and not math.isfinite(kt):
        rel = 0.0  # both undefined (singular or NaN NTK)
    else:
        rel = float("inf")
    worst[0] = max(worst[0], rel)
    good = rel <= a.tol
    say("repeat %d  NTK (P=%d)" % (k, P))
    say("  kappa     clnas %.10g  torch %.10g  rel diff %.3e %s" % (kc, kt, rel, "ok" if good else "MISMATCH"))
    if math.isfinite(k32) and math.isfinite(kc):
        say("  kappa     torch, float32 Gram of the same G (as clnas without --fp64): %.10g, rel diff to clnas %.3e"
            % (k32, abs(kc - k32) / abs(k32)))
    if lmin_c is not None and lmax_c is not None:
        say("  lambda    clnas [%.6e, %.6e]  torch [%.6e, %.6e]" % (lmin_c[k].item(), lmax_c[k].item(), lmin, lmax))
    if theta_c is not None:
        tc = theta_c[k]
        scale = theta.abs().max().item()
        d = (tc - theta).abs().max().item() / (scale if scale > 0 else 1.0)
        worst[1] = max(worst[1], d)
        ec = torch.linalg.eigvalsh(tc)
        k_own = kappa_of(ec[0].item(), ec[-1].item())
        if math.isfinite(k_own) and math.isfinite(kc):
            own = "rel %.3e vs clnas kappa" % (abs(k_own - kc) / abs(kc))
        else:
            own = "undefined" if not math.isfinite(k_own) and not math.isfinite(kc) else "DIFFERS from clnas kappa"
        say("  Theta     max rel diff %.3e (of max|Theta| %.6e); kappa of clnas's own Theta via torch eigvalsh "
            "%.10g (%s)" % (d, scale, k_own, own))
    if eig_c is not None:
        ed = (eig_c[k] - eig).abs().max().item() / max(eig.abs().max().item(), 1e-300)
        say("  eigenvalues max rel diff %.3e" % ed)
    if gn_c is not None:
        gd = ((gn_c[k] - gnorm).abs() / gnorm.abs().clamp_min(1e-300)).max().item()
        say("  |G_i|     max rel diff %.3e" % gd)
    return good


def check_lr(torch, say, k, net, patches, lr_batch, regions_c, codes_c):
    codes, R = (darts_regions if hasattr(net, "cellspec") else regions)(torch, net, patches, lr_batch)
    Rc = int(regions_c[k].item())
    same = R == Rc
    line = "repeat %d  regions   clnas %d  torch %d  %s" % (k, Rc, R, "equal" if same else "MISMATCH")
    if codes_c is not None:
        cc = codes_c[k]
        if tuple(cc.shape) != tuple(codes.shape):
            line += "; code matrices differ in shape: clnas %s, torch %s" % (list(cc.shape), list(codes.shape))
        else:
            diff = (cc != codes)
            nd = int(diff.sum().item())
            if nd == 0:
                line += "; code matrices identical (%d x %d bits)" % tuple(codes.shape)
            else:
                rows = diff.any(dim=1).nonzero().flatten().tolist()
                cols = diff.any(dim=0).nonzero().flatten().tolist()
                line += "; code matrices differ in %d bits (%d samples, e.g. %s; bit columns %s)" % (
                    nd, len(rows), rows[:5], cols[:10])
    say(line)
    return same


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
