"""PyTorch definitions of the networks actfn trains, for `cargo xtask parity`.

Written from the papers, not from actfn's Rust code, so that equal parameter counts and
equal learning curves say something about both sides:

- `wrn-D-K`: WRN-d-k as xternalz/WideResNet-pytorch (Zagoruyko and Komodakis 2016):
  pre-activation basic blocks, dropout between the two convolutions, a 1x1 shortcut
  convolution of the first activation where the width changes, BN and activation before
  global average pooling; D = 6n + 4.
- `resnet-N`: the CIFAR ResNet of He et al. 2016 (section 4.2), N = 6n + 2: post-activation
  basic blocks in three stages of 16, 32 and 64 channels, parameter-free "option A"
  shortcuts (subsampling and zero channels).
- `vgg-11|13|16|19`: VGG (Simonyan and Zisserman 2015) in the common CIFAR form with batch
  normalisation after every convolution and one linear layer (kuangliu/pytorch-cifar).
- `allcnn-c`, `allcnn-c-nobn`: All-CNN-C (Springenberg et al. 2015) without dropout;
  `allcnn-c` puts batch normalisation between every convolution and its activation,
  `allcnn-c-nobn` is the network as published.
- `mlp-W-D`: D hidden layers of width W, each linear -> BatchNorm1d -> activation.
- `mobilenetv2`: MobileNetV2 (Sandler et al. 2018) for 32x32 images: stride 1 in the stem
  and in the second bottleneck stage, no dropout before the classifier.

The activation is a constructor argument used at every nonlinearity (default ReLU); only the
WRN has dropout. Initialisation, the same for every network: convolutions by PyTorch's
default (`uniform`) or N(0, 2 / (k*k*c_out)) with a zero bias (`he`); batch normalisation
weight 1, bias 0; linear layers PyTorch's default weight and bias 0.

`python networks.py --count ARCH --classes C` prints `parameters: N`, the trainable
parameters, for comparison with `actfn model summary`.
"""

import argparse
import math
import re
import sys

import torch.nn as nn
import torch.nn.functional as F


def initialise(net, init):
    """The shared initialisation, applied after construction (so `uniform` keeps PyTorch's
    default convolutions and their biases untouched)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and init == "he":
            k = m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (k * m.out_channels)))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride, dropout, act=F.relu):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.act = act
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False) if c_in != c_out else None
        )

    def forward(self, x):
        o = self.act(self.bn1(x))
        h = self.act(self.bn2(self.conv1(o)))
        if self.dropout > 0:
            h = F.dropout(h, p=self.dropout, training=self.training)
        y = self.conv2(h)
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    def __init__(self, depth, width, classes, dropout, init, act=F.relu, in_channels=3):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        self.act = act
        self.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        layers, c_in = [], 16
        for c_out, stride in zip(widths, [1, 2, 2]):
            for i in range(n):
                layers.append(
                    Block(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1, dropout, act)
                )
            c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, classes)
        initialise(self, init)

    def forward(self, x):
        h = self.act(self.bn(self.blocks(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class BasicBlock(nn.Module):
    """He et al.'s post-activation block with the option-A shortcut, which keeps the
    shortcut free of parameters as in the paper's CIFAR experiments."""

    def __init__(self, c_in, c_out, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride = stride
        self.c_in, self.c_out = c_in, c_out
        self.act = act

    def shortcut(self, x):
        if self.stride == 1 and self.c_in == self.c_out:
            return x
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        extra = self.c_out - self.c_in
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth, classes, init, act=F.relu, in_channels=3):
        super().__init__()
        n = (depth - 2) // 6
        self.act = act
        self.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers, c_in = [], 16
        for c_out, stride in zip([16, 32, 64], [1, 2, 2]):
            for i in range(n):
                layers.append(BasicBlock(c_in, c_out, stride if i == 0 else 1, act))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)
        initialise(self, init)

    def forward(self, x):
        h = self.blocks(self.act(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


VGG_CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}


class ConvNormAct(nn.Module):
    """Convolution, optional batch normalisation, activation: the unit of VGG and
    All-CNN-C."""

    def __init__(self, c_in, c_out, kernel, stride, padding, norm, act):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=True)
        self.bn = nn.BatchNorm2d(c_out) if norm else None
        self.act = act

    def forward(self, x):
        h = self.conv(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.act(h)


class VGG(nn.Module):
    def __init__(self, depth, classes, init, act=F.relu, in_channels=3):
        super().__init__()
        layers, c_in = [], in_channels
        for item in VGG_CONFIGS[depth]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(ConvNormAct(c_in, item, 3, 1, 1, True, act))
                c_in = item
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)
        initialise(self, init)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class AllCNNC(nn.Module):
    def __init__(self, classes, init, norm=False, act=F.relu, in_channels=3):
        super().__init__()
        # (c_out, kernel, stride, padding), Table 2 of Springenberg et al.; the strided
        # convolutions stand in for model C's max-pooling layers.
        spec = [
            (96, 3, 1, 1),
            (96, 3, 1, 1),
            (96, 3, 2, 1),
            (192, 3, 1, 1),
            (192, 3, 1, 1),
            (192, 3, 2, 1),
            (192, 3, 1, 0),
            (192, 1, 1, 0),
            (classes, 1, 1, 0),
        ]
        layers, c_in = [], in_channels
        for c_out, kernel, stride, padding in spec:
            layers.append(ConvNormAct(c_in, c_out, kernel, stride, padding, norm, act))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        initialise(self, init)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class MLP(nn.Module):
    def __init__(self, width, depth, classes, init, act=F.relu, inputs=3 * 32 * 32):
        super().__init__()
        self.act = act
        self.hidden = nn.ModuleList()
        self.norms = nn.ModuleList()
        prev = inputs
        for _ in range(depth):
            self.hidden.append(nn.Linear(prev, width))
            self.norms.append(nn.BatchNorm1d(width))
            prev = width
        self.fc = nn.Linear(prev, classes)
        initialise(self, init)

    def forward(self, x):
        h = x.flatten(1)
        for linear, norm in zip(self.hidden, self.norms):
            h = self.act(norm(linear(h)))
        return self.fc(h)


class InvertedResidual(nn.Module):
    def __init__(self, c_in, c_out, stride, expansion, act):
        super().__init__()
        hidden = c_in * expansion
        self.act = act
        self.residual = stride == 1 and c_in == c_out
        if expansion != 1:
            self.expand = nn.Conv2d(c_in, hidden, 1, 1, 0, bias=False)
            self.bn0 = nn.BatchNorm2d(hidden)
        else:
            self.expand = None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, c_out, 1, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        h = x
        if self.expand is not None:
            h = self.act(self.bn0(self.expand(h)))
        h = self.act(self.bn1(self.depthwise(h)))
        # Linear bottleneck: no activation after the projection.
        h = self.bn2(self.project(h))
        return x + h if self.residual else h


# (expansion t, channels c, blocks n, stride s); the second stage has stride 1 instead of
# the paper's 2, and the stem too, so that 32x32 images end at 4x4 rather than 1x1.
MOBILENETV2_SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2(nn.Module):
    def __init__(self, classes, init, act=F.relu, in_channels=3):
        super().__init__()
        self.act = act
        self.conv = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(32)
        layers, c_in = [], 32
        for t, c, n, s in MOBILENETV2_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t, act))
                c_in = c
        self.blocks = nn.Sequential(*layers)
        self.conv_last = nn.Conv2d(c_in, 1280, 1, 1, 0, bias=False)
        self.bn_last = nn.BatchNorm2d(1280)
        self.fc = nn.Linear(1280, classes)
        initialise(self, init)

    def forward(self, x):
        h = self.blocks(self.act(self.bn(self.conv(x))))
        h = self.act(self.bn_last(self.conv_last(h)))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


ARCHS = "wrn-D-K (D = 6n+4), resnet-N (N = 6n+2), vgg-11|13|16|19, allcnn-c, allcnn-c-nobn, mlp-W-D, mobilenetv2"


def build(arch, classes, in_channels=3, image_size=32, init="uniform", dropout=0.3, act=F.relu):
    """The network named `arch`; a ValueError names the accepted forms otherwise."""
    if classes < 1:
        raise ValueError(f"classes must be at least 1, not {classes}")
    if init not in ("uniform", "he"):
        raise ValueError(f"init must be uniform or he, not {init!r}")
    m = re.fullmatch(r"wrn-(\d+)-(\d+)", arch)
    if m:
        depth, width = int(m.group(1)), int(m.group(2))
        if depth < 10 or (depth - 4) % 6 != 0 or width < 1:
            raise ValueError(f"{arch}: a WRN needs depth 6n+4 (n >= 1) and width >= 1")
        return WideResNet(depth, width, classes, dropout, init, act, in_channels)
    m = re.fullmatch(r"resnet-(\d+)", arch)
    if m:
        depth = int(m.group(1))
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"{arch}: a CIFAR ResNet needs depth 6n+2 (n >= 1)")
        return ResNet(depth, classes, init, act, in_channels)
    m = re.fullmatch(r"vgg-(\d+)", arch)
    if m:
        depth = int(m.group(1))
        if depth not in VGG_CONFIGS:
            raise ValueError(f"{arch}: VGG depth must be one of 11, 13, 16, 19")
        return VGG(depth, classes, init, act, in_channels)
    if arch in ("allcnn-c", "allcnn-c-nobn"):
        return AllCNNC(classes, init, arch == "allcnn-c", act, in_channels)
    m = re.fullmatch(r"mlp-(\d+)-(\d+)", arch)
    if m:
        width, depth = int(m.group(1)), int(m.group(2))
        if width < 1 or depth < 1:
            raise ValueError(f"{arch}: an MLP needs width >= 1 and depth >= 1")
        return MLP(width, depth, classes, init, act, in_channels * image_size * image_size)
    if arch == "mobilenetv2":
        return MobileNetV2(classes, init, act, in_channels)
    raise ValueError(f"unknown architecture {arch!r}; expected one of: {ARCHS}")


def count(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", metavar="ARCH", required=True, help=ARCHS)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    a = p.parse_args()
    try:
        net = build(a.count, a.classes, a.in_channels, a.image_size)
    except ValueError as e:
        p.error(str(e))
    print(f"parameters: {count(net)}")


if __name__ == "__main__":
    sys.exit(main())
