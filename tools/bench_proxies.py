#!/usr/bin/python3
"""bench_proxies.py - times the zero-cost proxies in PyTorch (float32, as the reference
implementations run, on this machine's CPU) on the network, weights, images and labels of a
`clnas score --metric ... --dump DIR`, for a speed ratio against clnas on the same inputs.
grasp uses autograd's double backward; synflow float64 (as the reference does); az_nas (when the dump
has its inputs: `--metric az_nas` or `all`) the reference's three components with torch's own probes.

  bench_proxies.py DIR [--repeat 1]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_torch as vt  # noqa: E402
import verify_proxies as vp  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    tensors, meta, _ = vt.read_safetensors(os.path.join(a.dir, "proxies.safetensors"))
    arch = vt.parse_arch(meta["arch"])
    classes = int(meta["classes"])
    images = vt.to_torch(torch, *tensors["px_images"]).float()
    labels = vt.to_torch(torch, *tensors["px_labels"]).long()
    vp.vt_hw[0] = images.shape[-1]
    net = vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2])
    vt.load_weights(torch, net, {k: v for k, v in tensors.items() if not k.startswith(("px_", "az_"))}, "dump")
    net.train()
    x, y = images[0], labels[0]
    jobs = [
        ("grad_norm+snip", lambda: vp.grad_norm_snip(torch, net, x, y)),
        ("fisher", lambda: vp.fisher(torch, net, x, y)),
        ("grasp", lambda: vp.grasp(torch, net, x, y)),
        ("jacob_cov", lambda: vp.jacob_cov(torch, np, net, x)),
        ("synflow", lambda: vp.synflow(torch, net.double(), classes)),
        ("naswot", lambda: vp.naswot(torch, np, net.float(), x)),
        ("zico", lambda: vp.zico(torch, np, net.float(), images, labels)),
    ]
    if "az_input" in tensors:  # AZ-NAS: its own Kaiming weights and random input; torch's own +-1 probes
        net_az = vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2])
        vt.load_weights(torch, net_az, {k[5:]: v for k, v in tensors.items() if k.startswith("az_w.")}, "dump (az_w.*)")
        net_az.train()
        x_az = vt.to_torch(torch, *tensors["az_input"]).float()
        rademacher = lambda f: (torch.bernoulli(torch.ones_like(f) * 0.5) - 0.5) * 2
        jobs.append(("az_nas", lambda: vp.az_nas(torch, np, net_az, x_az, 0, probe=rademacher)))
    print("PyTorch %s, %d threads, batch %d, arch %s" % (torch.__version__, torch.get_num_threads(), x.shape[0], meta["arch"]))
    for name, fn in jobs:
        best = None
        for _ in range(a.repeat):
            t = time.perf_counter()
            fn()
            d = time.perf_counter() - t
            best = d if best is None else min(best, d)
        print("  %-15s %.3f s" % (name, best))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
