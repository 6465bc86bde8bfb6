#!/usr/bin/python3
"""verify_proxies.py - independent PyTorch check of `clnas score --metric ... --dump DIR`.

Rebuilds the NAS-Bench-201 network (C=16, N=5) in PyTorch float64 from the arch string (the
builder of verify_torch.py) - or, for a dump of `score --space darts` (metadata space = darts), DARTS's
NetworkCIFAR of the genotype in "arch" with darts_C channels and darts_layers cells (DARTS's cnn/model.py,
no auxiliary head; the op modules of verify_torch.py's DARTS builder) -, loads the dumped float32 weights, images and labels from
DIR/proxies.safetensors and recomputes every proxy whose clnas value the dump's metadata holds,
following the reference implementations (SamsungLabs/zero-cost-nas foresight/pruners/measures,
NASWOT's hook_logdet, ZiCo's compute_zico), with PyTorch autograd:
  grad_norm, snip, fisher, jacob_cov, grasp (exact Hessian-gradient product by double backward),
  synflow (BatchNorm turned into the identity, |params|, all-ones input), naswot, zico,
  vkdnw (ondratybl/VKDNW's NB201 compute_vkdnw_score.py: its entropy and aleph are checked on their own,
  since aleph dominates the composite value), jacov_kaiming (VKDNW's compute_jacov_score.py on a fresh
  network holding the dumped px_jacov/* Kaiming weights, train mode, batch 0),
  params (parameter count), flops (multiply-adds x 2 of the convolutions and the classifier).
Exit status 0 iff every value agrees within --tol (relative), zico within --zico-tol, grasp within
--grasp-tol.

zico is ill-conditioned: a weight whose two batch gradients nearly coincide has a tiny standard
deviation and a huge mean/std ratio that can dominate its layer's sum, so float32 rounding moves the
value by parts per thousand to a few per cent (PyTorch's own float32 zico differs from its float64
zico by that much; the script prints both). Hence its own, looser tolerance.

grasp: clnas gets -W.(H g) as -g.(H W), with H W a float32 central difference of two gradients at
(1 +- 1e-3) W (ReLUs and max pools frozen); along W the loss is nearly quadratic, so the difference itself is good
to ~1e-5 (the earlier difference along g, (grad(W + e g) - grad(W - e g)) / 2e, e = 1e-5 ||W||/||g||,
added float32 rounding of W + e g and moved with the kernels' summation order). What is left is
float32 itself: a handful of ReLU units (6 of 12 million on the NB201 conv3x3 network at batch 16)
have inputs so near zero that float32 and float64 put them on different sides, and through
BatchNorm's batch coupling each flip moves every weight gradient slightly (PyTorch's own float32
gradient is 0.4-0.7 % off per layer there, 2e-6 with float64's ReLU pattern; its float32 grasp
1e-3; clnas's CPU-shaped kernels 2.7e-3, its GPU-shaped ones 9.3e-4). So the dump carries
clnas's ReLU codes of the batch (px_relu_codes, `score --metric grasp --dump`), and the reference
takes clnas's side for exactly the units within 1e-4 of their ReLU's input rms of zero (float64's side
everywhere else; a clnas code that differs from float64 outside that band fails the check), then
checks grasp within --grasp-tol. (The band was 1e-5 at first; after a change of BN's float32 summation
order one unit at 1-2e-5 of its rms flipped, so the band is 1e-4: still a few hundred units of millions.) Without the codes: within max(--grasp-tol, 3 s), s = how far grasp
moves when all those units are flipped.
Max pools (DARTS's max_pool_3x3) likewise: clnas freezes each window's winner, autograd's double
backward treats the argmax as a constant, and the dump carries clnas's winners (px_maxpool_taps, tap
kh*3 + kw of each window); the reference takes them for the windows whose two largest inputs are
within 1e-4 of that pool's input rms but not equal (float64's winner, PyTorch's first maximum, elsewhere;
exact ties are broken alike), and a clnas winner that differs outside that band fails the check.

  verify_proxies.py DIR [--tol 1e-3] [--zico-tol 2e-2] [--grasp-tol 1e-3] [--quiet]
"""
import argparse
import ast
import math
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_torch as vt  # noqa: E402  (the safetensors reader and the NB201 builder)


def on_relus(torch, net, fn):
    """Calls fn(input, output) at every ReLU, in forward order; a result that is not None replaces
    the output. NB201: forward hooks on its nn.ReLU modules; DARTS networks (functional ReLUs): the
    network's own hook. Returns a function that removes them."""
    if hasattr(net, "cellspec"):
        net.hook = fn
        return lambda: setattr(net, "hook", None)
    hs = [m.register_forward_hook(lambda mod, inp, out: fn(inp[0], out))
          for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    return lambda: [h.remove() for h in hs]


def parse_genotype(text):
    """DARTS's printed Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=[...],
    reduce_concat=[...]) (clnas writes it so) into a dict of lists, without eval."""
    import re
    g = {k: ast.literal_eval(v) for k, v in re.findall(r"(\w+)=(\[[^\]]*\])", text)}
    for k in ("normal", "normal_concat", "reduce", "reduce_concat"):
        if k not in g:
            raise vt.FormatError("the dump's genotype lacks %s: %s" % (k, text[:200]))
    return g


def build_darts_eval(torch):
    """DARTS's NetworkCIFAR (cnn/model.py) of a genotype as clnas_darts_eval_build builds it: stem
    conv3x3 3 -> 3C + BN; `layers` cells, reductions (channels x2) at layers/3 and 2 layers/3; a cell
    preprocesses its inputs (ReLU-conv1x1-BN, FactorizedReduce after a reduction), node i = op(2i) +
    op(2i+1) of the genotype, output = concat of the concat states; global average pool; Linear. No
    auxiliary head, no drop path. Modules are registered in DARTS's order (stem, cells in order:
    preprocess0, preprocess1, ops in genotype order; classifier), so parameters() has DARTS's order."""
    F = torch.nn.functional
    Base = vt.build_darts(torch)

    class EvalNet(Base):
        def __init__(self, geno, C, layers, classes, in_channels):
            torch.nn.Module.__init__(self)
            self.tensors = {}
            self.mods = torch.nn.ModuleDict()
            self.in_channels = in_channels
            self.conv("stem.conv", in_channels, 3 * C, 3, 1, 1)
            self.bn("stem.bn", 3 * C)
            cpp, cp, c, rprev = 3 * C, 3 * C, C, False
            self.cellspec = []
            for i in range(layers):
                red = i in (layers // 3, 2 * layers // 3)
                if red:
                    c *= 2
                pairs, concat = (geno["reduce"], geno["reduce_concat"]) if red else (geno["normal"], geno["normal_concat"])
                p = "cells.%d" % i
                if rprev:
                    self.fr(p + ".preprocess0", cpp, c)
                else:
                    self.rcb(p + ".preprocess0", cpp, c)
                self.rcb(p + ".preprocess1", cp, c)
                for k, (name, j) in enumerate(pairs):
                    self.op("%s.ops.%d.%s" % (p, k, name), vt.DARTS_OPS.index(name), c, 2 if red and j < 2 else 1)
                self.cellspec.append((p, c, red, rprev, pairs, concat))
                cpp, cp, rprev = cp, len(concat) * c, red
            self.classifier = torch.nn.Linear(cp, classes)
            self.tensors["classifier.weight"] = self.classifier.weight
            self.tensors["classifier.bias"] = self.classifier.bias

        def relu(self, x):
            y = F.relu(x)
            if self.hook is not None:
                r = self.hook(x, y)
                if r is not None:
                    y = r
            return y

        mp_hook = None

        def f_op(self, p, o, x, stride):
            if self.mp_hook is not None and vt.DARTS_OPS[o] == "max_pool_3x3":
                return self.mp_hook(x, stride)
            return Base.f_op(self, p, o, x, stride)

        def forward(self, x):
            s0 = s1 = self.m("stem.bn")(self.m("stem.conv")(x))
            for p, c, red, rprev, pairs, concat in self.cellspec:
                a = self.f_fr(p + ".preprocess0", s0) if rprev else self.f_rcb(p + ".preprocess0", s0)
                states = [a, self.f_rcb(p + ".preprocess1", s1)]
                for i in range(len(pairs) // 2):
                    terms = []
                    for k in (2 * i, 2 * i + 1):
                        name, j = pairs[k]
                        y = self.f_op("%s.ops.%d.%s" % (p, k, name), vt.DARTS_OPS.index(name), states[j],
                                      2 if red and j < 2 else 1)
                        if y is not None:
                            terms.append(y)
                    if not terms:
                        hw = states[1].shape[-1] // (2 if red else 1)
                        terms.append(torch.zeros(x.shape[0], c, hw, hw, dtype=x.dtype))
                    states.append(sum(terms))
                s0, s1 = s1, torch.cat([states[k] for k in concat], dim=1)
            return self.classifier(s1.mean(dim=(2, 3)))

    return EvalNet


def weight_layers(torch, net):
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def ce_grads(torch, net, x, y):
    F = torch.nn.functional
    net.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()


def grad_norm_snip(torch, net, x, y):
    ce_grads(torch, net, x, y)
    ws = weight_layers(torch, net)
    gn = sum(m.weight.grad.norm().item() for m in ws)
    sn = sum((m.weight * m.weight.grad).abs().sum().item() for m in ws)
    return gn, sn


def fisher(torch, net, x, y):
    saved = []

    def fwd(mod, inp, out):
        def keep(g):
            saved.append((mod, out.detach(), g.detach()))
        out.register_hook(keep)

    hs = [m.register_forward_hook(fwd) for m in weight_layers(torch, net)]
    ce_grads(torch, net, x, y)
    for h in hs:
        h.remove()
    total = 0.0
    for mod, a, g in saved:
        gnk = (a * g).sum(dim=tuple(range(2, a.dim()))) if a.dim() > 2 else a * g
        delk = 0.5 * gnk.pow(2).mean(0)
        fan_in = mod.weight[0].numel()
        total += (delk.abs() * fan_in).sum().item()
    return total


def grasp(torch, net, x, y):
    F = torch.nn.functional
    ws = [m.weight for m in weight_layers(torch, net)]
    net.zero_grad()
    gw = torch.autograd.grad(F.cross_entropy(net(x), y), ws)
    gf = torch.autograd.grad(F.cross_entropy(net(x), y), ws, create_graph=True)
    z = sum((a.detach() * b).sum() for a, b in zip(gw, gf))
    z.backward()
    return sum((-w.detach() * w.grad).sum().item() for w in ws)


def relu_sides(torch, net, codes, rel=1e-4):
    """Forward hooks giving every ReLU the on/off side of float64, except the units whose input is
    within rel x (that ReLU's input rms) of zero: those float32 rounding places at random, and they
    take clnas's side from codes ([B][bits] 0/1, layer order). Returns (hooks, stats) with stats =
    [units taken from clnas, of them differing from float64, units outside the band where clnas
    differs from float64] (counted over the forwards run)."""
    B, bits = codes.shape
    pos = [0]
    stats = [0, 0, 0]

    def hook(a, out):
        n = a[0].numel()
        c = codes[:, pos[0]:pos[0] + n].reshape(a.shape).bool()
        pos[0] = (pos[0] + n) % bits
        ad = a.detach()
        near = ad.abs() < rel * ad.pow(2).mean().sqrt()
        side = torch.where(near, c, ad > 0)
        stats[0] += int(near.sum())
        stats[1] += int((near & (c != (ad > 0))).sum())
        stats[2] += int((~near & (c != (ad > 0))).sum())
        return a * side.to(a.dtype)

    return on_relus(torch, net, hook), stats


def maxpool_sides(torch, net, taps, rel=1e-4):
    """A DARTS network's max pools (3x3, pad 1) as fixed gathers (what autograd's double backward
    differentiates, and what clnas's grasp freezes) of float64's winners (PyTorch's: the first maximum
    in row-major order), except the windows whose two largest inputs are within rel x (that pool's
    input rms) of each other but not equal: those float32 rounding orders at random, and they take
    clnas's winner from taps ([B][windows] tap kh*3 + kw, layer order). Exact ties are left to
    float64's rule, which is clnas's. Returns (remove, stats) as relu_sides."""
    F = torch.nn.functional
    B, total = taps.shape
    pos = [0]
    stats = [0, 0, 0]

    def hook(x, stride):
        N, C, H, W = x.shape
        _, i64 = F.max_pool2d(x.detach(), 3, stride, 1, return_indices=True)
        Ho, Wo = i64.shape[-2:]
        n = C * Ho * Wo
        t = taps[:, pos[0]:pos[0] + n].reshape(N, C, Ho, Wo).long()
        pos[0] = (pos[0] + n) % total
        oh = torch.arange(Ho).view(Ho, 1) * stride - 1
        ow = torch.arange(Wo).view(1, Wo) * stride - 1
        ic = (oh + t // 3) * W + (ow + t % 3)  # clnas's winner as h * W + w, PyTorch's index convention
        xp = F.pad(x.detach(), (1, 1, 1, 1), value=-math.inf)
        top = F.unfold(xp, 3, stride=stride).view(N, C, 9, Ho, Wo).topk(2, dim=2).values
        gap = top[:, :, 0] - top[:, :, 1]
        near = (gap > 0) & (gap < rel * x.detach().pow(2).mean().sqrt())
        idx = torch.where(near, ic, i64)
        stats[0] += int(near.sum())
        stats[1] += int((near & (ic != i64)).sum())
        stats[2] += int((~near & (ic != i64)).sum())
        return x.flatten(2).gather(2, idx.flatten(2)).view(N, C, Ho, Wo)

    net.mp_hook = hook
    return lambda: setattr(net, "mp_hook", None), stats


def grasp_with_sides(torch, net, x, y, codes, taps=None):
    """grasp with clnas's ReLU sides (relu_sides) and, given taps, its max-pool winners
    (maxpool_sides) for the units float32 cannot place; returns (grasp, ReLU stats, max-pool stats)."""
    remove, stats = relu_sides(torch, net, codes)
    remove_mp, mstats = maxpool_sides(torch, net, taps) if taps is not None else (lambda: None, [0, 0, 0])
    try:
        r = grasp(torch, net, x, y)
    finally:
        remove()
        remove_mp()
    return r, [v // 2 for v in stats], [v // 2 for v in mstats]  # grasp runs two forwards


def grasp_flipped(torch, net, x, y, rel=1e-4):
    """grasp with every unit within rel x (its ReLU's input rms) of zero switched to the other side
    (used without clnas's codes: a bound on what float32 rounding can do to grasp)."""
    def hook(a, out):
        near = a.detach().abs() < rel * a.detach().pow(2).mean().sqrt()
        return a * ((a.detach() > 0) ^ near).to(a.dtype)

    remove = on_relus(torch, net, hook)
    try:
        return grasp(torch, net, x, y)
    finally:
        remove()


def input_grad(torch, x):
    """x.grad, or zeros where the output does not depend on x (a network whose cells have no path
    from input to output: NB201's Zero op, x.mul(0.), would keep x in the graph with a zero gradient)."""
    return x.grad if x.grad is not None else torch.zeros_like(x)


def jacob_cov(torch, np, net, x):
    x = x.clone().requires_grad_(True)
    net.zero_grad()
    out = net(x)
    out.backward(torch.ones_like(out))
    j = input_grad(torch, x).reshape(x.shape[0], -1).numpy()
    try:  # zero-cost-nas's compute_jacob_cov: an exception (a NaN correlation) gives NaN
        with np.errstate(all="ignore"):
            v, _ = np.linalg.eig(np.corrcoef(j))
    except np.linalg.LinAlgError:
        return float("nan")
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)).real)


def jacov_vkdnw(torch, np, net, x):
    """compute_jacov_score.py of ondratybl/VKDNW (NB201, 2b67433^) after its init_model: train mode,
    x.grad of the logits' sum (get_batch_jacobian), np.corrcoef, np.linalg.eigh, k = 1e-5; any
    exception (e.g. eigh of a NaN correlation) gives NaN, as its try/except does."""
    net.train()
    net.zero_grad()
    x = x.clone().requires_grad_(True)
    y = net(x)
    y.backward(torch.ones_like(y))
    jacob = input_grad(torch, x).detach().reshape(x.shape[0], -1).numpy()
    try:
        with np.errstate(all="ignore"):
            v, _ = np.linalg.eigh(np.corrcoef(jacob))
        k = 1e-5
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))
    except Exception:  # noqa: BLE001  (the reference catches everything)
        return float("nan")


def synflow(torch, net, classes):
    import copy
    n2 = copy.deepcopy(net)

    def identity(self, x):
        return x
    for m in n2.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.forward = types.MethodType(identity, m)
    with torch.no_grad():
        for p in n2.state_dict().values():
            p.abs_()
    n2.zero_grad()
    c = n2.in_channels if hasattr(n2, "in_channels") else n2.stem[0].in_channels
    hw = vt_hw[0]
    out = n2(torch.ones(1, c, hw, hw, dtype=torch.float64))
    out.sum().backward()
    return sum((m.weight * m.weight.grad).abs().sum().item() for m in weight_layers(torch, n2))


def naswot(torch, np, net, x):
    B = x.shape[0]
    K = np.zeros((B, B))

    def hook(a, out):
        nonlocal K
        c = (a.reshape(B, -1) > 0).double()
        K = K + (c @ c.t()).numpy() + ((1 - c) @ (1 - c).t()).numpy()

    remove = on_relus(torch, net, hook)
    with torch.no_grad():
        net(x)
    remove()
    return float(np.linalg.slogdet(K)[1])


def zico(torch, np, net, x2, y2):
    F = torch.nn.functional
    ws = weight_layers(torch, net)
    net.zero_grad()
    grads = {id(m): [] for m in ws}
    for b in range(2):  # no zero_grad between the batches: ZiCo's code accumulates
        F.cross_entropy(net(x2[b]), y2[b]).backward()
        for m in ws:
            grads[id(m)].append(m.weight.grad.detach().reshape(-1).numpy().copy())
    total = 0.0
    for m in ws:
        g = np.array(grads[id(m)])
        sd = np.std(g, axis=0)
        nz = np.nonzero(sd)[0]
        s = np.sum(np.mean(np.abs(g), axis=0)[nz] / sd[nz])
        if s != 0:
            total += math.log(s)
    return total


def flops(torch, net, x):
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            total[0] += 2 * out[0].numel() * mod.weight[0].numel()
        else:
            total[0] += 2 * mod.weight.numel()

    hs = [m.register_forward_hook(hook) for m in weight_layers(torch, net)]
    with torch.no_grad():
        net(x[:1])
    for h in hs:
        h.remove()
    return total[0] / 1e6


MASK64 = (1 << 64) - 1


def mix64(x):
    """clnas_mix64 (splitmix64's finaliser) on a Python int."""
    x = (x + 0x9e3779b97f4a7c15) & MASK64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & MASK64
    return x ^ (x >> 31)


def az_probe(np, key, feature, n):
    """clnas's Rademacher probe of feature i (proxy_aznas.h): the sign bit of
    mix64(key_combine(key, i) + j) for element j in [B][c][h][w] order, 1 -> -1."""
    base = mix64(key ^ mix64((feature + 0x632be59bd9b4e019) & MASK64))
    with np.errstate(over="ignore"):
        z = np.uint64(base) + np.arange(n, dtype=np.uint64) + np.uint64(0x9e3779b97f4a7c15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    return np.where((z >> np.uint64(63)) == 1, -1.0, 1.0)


def az_cell_forward(torch, cell, x):
    """verify_torch's Cell with a node without active ops computed as x * 0 (NB201's Zero op,
    which AZ-NAS's network has), so its input stays in the autograd graph."""
    if not hasattr(cell, "plan"):
        return cell(x)
    nodes = [x]
    for i in (1, 2, 3):
        terms = []
        for (ti, j, k, idx) in cell.plan:
            if ti != i:
                continue
            outs = [cell.mods[m](nodes[j]) * (1.0 / k) for m in idx if m is not None]
            if outs:
                terms.append(sum(outs))
        nodes.append(sum(terms) if terms else x.mul(0.0))
    return nodes[3]


def az_nas(torch, np, net, x, key, probe=None):
    """AZ-NAS's compute_az_nas_score (cvlab-yonsei/AZ-NAS, NB201/ZeroShotProxy), line by line,
    with clnas's input and probes instead of torch's random draws (probe(f_out) overrides them:
    bench_proxies.py draws torch.bernoulli ones, as the reference does)."""
    feats = [net.stem(x)]
    for c in net.cells:
        feats.append(az_cell_forward(torch, c, feats[-1]))
    es = []
    for f in feats:
        feat = f.detach().clone()
        b, c, h, w = feat.size()
        feat = feat.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        feat = feat - feat.mean(dim=0, keepdim=True)
        sigma = torch.mm(feat.transpose(1, 0), feat) / feat.size(0)
        s = torch.linalg.eigvalsh(sigma)
        p = s / s.sum()
        es.append(((-p) * torch.log(p + 1e-8)).sum().item())
    es = np.array(es)
    progressivity = np.min(es[1:] - es[:-1])
    expressivity = np.sum(es)
    scores = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        if probe is None:
            g_out = torch.from_numpy(az_probe(np, key, i, f_out.numel()).reshape(tuple(f_out.shape))).to(f_out.dtype)
        else:
            g_out = probe(f_out)
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=True)[0]
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores.append(-np.inf)
            continue
        if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
            g_in = torch.nn.PixelUnshuffle(int(g_in.size(2) / g_out.size(2)))(g_in)
        bo, co, ho, wo = g_out.size()
        bi, ci, hi, wi = g_in.size()
        go = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
        gi = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
        mat = torch.mm(gi.transpose(1, 0), go) / (bo * ho * wo)
        if mat.size(0) < mat.size(1):
            mat = mat.transpose(0, 1)
        s = torch.linalg.svdvals(mat)
        scores.append(-s.max().item() - 1 / (s.max().item() + 1e-6) + 2)
    trainability = np.mean(scores)
    fix = lambda v: float(v) if not np.isnan(v) else -np.inf
    return fix(expressivity), fix(progressivity), fix(trainability)
def vkdnw_factor(torch, out):
    """cholesky_covariance of compute_vkdnw_score.py, step by step, in float64: the label-smoothed
    softmax with the reference's float16 constants (alpha = 0.05 in float16; 1 - alpha and
    alpha / C are float16 operations), q = 1 - cumsum, d, the strictly lower -p_i/q_j, nan_to_num,
    unit diagonal, zero upper part, columns times d."""
    K = out.shape[1]
    alpha = torch.tensor(0.05, dtype=torch.float16)
    prob = torch.softmax(out, dim=1) * float(1 - alpha) + float(alpha / K)
    q = torch.ones_like(prob) - torch.cumsum(prob, dim=1)
    q[:, -1] = 0
    q_shift = torch.roll(q, shifts=1, dims=1)
    q_shift[:, 0] = 1
    d = torch.sqrt(prob * q / q_shift)
    L = -torch.matmul(prob.unsqueeze(2), 1 / q.unsqueeze(2).transpose(1, 2))
    L = torch.nan_to_num(L, neginf=0.)
    eye = torch.eye(K, dtype=out.dtype).repeat(L.shape[0], 1, 1)
    L = L * (1 - eye) + eye
    L = L * (1 - torch.triu(torch.ones(K, K, dtype=out.dtype), diagonal=1).repeat(L.shape[0], 1, 1))
    return torch.matmul(L, torch.diag_embed(d))


def vkdnw(torch, net, x):
    """compute_vkdnw_score.py (ondratybl/VKDNW, NB201) on a fresh network (running statistics
    untouched) holding vkdnw's dumped weights: model.eval(); theta = element 0 of each of the first
    128 parameter tensors (registration order); per image the Jacobian of the logits in theta
    (batch-1 autograd, one backward per class); F = mean (L J)^T (L J); singular values; deciles
    (torch.quantile); entropy of the deciles normalised by their L1 norm. Returns (entropy, dim)."""
    net.eval()
    params = list(net.parameters())
    sel = params[:128]
    B = x.shape[0]
    jac, logits = [], []
    for n in range(B):
        out = net(x[n:n + 1])
        rows = []
        for c in range(out.shape[1]):
            gs = torch.autograd.grad(out[0, c], sel, retain_graph=True, allow_unused=True)
            rows.append(torch.stack([g.flatten()[0] if g is not None else torch.zeros((), dtype=x.dtype) for g in gs]))
        jac.append(torch.stack(rows))
        logits.append(out.detach()[0])
    J = torch.stack(jac)
    M = torch.matmul(vkdnw_factor(torch, torch.stack(logits)), J)
    F = torch.mean(torch.matmul(M.transpose(1, 2), M), dim=0)
    lam = torch.svd(F).S
    qs = torch.quantile(lam, torch.arange(0.1, 1., 0.1, dtype=lam.dtype))
    t = qs / (torch.linalg.norm(qs, ord=1).item() + 1e-10)
    return -(t * torch.log(t + 1e-10)).sum().item(), float(len(params))


vt_hw = [32]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--zico-tol", type=float, default=2e-2)
    ap.add_argument("--grasp-tol", type=float, default=1e-3)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    torch.set_grad_enabled(True)
    tensors, meta, _ = vt.read_safetensors(os.path.join(a.dir, "proxies.safetensors"))
    darts = meta.get("space") == "darts"
    arch = parse_genotype(meta["arch"]) if darts else vt.parse_arch(meta["arch"])
    classes = int(meta["classes"])
    T = lambda n: vt.to_torch(torch, *tensors[n])
    images = T("px_images").double()
    labels = T("px_labels").long()
    vt_hw[0] = images.shape[-1]
    if darts:
        EvalNet = build_darts_eval(torch)
        make = lambda: EvalNet(arch, int(meta["darts_C"]), int(meta["darts_layers"]), classes, images.shape[2]).double()
    else:
        make = lambda: vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2]).double()
    net = make()
    params = {k: v for k, v in tensors.items() if not k.startswith("px_") and not k.startswith("az_")}
    vk_params = {k[len("px_vkdnw/"):]: v for k, v in tensors.items() if k.startswith("px_vkdnw/")}
    vt.load_weights(torch, net, params, "proxies.safetensors")
    net.train()
    x, y = images[0], labels[0]
    ref = {}
    want = lambda n: n in meta
    if want("grad_norm") or want("snip"):
        ref["grad_norm"], ref["snip"] = grad_norm_snip(torch, net, x, y)
    if want("fisher"):
        ref["fisher"] = fisher(torch, net, x, y)
    grasp_tol = a.grasp_tol
    ok = True
    if want("grasp"):
        ref["grasp"] = grasp(torch, net, x, y)
        if "px_relu_codes" in tensors:
            exact = ref["grasp"]
            taps = T("px_maxpool_taps") if "px_maxpool_taps" in tensors else None
            ref["grasp"], (near, differ, outside), (mnear, mdiffer, moutside) = grasp_with_sides(
                torch, net, x, y, T("px_relu_codes"), taps)
            if not a.quiet:
                print("grasp      (float64 with clnas's side for the %d ReLU units within 1e-4 rms of zero, %d of them "
                      "not float64's: %.10g; with float64's own sides %.10g, relative %.2e)"
                      % (near, differ, ref["grasp"], exact, abs(exact - ref["grasp"]) / abs(ref["grasp"])))
                if taps is not None:
                    print("grasp      (max pools: clnas's winner for the %d windows whose top two are within 1e-4 rms, "
                          "%d of them not float64's)" % (mnear, mdiffer))
            if outside:
                print("grasp      clnas's ReLU codes differ from float64 on %d units away from zero: MISMATCH" % outside)
                grasp_tol = -1.0
            if moutside:
                print("grasp      clnas's max-pool winners differ from float64 in %d windows without a near tie: MISMATCH"
                      % moutside)
                grasp_tol = -1.0
        else:
            gf = grasp_flipped(torch, net, x, y)
            sens = abs(gf - ref["grasp"]) / abs(ref["grasp"])
            grasp_tol = max(a.grasp_tol, 3 * sens)
            if not a.quiet:
                print("grasp      (no px_relu_codes in the dump: flipping the ReLU units within 1e-4 rms of zero moves "
                      "grasp by %.2e; tolerance %.2e)" % (sens, grasp_tol))
    if want("jacob_cov"):
        ref["jacob_cov"] = jacob_cov(torch, np, net, x)
    if want("synflow"):
        ref["synflow"] = synflow(torch, net, classes)
    if want("naswot"):
        ref["naswot"] = naswot(torch, np, net, x)
    if want("zico"):
        ref["zico"] = zico(torch, np, net, images, labels)
        z32 = zico(torch, np, net.float(), images.float(), labels)
        net.double()
        if not a.quiet:
            print("zico       (PyTorch float32: %.10g, relative to float64 %.2e)" % (z32, abs(z32 - ref["zico"]) / abs(ref["zico"])))
    if want("az_expressivity") or want("az_progressivity") or want("az_trainability"):
        net_az = make()
        vt.load_weights(torch, net_az, {k[5:]: v for k, v in tensors.items() if k.startswith("az_w.")},
                        "proxies.safetensors (az_w.*)")
        net_az.train()
        ref["az_expressivity"], ref["az_progressivity"], ref["az_trainability"] = az_nas(
            torch, np, net_az, T("az_input").double(), int(meta["az_probe_key"]))
    if want("vkdnw"):
        vnet = make()
        vt.load_weights(torch, vnet, vk_params, "proxies.safetensors (px_vkdnw/)")
        with torch.enable_grad():
            h, dim = vkdnw(torch, vnet, T("px_vkdnw_images").double())
        ref["vkdnw_entropy"], ref["vkdnw_dim"] = h, dim
        ref["vkdnw"] = dim + h / math.log(10.0)
    if want("jacov_kaiming"):
        jnet = make()
        vt.load_weights(torch, jnet, {k[len("px_jacov/"):]: v for k, v in tensors.items() if k.startswith("px_jacov/")},
                        "proxies.safetensors (px_jacov/)")
        ref["jacov_kaiming"] = jacov_vkdnw(torch, np, jnet, x)
    if want("params"):
        ref["params"] = float(sum(p.numel() for p in net.parameters()))
    if want("flops"):
        ref["flops"] = flops(torch, net, x)
    for name, r in ref.items():
        if name not in meta:
            continue
        c = float(meta[name])
        if c == r:  # equal, -inf included (AZ-NAS's undefined components)
            good, rel = True, 0.0
        elif math.isnan(c) or math.isnan(r) or math.isinf(c) or math.isinf(r):
            good = math.isnan(c) and math.isnan(r)
            rel = float("nan")
        else:
            rel = abs(c - r) / max(abs(r), 1e-300)
            good = rel <= (a.zico_tol if name == "zico" else grasp_tol if name == "grasp" else a.tol)
        ok &= good
        if not a.quiet or not good:
            print("%-10s clnas %.10g  torch %.10g  rel %.2e  %s" % (name, c, r, rel, "ok" if good else "MISMATCH"))
    print("verify_proxies: %s (%d proxies, tol %g)" % ("PASS" if ok else "FAIL", len(ref), a.tol))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
