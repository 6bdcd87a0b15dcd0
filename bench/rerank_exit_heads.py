"""Which head makes the shallow exits of an adaptive reranker learn in one STSB epoch.

A bare loop mirroring `bce_reranker --preset cpu -p variant adaptive` (batch 64, 1 epoch, lr 5e-5
with 10% linear warmup/decay, bf16 autocast, every prior exit + Bernoulli-KL to the detached last
one) without grad clipping or evaluation during training; prints each exit's BCE every 15 steps
and STSB-test Spearman per exit at the end. Used for docs/results.md ("The reranker at every
depth"); e.g. ``python bench/rerank_exit_heads.py --pool mean --head_lr 2e-3 [--prior 5]
[--per_layer_heads] [--lr 2e-4] [--early_lr 5e-4 --early_blocks 1] [--epochs 2]``
(one thread: ~4-6 minutes per epoch).
"""
import argparse
import copy
import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from workbench.data import datasets as data
from workbench.models.cross_encoder import CrossEncoder

ap = argparse.ArgumentParser()
ap.add_argument("--pool", default="cls")  # cls | mean | clsmean
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--head_lr", type=float, default=5e-5)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--prior", type=float, default=1.0)
ap.add_argument("--distill", type=float, default=1.0)
ap.add_argument("--plain", action="store_true")
ap.add_argument("--max", type=int, default=-1)
ap.add_argument("--per_layer_heads", action="store_true")
ap.add_argument("--weighting", default="uniform")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--early_lr", type=float, default=0.0)  # >0: lr of the embeddings + first blocks
ap.add_argument("--early_blocks", type=int, default=1)  # blocks learning at --early_lr
args = ap.parse_args()

torch.manual_seed(args.seed)
random.seed(args.seed)
ce = CrossEncoder.from_pretrained("minilm-l6")
m = ce.model
train = data.load_dataset("stsb", "train")
test = data.load_dataset("stsb", "test")
rows = list(zip(train["sentence1"], train["sentence2"], train["score"], strict=False))
if args.max > 0:
    rows = rows[: args.max]


heads = {k: (copy.deepcopy(m.bert.pooler), copy.deepcopy(m.classifier)) for k in range(1, 6)} if args.per_layer_heads else {}
for k, (a, b) in heads.items():
    m.add_module(f"pool{k}", a)
    m.add_module(f"cls{k}", b)


def head(states, mask, k=6):
    if args.pool == "cls":
        x = states[:, 0]
    elif args.pool == "mean":
        w = mask.unsqueeze(-1).to(states.dtype)
        x = (states * w).sum(1) / w.sum(1)
    pooler, classifier = heads.get(k, (m.bert.pooler, m.classifier))
    x = pooler.activation(pooler.dense(x))
    return classifier(m.dropout(x)).squeeze(-1)


def logits_all(feats):
    hs = m.bert(**feats, output_hidden_states=True, return_dict=True).hidden_states
    return {k: head(hs[k], feats["attention_mask"], k).float() for k in range(1, 7)}


def kl(s, t):
    p = torch.sigmoid(t)
    return (F.binary_cross_entropy_with_logits(s, p) - F.binary_cross_entropy_with_logits(t, p))


head_params = list(m.bert.pooler.parameters()) + list(m.classifier.parameters()) + [p for a, b in heads.values() for p in list(a.parameters()) + list(b.parameters())]
hp = {id(p) for p in head_params}
early = []
if args.early_lr > 0:
    early = list(m.bert.embeddings.parameters()) + [
        p for blk in m.bert.encoder.layer[: args.early_blocks] for p in blk.parameters()]
ep = {id(p) for p in early}
body = [p for p in m.parameters() if id(p) not in hp and id(p) not in ep]
groups = [{"params": body, "lr": args.lr}, {"params": head_params, "lr": args.head_lr}]
if early:
    groups.append({"params": early, "lr": args.early_lr})
opt = torch.optim.AdamW(groups, weight_decay=0.0)
bs = 64
g = torch.Generator().manual_seed(args.seed)
per_epoch = math.ceil(len(rows) / bs)
order = []
for _ in range(args.epochs):  # a fresh shuffle per epoch (the first epoch's order as before)
    o = torch.randperm(len(rows), generator=g).tolist()
    order += [o[i * bs:(i + 1) * bs] for i in range(per_epoch)]
steps = per_epoch * args.epochs
warm = math.ceil(0.1 * steps)
base = [grp["lr"] for grp in opt.param_groups]
m.train()
t0 = time.time()
acc = {k: 0.0 for k in range(1, 7)}
for step in range(steps):
    idx = order[step]
    batch = [rows[i] for i in idx]
    feats = ce.tokenize([(a, b) for a, b, _ in batch])
    y = torch.tensor([s for _, _, s in batch], dtype=torch.float)
    f = step / warm if step < warm else max(0.0, (steps - step) / (steps - warm))
    for grp, b in zip(opt.param_groups, base, strict=False):
        grp["lr"] = b * f
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lg = logits_all(feats)
    per = {k: F.binary_cross_entropy_with_logits(lg[k], y) for k in lg}
    loss = per[6]
    if not args.plain:
        t = lg[6].detach()
        cw = {k: (1.0 if args.weighting == "uniform" else 1 / (1 + k)) for k in range(1, 6)}
        prior = sum(cw[k] * (per[k] + args.distill * kl(lg[k], t)) for k in range(1, 6)) / 5
        loss = loss + args.prior * prior
    opt.zero_grad()
    loss.backward()
    opt.step()
    for k in acc:
        acc[k] += per[k].item()
    if (step + 1) % 15 == 0:
        print(step + 1, f"{time.time()-t0:.0f}s", " ".join(f"L{k}:{acc[k]/15:.3f}" for k in acc), flush=True)
        acc = {k: 0.0 for k in range(1, 7)}

m.eval()
pairs = list(zip(test["sentence1"], test["sentence2"], strict=False))
preds = {k: [] for k in range(1, 7)}
with torch.inference_mode():
    for i in range(0, len(pairs), 128):
        feats = ce.tokenize(pairs[i:i + 128])
        lg = logits_all(feats)
        for k in lg:
            preds[k].append(torch.sigmoid(lg[k]))
gold = np.array(test["score"])
res = {}
for k in preds:
    p = torch.cat(preds[k]).numpy()
    res[k] = spearmanr(p, gold).correlation
print(vars(args))
print("RESULT", " ".join(f"{k}:{res[k]:.4f}" for k in res), f"time {time.time()-t0:.0f}s")
