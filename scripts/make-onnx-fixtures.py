#!/usr/bin/python3
"""Writes the PyTorch reference models for the ONNX differentiator's test.

For each small model: <name>.onnx (torch.onnx.export, opset 13, batch
dimension dynamic, eval mode) and <name>.json with a seeded batch of inputs,
labels, PyTorch's logits, the input gradient of the cross-entropy SUMMED over
the batch (so each example's gradient is that of its own loss) and FGSM at
eps: PyTorch's predictions on clamp(x + eps * sign(grad), 0, 1). test/backend/onnx-pytorch.test.ts runs them through
backend/onnx/grad; the committed fixtures need no torch at test time.

Usage: /usr/bin/python3 scripts/make-onnx-fixtures.py [OUT_DIR]
(default test/backend/fixtures/onnx). Needs Debian python3-torch (1.13);
the onnx Python package is not needed.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 0.03
BATCH = 8


class ResNetBlock(nn.Module):
    """conv-bn-relu-conv-bn + identity skip, relu, global average pool, linear."""

    def __init__(self, c=8, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        h = F.relu(self.bn0(self.stem(x)))
        r = F.relu(self.bn1(self.conv1(h)))
        r = self.bn2(self.conv2(r))
        h = F.relu(h + r)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


class StandaloneBatchNorm(nn.Module):
    """BatchNorm after a non-conv op (an Add), so the export keeps it as a BatchNormalization node."""

    def __init__(self, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 4 * 4, classes)

    def forward(self, x):
        h = self.conv(x)
        h = F.relu(self.bn(h + 0.5))
        return self.fc(h.reshape(h.shape[0], -1))


class DepthwiseSeparable(nn.Module):
    """depthwise 3x3 (groups = channels, multiplier 2) + BN + ReLU6, pointwise 1x1, max pool, avg pool (padding not counted), linear."""

    def __init__(self, classes=6):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 12, 1)
        self.fc = nn.Linear(12 * 3 * 3, classes)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu6(self.bn(self.dw(h)))
        h = F.max_pool2d(F.relu(self.pw(h)), 3, stride=2, padding=1)
        h = F.avg_pool2d(h, 2, stride=1, padding=1, count_include_pad=False)
        return self.fc(h.flatten(1))


class Activations(nn.Module):
    """an MLP through Sigmoid, Tanh, GELU (exported as Erf), LeakyReLU, Softplus and eval-mode Dropout."""

    def __init__(self, classes=5):
        super().__init__()
        self.l1 = nn.Linear(3 * 8 * 8, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 24)
        self.l4 = nn.Linear(24, classes)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = x.flatten(1)
        h = torch.sigmoid(self.l1(h)) + torch.tanh(self.l1(h) * 0.5)
        h = F.gelu(self.drop(self.l2(h)))
        h = F.leaky_relu(self.l3(h), 0.1) + F.softplus(self.l3(h))
        return self.l4(h)


class Normalised(nn.Module):
    """per-channel input normalisation (x - mean) / std, conv, max pool, a view(batch, -1), linear."""

    def __init__(self, classes=10):
        super().__init__()
        self.register_buffer('mean', torch.tensor([0.49, 0.48, 0.45]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.25, 0.24, 0.26]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, classes)

    def forward(self, x):
        h = (x - self.mean) / self.std
        h = F.max_pool2d(F.relu(self.conv(h)), 2)
        return self.fc(h.view(h.size(0), -1))


MODELS = {
    'resnet-block': (ResNetBlock, {}),
    'batchnorm-node': (StandaloneBatchNorm, {}),
    'depthwise-separable': (DepthwiseSeparable, {}),
    'activations': (Activations, {}),
    'normalised-input': (Normalised, {}),
}


def randomise_batchnorm(model, gen):
    """Non-trivial running statistics and affine parameters (fresh ones are the identity)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def make(name, cls, out_dir, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = cls()
    randomise_batchnorm(model, gen)
    model.eval()
    x = torch.rand(BATCH, 3, 8, 8, generator=gen)
    with torch.no_grad():
        classes = model(x).shape[1]
    labels = torch.randint(0, classes, (BATCH,), generator=gen)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = F.cross_entropy(logits, labels, reduction='sum')
    (grad,) = torch.autograd.grad(loss, xg)
    adv = torch.clamp(x + EPS * grad.sign(), 0, 1)
    with torch.no_grad():
        adv_pred = model(adv).argmax(1)
    onnx_file = os.path.join(out_dir, f'{name}.onnx')
    extra = {'do_constant_folding': False, 'training': torch.onnx.TrainingMode.PRESERVE} if name == 'batchnorm-node' else {}
    torch.onnx.export(
        model,
        x,
        onnx_file,
        input_names=['x'],
        output_names=['logits'],
        dynamic_axes={'x': {0: 'batch'}, 'logits': {0: 'batch'}},
        opset_version=13,
        **extra,
    )
    data = {
        'model': name,
        'description': cls.__doc__,
        'torch': torch.__version__,
        'seed': seed,
        'inputShape': list(x.shape[1:]),
        'x': x.flatten().tolist(),
        'labels': labels.tolist(),
        'logits': logits.detach().flatten().tolist(),
        'loss': 'cross_entropy(logits, labels, reduction="sum")',
        'gradient': grad.flatten().tolist(),
        'fgsm': {'eps': EPS, 'predictions': adv_pred.tolist()},
    }
    with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')


FIXED_BATCH = 3
TRAINED_N = 8


def train_resnet(seed):
    """A ResNetBlock trained (300 full-batch Adam steps) to tell which of 5 directions the centred channel means point in, so FGSM at EPS flips some of its predictions (the random fixtures predict one class everywhere)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ResNetBlock()
    w = torch.randn(5, 3, generator=gen)
    x = torch.rand(256 + TRAINED_N, 3, 8, 8, generator=gen)
    y = ((x.mean((2, 3)) - 0.5) @ w.T).argmax(1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(model(x[:256]), y[:256]).backward()
        opt.step()
    model.eval()
    return model, x[256:], y[256:]


def make_trained(name, out_dir, seed):
    """<name>.onnx/.json as make() writes them, for the trained ResNetBlock on TRAINED_N held-out inputs; and <name>-batch3.onnx, the same model exported with its batch fixed at 3 (no dynamic axes)."""
    model, x, labels = train_resnet(seed)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction='sum'), xg)
    adv = torch.clamp(x + EPS * grad.sign(), 0, 1)
    with torch.no_grad():
        adv_pred = model(adv).argmax(1)
    common = {'input_names': ['x'], 'output_names': ['logits'], 'opset_version': 13}
    torch.onnx.export(model, x, os.path.join(out_dir, f'{name}.onnx'), dynamic_axes={'x': {0: 'batch'}, 'logits': {0: 'batch'}}, **common)
    torch.onnx.export(model, x[:FIXED_BATCH], os.path.join(out_dir, f'{name}-batch{FIXED_BATCH}.onnx'), **common)
    data = {
        'model': name,
        'description': train_resnet.__doc__,
        'torch': torch.__version__,
        'seed': seed,
        'inputShape': list(x.shape[1:]),
        'x': x.flatten().tolist(),
        'labels': labels.tolist(),
        'logits': logits.detach().flatten().tolist(),
        'loss': 'cross_entropy(logits, labels, reduction="sum")',
        'gradient': grad.flatten().tolist(),
        'fgsm': {'eps': EPS, 'predictions': adv_pred.tolist()},
    }
    with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'backend', 'fixtures', 'onnx')
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for i, (name, (cls, _)) in enumerate(MODELS.items()):
        make(name, cls, out_dir, seed=100 + i)
        print(f'wrote {name}.onnx and {name}.json')
    make_trained('resnet-trained', out_dir, seed=200)
    print(f'wrote resnet-trained.onnx, resnet-trained-batch{FIXED_BATCH}.onnx and resnet-trained.json')


if __name__ == '__main__':
    main()
