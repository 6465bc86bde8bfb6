#!/usr/bin/python3
"""Parameter counts of DARTS's evaluation networks, built in PyTorch the way DARTS's
cnn/model.py builds NetworkCIFAR / NetworkImageNet (and its auxiliary heads), for checking
`clnas net --space darts` (tests/test_darts.c). Counts like DARTS's utils.count_parameters_in_MB:
every parameter tensor whose name does not contain "auxiliary".

usage: darts_params_torch.py GENOTYPE C LAYERS CLASSES cifar|imagenet
prints: "params N aux M"
"""
import sys
from collections import namedtuple

import torch.nn as nn

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


def relu_conv_bn(cin, cout):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.c2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout)


def sep_half(c, k, stride, pad, dil):
    return [nn.ReLU(), nn.Conv2d(c, c, k, stride, pad, dilation=dil, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]


def make_op(name, c, stride):
    if name == "none" or name in ("avg_pool_3x3", "max_pool_3x3"):
        return nn.Identity()  # no parameters
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return nn.Sequential(*sep_half(c, k, stride, k // 2, 1), *sep_half(c, k, 1, k // 2, 1))
    if name.startswith("dil_conv"):
        return nn.Sequential(*sep_half(c, k, stride, k - 1, 2))
    raise ValueError(name)


class Cell(nn.Module):
    def __init__(self, genotype, cpp, cp, c, reduction, reduction_prev):
        super().__init__()
        self.pre0 = FactorizedReduce(cpp, c) if reduction_prev else relu_conv_bn(cpp, c)
        self.pre1 = relu_conv_bn(cp, c)
        pairs, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
        self.ops = nn.ModuleList(make_op(n, c, 2 if reduction and j < 2 else 1) for n, j in pairs)
        self.multiplier = len(list(concat))


def aux_head(c, classes, imagenet):
    layers = [nn.ReLU(), nn.AvgPool2d(5, 2 if imagenet else 3), nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128),
              nn.ReLU(), nn.Conv2d(128, 768, 2, bias=False)]
    if not imagenet:
        layers.append(nn.BatchNorm2d(768))
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(768, classes))


class Network(nn.Module):
    def __init__(self, C, classes, layers, genotype, imagenet):
        super().__init__()
        if imagenet:
            self.stem0 = nn.Sequential(nn.Conv2d(3, C // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(C // 2), nn.ReLU(),
                                       nn.Conv2d(C // 2, C, 3, 2, 1, bias=False), nn.BatchNorm2d(C))
            self.stem1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, 2, 1, bias=False), nn.BatchNorm2d(C))
            cpp, cp, cc, rprev = C, C, C, True
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
            cpp, cp, cc, rprev = 3 * C, 3 * C, C, False
        self.cells = nn.ModuleList()
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red:
                cc *= 2
            cell = Cell(genotype, cpp, cp, cc, red, rprev)
            self.cells.append(cell)
            rprev = red
            cpp, cp = cp, cell.multiplier * cc
            if i == 2 * layers // 3:
                c_aux = cp
        self.auxiliary_head = aux_head(c_aux, classes, imagenet)
        self.classifier = nn.Linear(cp, classes)


def main():
    g = eval(sys.argv[1], {"Genotype": Genotype, "range": range})
    C, layers, classes = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    net = Network(C, classes, layers, g, sys.argv[5] == "imagenet")
    main_p = sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n)
    aux_p = sum(p.numel() for n, p in net.named_parameters() if "auxiliary" in n)
    print("params %d aux %d" % (main_p, aux_p))


if __name__ == "__main__":
    main()
