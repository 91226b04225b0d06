#!/usr/bin/env python3
"""PyTorch side of benchmarks/training_benchmark.cpp.

Trains the benchmark's nets in PyTorch the way the Caffe side does: SGD
(lr 0.01, momentum 0.9, weight decay 5e-4) on fixed synthetic input, with the
warm-up, rounds and iterations per round it is given, timed with CUDA events
around each round on the GPU (torch.backends.cudnn.benchmark = True, as
people train; TF32 convolutions only where CAFFE_CUDNN_ALLOW_TF32=1 lets
Caffe's use them too) or a monotonic clock on the CPU. Runs with any Python that has
torch; the benchmark starts it with $CAFFE_TORCH_PYTHON.

Prints, one per line: DEVICE <name>, TORCH <version and settings>,
ROUNDS <ms per iteration of each round>; or SKIP <reason> and exit status 3
when torch (or CUDA in torch) is missing.
"""
import argparse
import os
import sys
import time


def lenet(nn):
    """examples/occlusion/lenet_baseline.prototxt: Power (x/256), conv 20 5x5,
    max pool 2, conv 50 5x5, max pool 2, ip 500, ReLU, ip 10."""

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 5)
            self.pool1 = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(20, 50, 5)
            self.pool2 = nn.MaxPool2d(2, 2)
            self.ip1 = nn.Linear(50 * 4 * 4, 500)
            self.relu1 = nn.ReLU(inplace=True)
            self.ip2 = nn.Linear(500, 10)

        def forward(self, x):
            x = self.pool1(self.conv1(x * 0.00390625))
            x = self.pool2(self.conv2(x))
            return self.ip2(self.relu1(self.ip1(x.flatten(1))))

    return LeNet(), (64, 1, 28, 28), 256.0


def resnet(nn):
    """The Caffe side's ResNet-style net: 64-channel stem, a basic block at
    64 channels, one down to 128 (1x1 projection), global average pool, 10
    classes; convolutions without bias, each followed by BatchNorm with an
    affine part (Caffe's BatchNorm + Scale)."""

    def conv_bn(cin, cout, kernel, stride):
        return nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(cout))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.branch = nn.Sequential(
                conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True),
                conv_bn(cout, cout, 3, 1))
            self.shortcut = (conv_bn(cin, cout, 1, stride)
                             if stride != 1 or cin != cout else nn.Identity())
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.branch(x) + self.shortcut(x))

    net = nn.Sequential(
        conv_bn(3, 64, 3, 1), nn.ReLU(inplace=True),
        Block(64, 64, 1), Block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    return net, (32, 3, 32, 32), 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=["lenet", "resnet"], required=True)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int,
                        help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args()

    try:
        import torch
        from torch import nn
    except ImportError as error:
        print(f"SKIP torch does not import in {sys.executable}: {error} "
              "(set CAFFE_TORCH_PYTHON to a Python that has it)")
        return 3
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"SKIP torch {torch.__version__} in {sys.executable} "
              "sees no CUDA device")
        return 3

    torch.manual_seed(1701)
    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        # Float convolutions in the precision Caffe's use: FP32, or TF32
        # where CAFFE_CUDNN_ALLOW_TF32=1 lets Caffe's use it too.
        torch.backends.cudnn.allow_tf32 = (
            os.environ.get("CAFFE_CUDNN_ALLOW_TF32") == "1")
        name = torch.cuda.get_device_name(device)
        settings = (f"cudnn.benchmark=True, cudnn.allow_tf32="
                    f"{torch.backends.cudnn.allow_tf32}")
    else:
        if args.threads:
            torch.set_num_threads(args.threads)
        name = "CPU"
        capability = getattr(torch.backends.cpu, "get_cpu_capability",
                             lambda: "unknown")()
        settings = f"{torch.get_num_threads()} threads, {capability} kernels"
    print(f"DEVICE {name}")
    print(f"TORCH {torch.__version__} ({settings})")

    model, shape, scale = {"lenet": lenet, "resnet": resnet}[args.net](nn)
    model = model.to(device).train()
    data = torch.rand(shape, device=device) * scale
    label = (torch.arange(shape[0], device=device) % 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                                weight_decay=0.0005)
    loss_fn = nn.CrossEntropyLoss()

    def step(iters):
        for _ in range(iters):
            optimizer.zero_grad()
            loss_fn(model(data), label).backward()
            optimizer.step()

    step(args.warmup)
    rounds = []
    for _ in range(args.rounds):
        if args.device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            step(args.iters)
            stop.record()
            stop.synchronize()
            ms = start.elapsed_time(stop)
        else:
            begin = time.perf_counter()
            step(args.iters)
            ms = (time.perf_counter() - begin) * 1e3
        rounds.append(ms / args.iters)
    print("ROUNDS " + " ".join(f"{ms:.3f}" for ms in rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
