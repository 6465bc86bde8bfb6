#!/usr/bin/python3
"""bench_proxies.py - times the zero-cost proxies in PyTorch (float32, as the reference
implementations run, on this machine's CPU) on the network, weights, images and labels of a
`clnas score --metric ... --dump DIR`, and with --clnas the same proxies in clnas on the same inputs,
alternating proxy by proxy, for a speed ratio measured in one run.
grasp uses autograd's double backward; synflow float64 (as the reference does); naswot NASWOT's
float hooks; vkdnw (when the dump has its inputs) the reference's per-image Jacobian in float32;
az_nas (when the dump has its inputs) the reference's three components with torch's own probes.

Fair by construction: torch runs on --threads threads (default 2, as PoCL uses both cores here; a
list such as 1,2 times each count, and the ratio is taken against the fastest of them),
every timed call comes after an untimed warm-up call (--warmup), and each side reports the median of
--repeat calls (clnas: `score --repeat`, which also warms up first and takes the median), in
--rounds rounds that alternate torch and clnas proxy by proxy; the result is the median of the
rounds' medians. clnas is run with the dump's arch and batch and --seed (the seed the dump was
made with): its values are checked against the dump's, so both sides score the same inputs.

  bench_proxies.py DIR [--repeat 3] [--rounds 1] [--threads 2] [--warmup 1] [--clnas build/clnas --seed 0] [--only a,b]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_torch as vt  # noqa: E402
import verify_proxies as vp  # noqa: E402


def naswot_float(torch, np, net, x):
    """NASWOT's hook_logdet as published: float codes, K + K2 by float matmuls (exact: the counts
    stay below 2^24), accumulated into a numpy array, slogdet."""
    B = x.shape[0]
    K = np.zeros((B, B))

    def hook(mod, inp, out):
        nonlocal K
        c = (inp[0].reshape(B, -1) > 0).float()
        K = K + (c @ c.t()).numpy() + ((1. - c) @ (1. - c.t())).numpy()

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return float(np.linalg.slogdet(K)[1])


def clnas_seconds(a, meta, metric, key, batch):
    """Median seconds of `clnas score --metric metric --repeat R` (after its own warm-up) and
    whether its value equals the dump's."""
    cmd = [a.clnas, "score", "--arch", meta["arch"], "--metric", metric, "--batch", str(batch), "--seed", str(a.seed),
           "--repeat", str(a.repeat), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench_proxies.py: %s failed:\n%s" % (" ".join(cmd), p.stderr))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    v, want = r.get(key), meta.get(key)
    same = None
    if v is not None and want is not None:
        w = float(want)
        same = abs(v - w) <= 1e-6 * max(abs(w), 1e-30)
    return r[key + "_seconds"], same


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per side and round (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed torch calls before the timed ones (default 1)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (median of their medians)")
    ap.add_argument("--threads", default="2", help="torch.set_num_threads, or a comma list to time each (default 2: PoCL uses both cores)")
    ap.add_argument("--clnas", help="the clnas binary: also time clnas score --metric P on the same inputs")
    ap.add_argument("--seed", type=int, default=0, help="the --seed the dump was made with (default 0)")
    ap.add_argument("--only", help="comma list of the rows to run (e.g. grad_norm+snip,synflow)")
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    import copy
    threads = [int(t) for t in a.threads.split(",")]
    tensors, meta, _ = vt.read_safetensors(os.path.join(a.dir, "proxies.safetensors"))
    arch = vt.parse_arch(meta["arch"])
    classes = int(meta["classes"])
    images = vt.to_torch(torch, *tensors["px_images"]).float()
    labels = vt.to_torch(torch, *tensors["px_labels"]).long()
    vp.vt_hw[0] = images.shape[-1]
    net = vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2])
    vt.load_weights(torch, net, {k: v for k, v in tensors.items() if not k.startswith(("px_", "az_"))}, "dump")
    net.train()
    net64 = copy.deepcopy(net).double()  # synflow's reference runs float64 (not timed: the network's copy)
    x, y = images[0], labels[0]
    # (row, torch call, clnas --metric, the JSON key that holds clnas's value and seconds)
    jobs = [
        ("grad_norm+snip", lambda: vp.grad_norm_snip(torch, net, x, y), "grad_norm,snip", "snip"),
        ("fisher", lambda: vp.fisher(torch, net, x, y), "fisher", "fisher"),
        ("grasp", lambda: vp.grasp(torch, net, x, y), "grasp", "grasp"),
        ("jacob_cov", lambda: vp.jacob_cov(torch, np, net, x), "jacob_cov", "jacob_cov"),
        ("synflow", lambda: vp.synflow(torch, net64, classes), "synflow", "synflow"),
        ("naswot", lambda: naswot_float(torch, np, net, x), "naswot", "naswot"),
        ("zico", lambda: vp.zico(torch, np, net, images, labels), "zico", "zico"),
    ]
    if "px_vkdnw_images" in tensors:  # vkdnw: its own weights and noise images, BN eval mode
        vnet = vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2])
        vt.load_weights(torch, vnet, {k[len("px_vkdnw/"):]: v for k, v in tensors.items() if k.startswith("px_vkdnw/")},
                        "dump (px_vkdnw/)")
        vx = vt.to_torch(torch, *tensors["px_vkdnw_images"]).float()
        jobs.append(("vkdnw", lambda: vp.vkdnw(torch, vnet, vx), "vkdnw", "vkdnw"))
    if "az_input" in tensors:  # AZ-NAS: its own Kaiming weights and random input; torch's own +-1 probes
        net_az = vt.build_modules(torch)(16, 5, classes, arch, in_channels=images.shape[2])
        vt.load_weights(torch, net_az, {k[5:]: v for k, v in tensors.items() if k.startswith("az_w.")}, "dump (az_w.*)")
        net_az.train()
        x_az = vt.to_torch(torch, *tensors["az_input"]).float()
        rademacher = lambda f: (torch.bernoulli(torch.ones_like(f) * 0.5) - 0.5) * 2
        jobs.append(("az_nas", lambda: vp.az_nas(torch, np, net_az, x_az, 0, probe=rademacher), "az_nas", "az_expressivity"))
    if a.only:
        keep = a.only.split(",")
        jobs = [j for j in jobs if j[0] in keep]
    load0 = os.getloadavg()
    print("PyTorch %s, threads %s, batch %d, arch %s; %d timed calls per side and round (torch after %d warm-up calls), %d rounds"
          % (torch.__version__, a.threads, x.shape[0], meta["arch"], a.repeat, a.warmup, a.rounds))
    t_torch = {(j[0], th): [] for j in jobs for th in threads}
    t_cl = {j[0]: [] for j in jobs}
    checks = {}
    for rd in range(a.rounds):
        for name, fn, metric, key in jobs:
            for th in threads:
                torch.set_num_threads(th)
                for _ in range(a.warmup):
                    fn()
                ts = []
                for _ in range(a.repeat):
                    t = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t)
                t_torch[(name, th)].append(statistics.median(ts))
                print("  %-15s torch %d thread(s) %.3f s" % (name, th, t_torch[(name, th)][-1]), flush=True)
            if a.clnas:
                s, same = clnas_seconds(a, meta, metric, key, x.shape[0])
                t_cl[name].append(s)
                checks[name] = same
                print("  %-15s clnas %.3f s" % (name, s), flush=True)
    load1 = os.getloadavg()
    print("%-15s" % "proxy" + "".join("%11s" % ("torch %dt s" % th) for th in threads) +
          ("%10s %8s" % ("clnas s", "ratio") if a.clnas else ""))
    for name, _, _, _ in jobs:
        tts = [statistics.median(t_torch[(name, th)]) for th in threads]
        line = "%-15s" % name + "".join("%11.3f" % t for t in tts)
        if a.clnas:
            tc = statistics.median(t_cl[name])
            note = {True: "", False: "  (clnas's value differs from the dump's: other --seed?)", None: ""}[checks[name]]
            line += "%10.3f %7.2fx%s" % (tc, min(tts) / tc if tc > 0 else float("inf"), note)
        print(line)
    print("load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end" % (load0 + load1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
