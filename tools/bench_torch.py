#!/usr/bin/python3
"""bench_torch.py - the computations `clnas bench` times, written plainly in PyTorch (float32),
the way the original TE-NAS code does them, timed the same way, next to `clnas bench` run in the
same invocation: one run, side by side, medians.

PyTorch side (CUDA when torch.cuda.is_available(), else the CPU; --torch-device overrides):
  - kappa of the NTK proxy supernet (NB201 C=3, N=1, all four non-none ops on every edge, edge
    output = mean of its ops) and of the single path
    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|
    at batch B (default 72): train-mode BN, one forward of the batch, B backward passes of each
    sample's logit sum (retain_graph) collecting the gradients of every *.weight parameter
    (TE-NAS's get_ntk_n), Theta = G G^T, torch.linalg.eigvalsh, kappa = lambda_max / lambda_min;
    stages forward, backward (incl. gathering G), gram, eig, and the total;
  - one R of the linear-region proxy supernet (C=1, one cell, no stem) on 3000 patches
    (3 batches of 1000, train-mode BN, no_grad, forward hooks on every ReLU, sign codes,
    torch.unique over rows).
  Networks: tools/verify_torch.py's NB201 modules, PyTorch default initialisation (as TE-NAS,
  whose Kaiming re-init is a no-op), built once; every repeat draws a new batch / new patches
  (outside the timed region, as clnas bench does). Inputs: the bundled CIFAR-10 subset
  (data/cifar10/train_10k.bin: random flip + random crop with padding 4 for the NTK, random 3x3
  crop of a random channel for the patches, normalised with the CIFAR-10 mean/std), or with
  --random-inputs standard-normal tensors of the same shapes.
  Times are medians of --repeat N (default 5) after one warm-up run. --threads T sets
  torch.set_num_threads (default: all cores); on a machine busy with other work, OpenMP threads
  beyond the free cores spin at their barriers and can slow the PyTorch side down many-fold:
  use --threads 1 there. The 1-minute load average before and after is printed with the results.

clnas side: `CLNAS --json bench --repeat N --batch B [--device D]` (--clnas, default build/clnas).

  bench_torch.py [--repeat N] [--batch B] [--threads T] [--torch-device cpu|cuda]
                 [--clnas PATH] [--device D] [--no-clnas] [--random-inputs] [--json]
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import verify_torch as vt  # noqa: E402  (NB201 arch parser and modules; no side effects on import)

SINGLE_PATH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)   # TENAS.md section 6
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
LR_SAMPLES, LR_BATCH = 3000, 1000
ROWS = (("kappa, proxy supernet", "supernet"), ("kappa, single path", SINGLE_PATH))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def n_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- inputs
class Inputs:
    """NTK batches and LR patches, from the CIFAR-10 file or random."""

    def __init__(self, torch, path, random_inputs, seed):
        self.torch = torch
        self.g = torch.Generator().manual_seed(seed)
        self.images = None
        self.source = "random normal inputs"
        if not random_inputs:
            with open(path, "rb") as f:
                raw = f.read()
            rec = 1 + 3 * 32 * 32
            if len(raw) == 0 or len(raw) % rec:
                raise ValueError("%s: %d bytes is not a whole number of %d-byte CIFAR-10 records" % (path, len(raw), rec))
            u8 = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, rec)[:, 1:]
            self.mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
            self.std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
            self.images = u8.reshape(-1, 3, 32, 32).float() / 255.0   # N x 3 x 32 x 32 in [0, 1] (ToTensor)
            self.source = "%s (%d images, CIFAR-10 mean/std)" % (os.path.relpath(path), self.images.shape[0])

    def batch(self, B):
        """B images: RandomHorizontalFlip(0.5), RandomCrop(32, padding=4) (black padding), Normalize."""
        torch = self.torch
        if self.images is None:
            return torch.randn(B, 3, 32, 32, generator=self.g)
        idx = torch.randint(0, self.images.shape[0], (B,), generator=self.g)
        x = torch.nn.functional.pad(self.images[idx], (4, 4, 4, 4))
        out = torch.empty(B, 3, 32, 32)
        offs = torch.randint(0, 9, (B, 2), generator=self.g).tolist()
        flips = torch.randint(0, 2, (B,), generator=self.g).tolist()
        for i in range(B):
            t, l = offs[i]
            img = x[i, :, t:t + 32, l:l + 32]
            out[i] = img.flip(-1) if flips[i] else img
        return (out - self.mean) / self.std

    def patches(self, n):
        """n patches 1 x 3 x 3: RandomCrop(3) of a random image, RandChannel(1)."""
        torch = self.torch
        if self.images is None:
            return torch.randn(n, 1, 3, 3, generator=self.g)
        idx = torch.randint(0, self.images.shape[0], (n,), generator=self.g).tolist()
        ch = torch.randint(0, 3, (n,), generator=self.g).tolist()
        yx = torch.randint(0, 30, (n, 2), generator=self.g).tolist()
        out = torch.empty(n, 1, 3, 3)
        for i in range(n):
            y, x = yx[i]
            out[i, 0] = (self.images[idx[i], ch[i], y:y + 3, x:x + 3] - self.mean[0, ch[i]]) / self.std[0, ch[i]]
        return out


# ----------------------------------------------------------------------------- measurements
def sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def kappa_once(torch, dev, net, x):
    """TE-NAS get_ntk_n for one network and one batch; returns (kappa, {stage: seconds}, P)."""
    t = {}
    t0 = time.perf_counter()
    net.train()
    net.zero_grad()
    logit = net(x)
    sync(torch, dev)
    t1 = time.perf_counter()
    grads = []
    for i in range(x.shape[0]):
        logit[i:i + 1].backward(torch.ones_like(logit[i:i + 1]), retain_graph=True)
        grad = []
        for name, W in net.named_parameters():
            if "weight" in name and W.grad is not None:
                grad.append(W.grad.view(-1).detach().clone())
        grads.append(torch.cat(grad, -1))
        net.zero_grad()
    G = torch.stack(grads, 0)
    sync(torch, dev)
    t2 = time.perf_counter()
    ntk = torch.einsum("nc,mc->nm", [G, G])
    sync(torch, dev)
    t3 = time.perf_counter()
    eig = torch.linalg.eigvalsh(ntk)
    sync(torch, dev)
    t4 = time.perf_counter()
    lmin, lmax = eig[0].item(), eig[-1].item()
    t.update(forward=t1 - t0, backward=t2 - t1, gram=t3 - t2, eig=t4 - t3, total=t4 - t0)
    k = lmax / lmin if (math.isfinite(lmin) and math.isfinite(lmax) and lmin > 0) else float("nan")
    return k, t, G.shape[1]


def regions_once(torch, dev, net, patches):
    """Linear_Region_Collector for one network (verify_torch's implementation), timed."""
    t0 = time.perf_counter()
    _, R = vt.regions(torch, net, patches, LR_BATCH)
    sync(torch, dev)
    return R, time.perf_counter() - t0


def run_torch(torch, a, dev):
    TinyNetwork = vt.build_modules(torch)
    torch.manual_seed(a.seed)
    data = Inputs(torch, a.data, a.random_inputs, a.seed)
    res = {"kappa": [], "lr": None, "inputs": data.source}
    for what, arch in ROWS:
        net = TinyNetwork(3, 1, 10, vt.parse_arch(arch), use_stem=True, depth=-1, in_channels=3).to(dev)
        times, kappas, P = [], [], 0
        for r in range(-1, a.repeat):          # r = -1: warm-up
            x = data.batch(a.batch).to(dev)
            sync(torch, dev)
            k, t, P = kappa_once(torch, dev, net, x)
            if r >= 0:
                times.append(t)
                kappas.append(k)
        med = {s: statistics.median(t[s] for t in times) for s in ("forward", "backward", "gram", "eig", "total")}
        res["kappa"].append({"what": what, "arch": arch, "jacobian_params": P, "kappa": kappas,
                             "forward_s": med["forward"], "backward_s": med["backward"], "gram_s": med["gram"],
                             "eig_s": med["eig"], "total_s": med["total"]})
        del net
    net = TinyNetwork(1, 1, 10, vt.parse_arch("supernet"), use_stem=False, depth=1, in_channels=1).to(dev)
    times, Rs = [], []
    for r in range(-1, a.repeat):
        p = data.patches(LR_SAMPLES).to(dev)
        sync(torch, dev)
        R, t = regions_once(torch, dev, net, p)
        if r >= 0:
            times.append(t)
            Rs.append(R)
    res["lr"] = {"samples": LR_SAMPLES, "seconds": statistics.median(times), "regions": Rs}
    return res


def clnas_device_kind(clnas, name):
    """'GPU'/'CPU'/... and platform of the device called `name`, from `clnas devices --json`."""
    try:
        p = subprocess.run([clnas, "devices", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, timeout=120)
        for d in json.loads(p.stdout):
            if d.get("name") == name:
                return "%s, %s" % (d.get("type", "?"), d.get("platform", "?"))
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return "type unknown"


def run_clnas(a):
    cmd = [a.clnas, "bench", "--json", "--repeat", str(a.repeat), "--batch", str(a.batch)]
    if a.device:
        cmd += ["--device", a.device]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as e:
        return None, cmd, "cannot run %s: %s" % (a.clnas, e)
    wall = time.time() - t0
    if p.returncode != 0:
        return None, cmd, "exit %d: %s" % (p.returncode, p.stderr.strip()[-2000:])
    try:
        j = json.loads(p.stdout)
    except ValueError as e:
        return None, cmd, "unparsable JSON (%s): %s" % (e, p.stdout[:500])
    j["wall_s"] = wall
    j["device_kind"] = clnas_device_kind(a.clnas, j.get("device"))
    return j, cmd, None


def ratio(t, c):
    return t / c if (t is not None and c) else None


def comparison(tr, cj):
    rows = []
    for i, (what, _) in enumerate(ROWS):
        tk = tr["kappa"][i]
        ck = cj["kappa"][i] if cj else None
        row = {"what": what, "torch_s": tk["total_s"], "clnas_s": ck["total_s"] if ck else None}
        row["ratio_torch_over_clnas"] = ratio(row["torch_s"], row["clnas_s"])
        row["stages"] = {s: {"torch_s": tk[s + "_s"], "clnas_s": ck[s + "_s"] if ck else None}
                         for s in ("forward", "backward", "gram", "eig")}
        rows.append(row)
    row = {"what": "R, LR proxy supernet", "torch_s": tr["lr"]["seconds"],
           "clnas_s": cj["lr"]["seconds"] if cj else None}
    row["ratio_torch_over_clnas"] = ratio(row["torch_s"], row["clnas_s"])
    rows.append(row)
    return rows


def fmt_s(v):
    return "%9.4fs" % v if v is not None else "%10s" % "-"


def print_table(a, torch_info, tr, cj, cmd, err, rows):
    print("bench_torch: one run, side by side, medians of %d repeats after one warm-up; NTK batch %d" % (a.repeat, a.batch))
    print("  torch: %s on %s  [%s]" % (torch_info["version"], torch_info["device"], torch_info["device_name"]))
    print("         %s; inputs: %s" % (torch_info["threads_note"], tr["inputs"]))
    la = torch_info["load_avg_1min"]
    print("  host: %d cores, 1-minute load average %.2f before, %.2f after%s" % (
        torch_info["cores"], la[0], la[1], "  (LOADED: other work competes with both sides)"
        if max(la) > 0.5 else ""))
    if cj:
        print("  clnas: OpenCL device \"%s\" (%s)" % (cj.get("device", "?"), cj.get("device_kind")))
        print("         %s" % " ".join(cmd))
        print("         CLBlast SGEMM 1024^3 %.1f GFLOP/s, Gram shape %.1f GFLOP/s"
              % (cj.get("sgemm_gflops_1024", float("nan")), cj.get("sgemm_gflops_gram", float("nan"))))
    elif err:
        print("  clnas: FAILED  [%s]: %s" % (" ".join(cmd), err))
    else:
        print("  clnas: not run (--no-clnas)")
    print()
    print("%-24s %10s %10s %12s" % ("measurement", "torch", "clnas", "torch/clnas"))
    for r in rows:
        q = r["ratio_torch_over_clnas"]
        print("%-24s %s %s %12s" % (r["what"], fmt_s(r["torch_s"]), fmt_s(r["clnas_s"]), "%.2fx" % q if q else "-"))
        for s, v in r.get("stages", {}).items():
            q = ratio(v["torch_s"], v["clnas_s"])
            print("  %-22s %s %s %12s" % (s, fmt_s(v["torch_s"]), fmt_s(v["clnas_s"]), "%.2fx" % q if q else "-"))
    print()
    for i, k in enumerate(tr["kappa"]):
        c = cj["kappa"][i] if cj else {}
        print("%s: P = %d (torch), %s (clnas); torch kappa per repeat %s"
              % (k["what"], k["jacobian_params"], c.get("jacobian_params", "-"),
                 ", ".join("%.4g" % v for v in k["kappa"])))
    print("R: torch %s, clnas %s (different weights and patches: not expected to be equal)"
          % (", ".join(str(v) for v in tr["lr"]["regions"]), cj["lr"]["regions"] if cj else "-"))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats after one warm-up (default 5)")
    ap.add_argument("--batch", type=int, default=72, help="NTK batch B (default 72, as TE-NAS on NB201)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads (default: all cores; use 1 on a busy machine)")
    ap.add_argument("--torch-device", choices=("cpu", "cuda"), help="default: cuda if available, else cpu")
    ap.add_argument("--clnas", default=os.path.join("build", "clnas"), help="clnas executable (default build/clnas)")
    ap.add_argument("--device", help="clnas --device (default: clnas's default device)")
    ap.add_argument("--no-clnas", action="store_true", help="time the PyTorch side only")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "cifar10", "train_10k.bin"),
                    help="CIFAR-10 binary file (default: the bundled data/cifar10/train_10k.bin)")
    ap.add_argument("--random-inputs", action="store_true", help="random normal inputs instead of CIFAR-10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the comparison as JSON")
    a = ap.parse_args(argv)
    if not os.path.exists(a.clnas) and not os.path.isabs(a.clnas) and os.path.exists(os.path.join(ROOT, a.clnas)):
        a.clnas = os.path.join(ROOT, a.clnas)   # build/clnas of this checkout when run from elsewhere
    if a.repeat < 1 or a.batch < 2:
        ap.error("--repeat must be >= 1 and --batch >= 2")
    try:
        import torch
    except ImportError:
        print("error: PyTorch is not installed for %s (Debian: apt-get install python3-torch)" % sys.executable,
              file=sys.stderr)
        return 2
    torch.set_grad_enabled(True)
    threads = a.threads if a.threads > 0 else n_cores()
    torch.set_num_threads(threads)
    if a.torch_device == "cuda" and not torch.cuda.is_available():
        ap.error("--torch-device cuda: torch.cuda.is_available() is False")
    dev = torch.device(a.torch_device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False   # as TE-NAS
        name = "CUDA: " + torch.cuda.get_device_name(dev)
    else:
        name = "CPU: " + cpu_model()
    info = {"version": "PyTorch " + torch.__version__, "device": dev.type, "device_name": name,
            "threads": torch.get_num_threads(), "cores": n_cores(),
            "threads_note": "torch.set_num_threads(%d) of %d cores%s" % (
                torch.get_num_threads(), n_cores(), " (host threads; compute on the GPU)" if dev.type == "cuda" else "")}
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        tr = run_torch(torch, a, dev)
    except (OSError, ValueError, RuntimeError) as e:
        print("error: the PyTorch side failed: %s" % e, file=sys.stderr)
        return 1
    cj, cmd, err = (None, [], None) if a.no_clnas else run_clnas(a)
    rows = comparison(tr, cj)
    info["load_avg_1min"] = [load0, os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")]
    if a.json:
        json.dump({"repeats": a.repeat, "batch": a.batch,
                   "torch": dict(info, inputs=tr["inputs"], kappa=tr["kappa"], lr=tr["lr"]),
                   "clnas": {"command": cmd, "error": err, "result": cj, "device": cj.get("device") if cj else None},
                   "comparison": rows}, sys.stdout, indent=1)
        print()
    else:
        print_table(a, info, tr, cj, cmd, err, rows)
    return 1 if err else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
