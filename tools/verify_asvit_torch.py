#!/usr/bin/env python3
"""verify_asvit_torch.py DIR - recompute an As-ViT score dump (clnas score --space asvit --dump DIR)
independently in PyTorch, in float64, and compare.

The network is rebuilt here from the dump's metadata (topology, D, depths, input size) following
the original's modules (AsViT lib/models/cell_infers/transformer.py, cell_operations.py:
PatchEmbed, TransformerBlock with window_partition / window_reverse, PatchMerging with
ZeroPad2d + Unfold), with the dumped weights loaded by name. kappa: per-sample gradients of the
sum of forward_features(x)[1] by autograd, Theta = G G^T, eigvalsh. L: dy/dt by forward-mode
(torch.autograd.functional.jvp) at t_k = linspace(0, 2 pi, P), LayerNorms removed, so the
check uses a different algorithm from clnas's reverse passes.
Exit status 0 when every kappa and L agrees within --rtol (default 1e-3)."""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, d in header.items():
        assert d["dtype"] == "F32", (name, d["dtype"])
        b, e = d["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=torch.float32)
        tensors[name] = t.reshape(d["shape"]).to(torch.float64)
    return tensors, meta


def parse_topology(s, D, depths):
    parts = s.split("|")
    stages = [list(map(int, p.split(","))) for p in parts[:4]]
    head = list(map(int, parts[4].split(",")))
    return dict(kernel=[st[0] for st in stages], split=[st[1] for st in stages],
                expand=[st[2] for st in stages], heads=head[0], D=D, depths=depths)


class Net:
    """The original's Transformer.forward_features(x)[1] as plain functions of a weight dict."""

    def __init__(self, topo, hw, W, norm):
        self.t, self.hw, self.W, self.norm = topo, hw, W, norm

    def ln(self, x, name):
        if not self.norm:
            return x
        return F.layer_norm(x, (x.shape[-1],), self.W[name + ".weight"], self.W[name + ".bias"], 1e-5)

    def lin(self, x, name):
        return F.linear(x, self.W[name + ".weight"], self.W.get(name + ".bias"))

    def attn(self, x, res, heads, ws, p):
        B, L, C = x.shape
        x = x.view(B, res, res, C)
        x = x.view(B, res // ws, ws, res // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)
        Bw, N, _ = x.shape
        hd = C // heads
        qkv = self.lin(x, p + ".attn.qkv").reshape(Bw, N, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * hd ** -0.5, qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        y = (a @ v).transpose(1, 2).reshape(Bw, N, -1)
        y = self.lin(y, p + ".attn.proj")
        y = y.view(B, res // ws, res // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, res * res, C)
        return y

    def __call__(self, img):
        t = self.t
        k1 = t["kernel"][0]
        x = F.pad(img, ((k1 - 4) // 2, (k1 - 3) // 2, (k1 - 4) // 2, (k1 - 3) // 2))
        x = F.conv2d(x, self.W["patch_embed.proj.weight"], self.W["patch_embed.proj.bias"], stride=4)
        x = x.flatten(2).transpose(1, 2)
        x = self.ln(x, "patch_embed.norm")
        res = self.hw // 4
        for i in range(4):
            d = min(1024, t["D"] * 2 ** i)
            heads = t["heads"] >> (3 - i)
            ws = res // t["split"][i]
            if res <= ws:
                ws = res
            for j in range(t["depths"][i]):
                p = "layers.%d.blocks.%d" % (i, j)
                x = x + self.attn(self.ln(x, p + ".norm1"), res, heads, ws, p)
                h = self.lin(self.ln(x, p + ".mlps.0.0"), p + ".mlps.0.1.fc1")
                x = x + self.lin(F.gelu(h), p + ".mlps.0.1.fc2")
            if i < 3:
                k = t["kernel"][i + 1]
                B, L, C = x.shape
                y = x.transpose(1, 2).reshape(B, C, res, res)
                y = F.pad(y, ((k - 2) // 2, (k - 1) // 2, (k - 2) // 2, (k - 1) // 2))
                y = F.unfold(y, kernel_size=k, stride=2).transpose(1, 2)
                y = self.ln(y, "layers.%d.downsample.norm" % i)
                x = self.lin(y, "layers.%d.downsample.reduction" % i)
                res //= 2
        return x.mean(dim=1)


def kappa(net, images):
    params = [(n, w) for n, w in net.W.items() if n.endswith(".weight")]
    rows = []
    for b in range(images.shape[0]):
        ws = [w.clone().requires_grad_(True) for _, w in params]
        saved = dict(net.W)
        for (n, _), w in zip(params, ws):
            net.W[n] = w
        out = net(images[b:b + 1]).sum()
        grads = torch.autograd.grad(out, ws)
        net.W = saved
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    G = torch.stack(rows)
    ev = torch.linalg.eigvalsh(G @ G.T)
    return (ev[-1] / ev[0]).item()


def length(net, u, v, P):
    total = 0.0
    for k in range(P):
        t0 = torch.tensor(2 * math.pi * k / (P - 1) if P > 1 else 0.0)
        f = lambda t: net((torch.cos(t) * u + torch.sin(t) * v).unsqueeze(0))[0]
        _, jv = torch.autograd.functional.jvp(f, (t0,), (torch.tensor(1.0),))
        total += jv.norm().item()
    return total


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    rtol = float(sys.argv[sys.argv.index("--rtol") + 1]) if "--rtol" in sys.argv else 1e-3
    T, meta = load_safetensors(sys.argv[1] + "/asvit.safetensors")
    res = json.loads(meta["result"])
    topo = parse_topology(meta["arch"], int(meta["D"]), list(map(int, meta["depths"].split(","))))
    images, circle = T["images"], T["circle"]
    hw, P = images.shape[-1], int(meta["points"])
    bad = 0
    for r in range(circle.shape[0]):
        W = {n[len("r%d." % r):]: w for n, w in T.items() if n.startswith("r%d." % r)}
        if "kappa" in res:
            k = kappa(Net(topo, hw, dict(W), True), images)
            ok = abs(k - res["kappa"][r]) <= rtol * abs(k)
            bad += not ok
            print("copy %d: kappa torch %.10g clnas %.10g %s" % (r, k, res["kappa"][r], "ok" if ok else "MISMATCH"))
        if "L" in res:
            L = length(Net(topo, hw, W, False), circle[r, 0], circle[r, 1], P)
            ok = abs(L - res["L"][r]) <= rtol * abs(L)
            bad += not ok
            print("copy %d: L     torch %.10g clnas %.10g %s" % (r, L, res["L"][r], "ok" if ok else "MISMATCH"))
    print("verify_asvit_torch: %s" % ("all agree" if not bad else "%d mismatches" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
