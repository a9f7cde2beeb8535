"""PyTorch's own CPU autocast (bfloat16) on fixed inputs: which dtype each operator returns, its values, and the dtype of
the gradients, for test/torch/autocast.test.ts to compare with effnet's autocast through the binding.

Inputs are exact in float32: value(i, k) = ((i * 37 + k) % 101 - 50) / 64.
Prints one JSON object: {op: {"dtype": str, "shape": [...], "values": [...]}}.
"""
import json

import torch
import torch.nn.functional as F


def values(n, k):
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 37 + k) % 101) - 50).to(torch.float32) / 64


def main():
    torch.set_num_threads(1)
    x = values(2 * 3 * 8 * 8, 1).reshape(2, 3, 8, 8)
    w = values(4 * 3 * 3 * 3, 2).reshape(4, 3, 3, 3).requires_grad_()
    b = values(4, 3).requires_grad_()
    lw = values(3 * 5, 4).reshape(3, 5).requires_grad_()
    lb = values(3, 5).requires_grad_()
    a = values(2 * 5, 6).reshape(2, 5)
    m = values(5 * 3, 7).reshape(5, 3)
    bn_weight = torch.ones(4)
    bn_bias = torch.zeros(4)
    target = torch.tensor([2, 0], dtype=torch.int64)
    out = {}

    def record(name, t):
        out[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": t.detach().float().reshape(-1).tolist()}

    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv = F.conv2d(x, w, b, padding=1)
        record("conv2d", conv)
        record("silu", F.silu(conv))
        record("batch_norm", F.batch_norm(conv, torch.zeros(4), torch.ones(4), bn_weight, bn_bias, training=True, momentum=0.1, eps=1e-5))
        record("sum", conv.sum(dim=(2, 3)))
        logits = F.linear(a, lw, lb)
        record("linear", logits)
        record("matmul", torch.matmul(a, m))
        record("softmax", F.softmax(logits, dim=1))
        record("log_softmax", F.log_softmax(logits, dim=1))
        loss = F.cross_entropy(logits, target, label_smoothing=0.1) + conv.float().pow(2).mean()
        record("cross_entropy", F.cross_entropy(logits, target, label_smoothing=0.1))
    loss.backward()
    record("grad_conv_weight", w.grad)
    record("grad_linear_weight", lw.grad)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
