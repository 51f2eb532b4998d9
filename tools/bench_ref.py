"""Reference for tools/bench: the PyTorch way to train the same graph.

torchvision ImageFolder + DataLoader (2 workers), the model rebuilt from the engine's resolved
config.toml (sequential ResNet graphs), same optimiser, batch size, threads. Idiomatic: fp32,
NCHW. --tuned: what a careful user adds, bf16 autocast and channels_last.
Prints one line per epoch: `epoch N seconds S train_acc A val_acc V`.
"""
import argparse, time, tomllib

import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from torchvision.models.resnet import BasicBlock

ACTS = {"relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(inplace=True),
        "elu": lambda: nn.ELU(inplace=True), "gelu": nn.GELU}


def stages(in_ch, widths, blocks, act):
    if len(blocks) == 1:
        blocks = blocks * len(widths)
    layers = []
    for s, (w, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            down = None
            if stride != 1 or in_ch != w:
                down = nn.Sequential(nn.Conv2d(in_ch, w, 1, stride, bias=False), nn.BatchNorm2d(w))
            block = BasicBlock(in_ch, w, stride, down)
            block.relu = ACTS[act]()
            layers.append(block)
            in_ch = w
    return nn.Sequential(*layers), in_ch


def build(layers, in_ch):
    mods, ch, flat = [], in_ch, None
    for l in layers:
        op = l["op"]
        if op == "conv2d":
            mods.append(nn.Conv2d(ch, l["out"], l["kernel"], l.get("stride", 1), l.get("padding", 0), bias=l.get("bias", True)))
            ch = l["out"]
        elif op == "batchnorm2d":
            mods.append(nn.BatchNorm2d(ch))
        elif op in ACTS:
            mods.append(ACTS[op]())
        elif op == "maxpool2d":
            mods.append(nn.MaxPool2d(l["kernel"], l.get("stride") or l["kernel"], l.get("padding", 0)))
        elif op == "resnet_stages":
            m, ch = stages(ch, l["widths"], l["blocks"], l.get("act", "relu"))
            mods.append(m)
        elif op == "adaptive_avgpool2d":
            mods.append(nn.AdaptiveAvgPool2d(l.get("size", 1)))
            flat = ch * l.get("size", 1) ** 2
        elif op == "flatten":
            mods.append(nn.Flatten())
        elif op == "linear":
            mods.append(nn.Linear(flat, l["out"]))
        else:
            raise SystemExit(f"bench_ref.py: op {op} not supported by the reference")
    return nn.Sequential(*mods)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tuned", action="store_true", help="bf16 autocast + channels_last")
    a = ap.parse_args()
    cfg = tomllib.load(open(a.config, "rb"))
    torch.set_num_threads(a.threads)
    torch.manual_seed(cfg["train"]["seed"])
    tf = T.Compose([T.ToTensor(), T.Normalize([0.48, 0.45, 0.40], [0.27, 0.26, 0.28])])
    full = torchvision.datasets.ImageFolder(f"{a.data}/train", transform=tf)
    classes = cfg["data"]["classes"]
    keep = [i for i, (_, y) in enumerate(full.samples) if full.classes[y] in classes]
    n_val = int(len(keep) * cfg["data"]["val_fraction"])
    g = torch.Generator().manual_seed(0)
    train, val = torch.utils.data.random_split(torch.utils.data.Subset(full, keep), [len(keep) - n_val, n_val], g)
    bs = cfg["train"]["batch_size"]
    tl = torch.utils.data.DataLoader(train, bs, shuffle=True, num_workers=2)
    vl = torch.utils.data.DataLoader(val, bs, num_workers=2)
    model = build(cfg["layers"], cfg["input"]["shape"][0])
    fmt = torch.channels_last if a.tuned else torch.contiguous_format
    model = model.to(memory_format=fmt)
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.tuned)
    opt = torch.optim.Adam(model.parameters(), cfg["train"]["lr"])
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, a.epochs + 1):
        t = time.time()
        model.train()
        correct = total = 0
        for x, y in tl:
            with autocast():
                out = model(x.to(memory_format=fmt))
                loss = loss_fn(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == y).sum().item()
            total += len(y)
        train_acc = correct / total
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in vl:
                with autocast():
                    correct += (model(x.to(memory_format=fmt)).argmax(1) == y).sum().item()
                total += len(y)
        print(f"epoch {epoch} seconds {time.time() - t:.2f} train_acc {train_acc:.4f} val_acc {correct / total:.4f}", flush=True)


if __name__ == "__main__":
    main()
