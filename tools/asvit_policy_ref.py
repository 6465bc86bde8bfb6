#!/usr/bin/env python3
"""asvit_policy_ref.py FILE - a small Python reference of As-ViT's search logic (TENAS.md 8.5-8.6),
written after the original's search/reinforce.py, lib/procedures/teg.py and search/grow.py, run on
a recorded sequence that clnas wrote (FILE, JSON):
  {"policy": {"logits0": [[...] x 12], "steps": [{"a": [12 ints], "kappa": k, "L": l,
               "reward": r, "baseline": b}, ...], "logits": [[...] x 12]},
   "grow": [{"depth": [4], "dim": D, "candidates": [[d1,d2,d3,d4,w], ...],
             "kappa": [...], "L": [...], "winner": i}, ...]}
Replays the REINFORCE updates with torch.distributions.Categorical and torch.optim.Adam (lr 0.08),
the TEG buffer's normalised change (window 20) and the bias-corrected EMA baseline, and checks
every reward, baseline and the final logits; regenerates the grow candidates and re-selects
the winner with grow.py's dense ranks, rank sums and tie-break. Exit 0 when all agree."""
import json
import sys

import torch
from torch.distributions import Categorical

torch.set_default_dtype(torch.float64)


class EMA:
    def __init__(self, m):
        self.n, self.d, self.m = 0.0, 0.0, m

    def update(self, v):
        self.n = self.m * self.n + (1 - self.m) * v
        self.d = self.m * self.d + (1 - self.m)

    def value(self):
        return self.n / self.d


def change(buf, L=20):
    return (buf[-1] - buf[-2]) / (max(buf[-L:]) - min(buf[-L:]) + 1e-6)


def check_policy(rec):
    params = [torch.nn.Parameter(torch.tensor(l)) for l in rec["logits0"]]
    opt = torch.optim.Adam(params, lr=0.08)
    ema = EMA(0.9)
    bk, bl = [], []
    bad = 0
    for i, st in enumerate(rec["steps"]):
        bk.append(st["kappa"])
        bl.append(st["L"])
        reward = 0.0 if len(bk) <= 1 else -change(bk) + change(bl)
        ema.update(reward)
        logp = sum(Categorical(logits=p).log_prob(torch.tensor(a)) for p, a in zip(params, st["a"]))
        loss = -logp * (reward - ema.value())
        opt.zero_grad()
        loss.backward()
        opt.step()
        for name, mine, theirs in (("reward", reward, st["reward"]), ("baseline", ema.value(), st["baseline"])):
            if abs(mine - theirs) > 1e-9 * max(1.0, abs(mine)):
                print("step %d: %s python %.17g clnas %.17g" % (i, name, mine, theirs))
                bad += 1
    for i, (p, c) in enumerate(zip(params, rec["logits"])):
        d = (p.detach() - torch.tensor(c)).abs().max().item()
        if d > 1e-9:
            print("choice %d: final logits differ by %g" % (i, d))
            bad += 1
    print("policy: %d steps, %s" % (len(rec["steps"]), "agree" if not bad else "%d mismatches" % bad))
    return bad


def candidates(depth, dim):
    widths = []
    for r in [0.05, 0.1, 0.15, 0.2]:
        w = round(dim * (1 + r))
        if widths and widths[-1] == w:
            continue
        widths.append(w)
    out = []
    for s in range(4):
        d = list(depth)
        d[s] += 1
        for w in widths:
            out.append(d + [w])
    return out


def select(kappa, L):
    """grow.py's grow_step selection over candidates 0..n-1 with these values."""
    n = len(kappa)
    rewards = {"ntk": [[kappa[i], i] for i in range(n)], "exp": [[L[i], i] for i in range(n)]}
    order = {"ntk": False, "exp": True}
    rankings = {i: [] for i in range(n)}
    for t in ["ntk", "exp"]:
        rewards[t] = sorted(rewards[t], key=lambda tup: tup[0], reverse=order[t])
        for idx, (v, c) in enumerate(rewards[t]):
            if idx == 0:
                rankings[c].append(idx)
            elif v == rewards[t][idx - 1][0]:
                rankings[c].append(rankings[rewards[t][idx - 1][1]][-1])
            else:
                rankings[c].append(rankings[rewards[t][idx - 1][1]][-1] + 1)
    rs = sorted([[k, v] for k, v in rankings.items()], key=lambda tup: sum(tup[1]))
    if len(rs) > 1 and sum(rs[0][1]) == sum(rs[1][1]):
        rng = []
        for t in ["ntk", "exp"]:
            vals = [x[0] for x in rewards[t]]
            rng.append([t, (max(vals) - min(vals)) / max(vals)])
        rng = sorted(rng, key=lambda tup: tup[1], reverse=True)
        tgt = rng[0][0]
        val = {"ntk": kappa, "exp": L}[tgt]
        lst = [val[rs[0][0]]]
        for i in range(1, len(rs)):
            if sum(rs[i - 1][1]) == sum(rs[i][1]):
                lst.append(val[rs[i][0]])
            break
        best = min(range(len(lst)), key=lambda i: (lst[i], i))
        return rs[best][0]
    return rs[0][0]


def check_grow(steps):
    bad = 0
    for i, st in enumerate(steps):
        cand = candidates(st["depth"], st["dim"])
        if cand != st["candidates"]:
            print("grow %d: candidates python %s clnas %s" % (i, cand, st["candidates"]))
            bad += 1
        w = select(st["kappa"], st["L"])
        if w != st["winner"]:
            print("grow %d: winner python %d clnas %d" % (i, w, st["winner"]))
            bad += 1
    print("grow: %d steps, %s" % (len(steps), "agree" if not bad else "%d mismatches" % bad))
    return bad


def main():
    rec = json.load(open(sys.argv[1]))
    bad = check_policy(rec["policy"]) + check_grow(rec["grow"])
    print("asvit_policy_ref: %s" % ("all agree" if not bad else "%d mismatches" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
