"""The authors' ResNet-18 in PyTorch, for ``bench_resnet.py``: a child process that imports only
numpy and torch (neither this package nor its dependencies), so that it can run in another
Python environment (``--torch-python``).

    python benchmarks/torch_resnet.py time N DTYPE THREADS     # time training steps, on request
    python benchmarks/torch_resnet.py check IN.npz OUT.npz     # loss, gradient, new statistics

``check`` reads the weights and running statistics under PyTorch's ``state_dict`` names (as
``ResNet18.unflatten`` and ``init_state`` give them), the images, labels and Dropout2d keep-masks,
and writes PyTorch's training-mode loss, gradient, new running statistics and evaluation-mode
loss, in float64.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """The authors' network; ``masks`` (keep-masks of Dropout2d, or None) replaces torch's own
    random dropout so that both implementations see one function."""

    def __init__(self, n_classes=10, widths=(16, 32, 64, 128), strides=(1, 2, 1, 2), p=0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c_in = widths[0]
        for i, (c, s) in enumerate(zip(widths, strides, strict=True), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(c_in, c, s), BasicBlock(c, c, 1)))
            c_in = c
        self.fc = nn.Linear(c_in, n_classes)
        self.p = p
        self.drop = nn.Dropout2d(p)

    def _drop(self, x, keep):
        if not self.training:
            return x
        if keep is None:
            return self.drop(x)
        return x * keep[:, :, None, None].to(x.dtype) / (1 - self.p)

    def forward(self, x, masks=None):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self._drop(self.layer2(self.layer1(x)), None if masks is None else masks[0])
        x = self._drop(self.layer4(self.layer3(x)), None if masks is None else masks[1])
        return self.fc(F.avg_pool2d(x, 4).flatten(1))


def time_worker(n: int, dtype_name: str, threads: int) -> None:
    """For each line ``k`` on stdin, time ``k`` training steps (zero_grad, forward, backward,
    SGD step) at batch ``n``; print the times (s) as JSON."""
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = ResNet18().to(getattr(torch, dtype_name)).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((n, 3, 32, 32)).astype(dtype_name))
    y = torch.from_numpy(rng.integers(0, 10, n))
    print(json.dumps(True), flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(net(X), y).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)


def check(inp: str, out: str) -> None:
    torch.set_default_dtype(torch.float64)
    with np.load(inp, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    net = ResNet18(n_classes=int(data["n_classes"])).double()
    sd = {k[len("sd."):]: torch.from_numpy(v) for k, v in data.items() if k.startswith("sd.")}
    net.load_state_dict(sd, strict=True)
    X, y = torch.from_numpy(data["X"]), torch.from_numpy(data["y"])
    masks = [torch.from_numpy(data["keep0"]), torch.from_numpy(data["keep1"])]
    net.train()
    loss = F.cross_entropy(net(X, masks), y)
    loss.backward()
    res = {"loss": np.array(loss.item()), "eval_loss": np.zeros(())}
    res.update({f"grad.{k}": p.grad.numpy() for k, p in net.named_parameters()})
    res.update({f"state.{k}": v.numpy() for k, v in net.state_dict().items() if "running" in k
                or "num_batches" in k})
    net.eval()
    with torch.no_grad():
        res["eval_loss"] = np.array(F.cross_entropy(net(X), y).item())
    np.savez(out, **res)


if __name__ == "__main__":
    if sys.argv[1] == "time":
        time_worker(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        check(sys.argv[2], sys.argv[3])
