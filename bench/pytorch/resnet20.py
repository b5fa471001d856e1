"""PyTorch 1.13 CPU reference timings for the CIFAR ResNet-20 (He et al. 2016, 3x3 basic
blocks, 16/32/64 channels, 1x1 projection shortcuts where the shape changes), the model
issue 21 and 23 compare vicinal's engine with. Debian's python3-torch; never a runtime
dependency of vicinal. It measures, at one thread (vicinal's engine runs one intra-op
thread per worker process) and at batch 128:

  input-grad   forward + backward of the summed cross-entropy w.r.t. the input, eval mode
  pgd-10       10 steps of L-inf PGD (sign step 2.5 eps / 10, projection, [0, 1] clip)
  train-step   one SGD step (momentum 0.9, weight decay 5e-4) in train mode (BatchNorm
               batch statistics), reported as images/s

and, with --export FILE, writes the eval-mode model to ONNX (opset 13, dynamic batch); with
--reference FILE, a correctness reference for that export (and exits without timing): 4 seeded
inputs x [4, 3, 32, 32] in [0, 1], labels, the logits and the input gradient of the cross-entropy
summed over the batch, as base64 little-endian float32 (the committed bench/models/resnet20.json).

  /usr/bin/python3 bench/pytorch/resnet20.py [--threads 1] [--batch 128] [--reps 10] [--export F.onnx] [--reference F.json] [--no-train] [--json OUT]
"""
import argparse
import base64
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, num_classes=10, width=16, blocks=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for i, cout in enumerate([width, 2 * width, 4 * width]):
            for j in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_ms": 1000 * times[len(times) // 2], "min_ms": 1000 * times[0], "reps": reps}


def write_reference(model, file):
    g = torch.Generator().manual_seed(1)
    xr = torch.rand(4, 3, 32, 32, generator=g).requires_grad_(True)
    yr = torch.randint(0, 10, (4,), generator=g)
    logits = model(xr)
    F.cross_entropy(logits, yr, reduction="sum").backward()
    b64 = lambda t: base64.b64encode(t.detach().contiguous().numpy().astype("<f4").tobytes()).decode()
    ref = {"torch": torch.__version__, "shape": [4, 3, 32, 32], "labels": yr.tolist(), "x": b64(xr), "logits": b64(logits), "grad": b64(xr.grad)}
    with open(file, "w") as f:
        json.dump(ref, f)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--export")
    ap.add_argument("--json")
    ap.add_argument("--reference")
    ap.add_argument("--no-train", action="store_true", help="skip the train-step timing")
    ap.add_argument("--train-only", action="store_true", help="time the train step alone (no input-gradient, PGD-10 timing)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNet20()
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    model.eval()
    if a.export:
        torch.onnx.export(model, x[:1], a.export, opset_version=13, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    if a.reference:
        write_reference(model, a.reference)
        return

    def input_grad():
        xr = x.clone().requires_grad_(True)
        F.cross_entropy(model(xr), y, reduction="sum").backward()
        return xr.grad

    eps = 8 / 255

    def pgd10():
        step = 2.5 * eps / 10
        xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(10):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
            xa = torch.min(torch.max(xa.detach() + step * g.sign(), x - eps), x + eps).clamp(0, 1)
        return xa

    for p in model.parameters():
        p.requires_grad_(False)
    r_grad = None if a.train_only else timed(input_grad, a.reps)
    r_pgd = None if a.train_only else timed(pgd10, max(3, a.reps // 3))
    for p in model.parameters():
        p.requires_grad_(True)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    r_train = None if a.no_train else timed(train_step, a.reps)
    out = {
        "torch": torch.__version__,
        "threads": a.threads,
        "batch": a.batch,
        "params": params,
        "input_grad": r_grad,
        "pgd10": r_pgd,
        "train_step": r_train,
        "train_images_per_s": a.batch / (r_train["median_ms"] / 1000) if r_train else None,
    }
    text = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
