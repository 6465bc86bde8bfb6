#!/usr/bin/env python3
"""verify_vit_ops_torch.py - checks clnas's vision-transformer op references (src/ops/vit_ref.c)
against PyTorch in float64, written the way As-ViT's code computes each op (nn.LayerNorm,
nn.GELU, Swin/As-ViT window_partition + WindowAttention's reshape order, ZeroPad2d + Unfold as
PatchMerging, ZeroPad2d + Conv2d with bias as PatchEmbed, the token mean), so that the token
layout and feature orders clnas assumes are checked against the original's, not against
themselves.

Usage: verify_vit_ops_torch.py DIR   (DIR holds the *.case files test_ops_asvit writes)
Each case file: a header line "op int...", then lines "name n v1 ... vn" (float64 text).
For each case it recomputes the forward, the vector-Jacobian product with the case's upstream
gradient w (autograd) and, where given, the Jacobian-vector product with tangent t, and
compares them with clnas's values. Exit status 0 when every relative error is below 1e-9."""
import glob
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
TOL = 1e-9


def load(path):
    with open(path) as f:
        head = f.readline().split()
        arrays = {}
        for line in f:
            parts = line.split()
            if not parts:
                continue
            name, n = parts[0], int(parts[1])
            vals = [float(v) for v in parts[2:]]
            if len(vals) != n:
                raise ValueError(f"{path}: array {name} has {len(vals)} values, header says {n}")
            arrays[name] = torch.tensor(vals)
    return head[0], [int(v) for v in head[1:]], arrays


def window_partition(x, ws_h, ws_w):
    """As-ViT/Swin window_partition for (B, H, W, C), generalised to wh x ww windows."""
    B, H, W, C = x.shape
    x = x.view(B, H // ws_h, ws_h, W // ws_w, ws_w, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws_h, ws_w, C)


def window_reverse(windows, ws_h, ws_w, H, W):
    B = int(windows.shape[0] / (H * W / ws_h / ws_w))
    x = windows.view(B, H // ws_h, W // ws_w, ws_h, ws_w, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


def attention(qkv, B, H, W, C, heads, wh, ww):
    """WindowAttention.forward between qkv and proj, on the qkv Linear's output (a per-token
    map, so partitioning its output equals partitioning its input)."""
    x = qkv.view(B, H, W, 3 * C)
    xw = window_partition(x, wh, ww).view(-1, wh * ww, 3 * C)
    B_, N, _ = xw.shape
    q, k, v = xw.reshape(B_, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    scale = (C // heads) ** -0.5
    attn = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    o = (attn @ v).transpose(1, 2).reshape(B_, N, C)
    return window_reverse(o.view(-1, wh, ww, C), wh, ww, H, W).view(B, H * W, C), attn


def build(op, a, t):
    """Returns (forward(inputs) -> output, [input tensors], extra outputs to compare)."""
    if op == "ln":
        rows, d = a
        def f(x, g, b):
            return F.layer_norm(x.view(rows, d), (d,), g, b, eps=1e-5).reshape(-1)
        return f, [t["x"], t["gamma"], t["beta"]], {}
    if op == "gelu":
        return (lambda x: nn.GELU()(x)), [t["x"]], {}
    if op == "tanh":
        return (lambda x: torch.tanh(x)), [t["x"]], {}
    if op == "attn":
        B, H, W, C, heads, wh, ww = a
        def f(qkv):
            return attention(qkv, B, H, W, C, heads, wh, ww)[0].reshape(-1)
        _, P = attention(t["x"], B, H, W, C, heads, wh, ww)
        return f, [t["x"]], {"probs": P.reshape(-1)}
    if op == "merge":  # PatchMerging's pad + unfold of a token map
        B, C, H, W, k, pad, pad_hi = a
        def f(x):
            m = x.view(B, H * W, C).transpose(1, 2).reshape(B, C, H, W)
            m = nn.ZeroPad2d((pad, pad_hi, pad, pad_hi))(m)
            return nn.Unfold(kernel_size=(k, k), stride=(2, 2))(m).transpose(1, 2).reshape(-1)
        return f, [t["x"]], {}
    if op == "embed":  # PatchEmbed: pad + conv with bias, flattened to tokens
        B, C, H, W, D, k, stride, pad, pad_hi = a
        def f(x, w, b):
            m = nn.ZeroPad2d((pad, pad_hi, pad, pad_hi))(x.view(B, C, H, W))
            y = F.conv2d(m, w.view(D, C, k, k), b, stride=stride)
            return y.flatten(2).transpose(1, 2).reshape(-1)
        return f, [t["x"], t["w"], t["b"]], {}
    if op == "pool":
        B, T, D = a
        return (lambda x: x.view(B, T, D).mean(dim=1).reshape(-1)), [t["x"]], {}
    raise ValueError(f"unknown op {op}")


def rel(a, b):
    scale = max(b.abs().max().item(), 1e-30)
    return (a - b).abs().max().item() / scale


def check(path):
    op, a, t = load(path)
    f, ins, extra = build(op, a, t)
    ins = [x.clone().requires_grad_(True) for x in ins]
    y = f(*ins)
    worst = {"y": rel(y.detach(), t["y"])}
    for name, v in extra.items():
        worst[name] = rel(v, t[name])
    grads = torch.autograd.grad(y, ins, grad_outputs=t["gy"])
    names = ["dx", "dp1", "dp2"]
    for g, name in zip(grads, names):
        if name in t:
            worst[name] = rel(g, t[name])
    if "tangent" in t:  # JVP w.r.t. the first input, the rest fixed
        rest = [x.detach() for x in ins[1:]]
        _, jv = torch.autograd.functional.jvp(lambda x: f(x, *rest), ins[0].detach(), t["tangent"])
        worst["jvp"] = rel(jv, t["jvp"])
    bad = {k: v for k, v in worst.items() if not v <= TOL}
    print(f"{os.path.basename(path):28s} " + " ".join(f"{k} {v:.2e}" for k, v in worst.items()) + ("  FAIL" if bad else ""))
    return not bad


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.case")))
    if not files:
        print(f"no *.case files in {sys.argv[1]}")
        return 2
    ok = all([check(p) for p in files])
    print("all ops agree with PyTorch" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
