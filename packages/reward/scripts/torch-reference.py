#!/usr/bin/env python3
"""Same-machine PyTorch reference for `pnpm bench` (issue: fast scoring on CPU).

Times, in PyTorch on the CPU, a network with the FLOPs of the `paper` RAHF preset's scores-only forward:
ViT-B/16 on a 224² image (pre-LN encoder, GELU), a 768→768 projection, a T5-base-sized encoder over the
196 image tokens + the prompt's tokens (ReLU FFN), and four score heads with youweiliang's widths
(3×3 convs 768→768→384→192→96→48→16 on the 14² map, then 3136→2048→1024→1). The layers are torch's own
(nn.TransformerEncoderLayer, nn.Conv2d, nn.Linear) with random weights: this measures what the machine's
PyTorch does with the same work, not RAHF's numbers (parity is checked elsewhere, against youweiliang's
model on small presets). T5's relative position bias and RMS norm are replaced by LayerNorm and no bias,
which changes the cost by well under 1 %.

Prints one JSON object. Debian's python3-torch (1.13) links BLAS through libblas.so.3: with
libopenblas0-pthread installed the alternative points at OpenBLAS (the generic reference BLAS is ~10× slower).

    /usr/bin/python3 packages/reward/scripts/torch-reference.py --threads 2 --runs 5 --tokens 230
"""
import argparse
import json
import os
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=230, help="encoder sequence length (image + prompt tokens)")
    ap.add_argument("--grad", action="store_true", help="also time d(sum of two scores)/d(pixels) at batch 1")
    a = ap.parse_args()
    try:
        import torch
        from torch import nn
    except Exception as e:  # noqa: BLE001 - any import failure means "no reference here"
        print(json.dumps({"error": f"PyTorch not importable: {e}"}))
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    def encoder(layers: int, act: str) -> nn.Module:
        layer = nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation=act, batch_first=True, norm_first=True)
        return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    class ScoreHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = [768, 768, 384, 192, 96, 48, 16]
            self.convs = nn.Sequential(*[m for i in range(6) for m in (nn.Conv2d(widths[i], widths[i + 1], 3, padding=1), nn.ReLU())])
            self.mlp = nn.Sequential(nn.Linear(16 * 14 * 14, 2048), nn.ReLU(), nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, 1))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return torch.sigmoid(self.mlp(self.convs(x).flatten(1)))

    class Rahf(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 768, 16, stride=16)
            self.cls = nn.Parameter(torch.zeros(1, 1, 768))
            self.pos = nn.Parameter(torch.randn(1, 197, 768) * 0.02)
            self.vit = encoder(12, "gelu")
            self.proj = nn.Linear(768, 768)
            self.embed = nn.Embedding(32128, 768)
            self.t5 = encoder(12, "relu")
            self.heads = nn.ModuleList([ScoreHead() for _ in range(4)])

        def forward(self, px: "torch.Tensor", ids: "torch.Tensor") -> "torch.Tensor":
            b = px.shape[0]
            x = self.patch(px).flatten(2).transpose(1, 2)
            x = self.vit(torch.cat([self.cls.expand(b, -1, -1), x], 1) + self.pos)
            x = torch.cat([self.proj(x[:, 1:]), self.embed(ids)], 1)
            x = self.t5(x)[:, :196].transpose(1, 2).reshape(b, 768, 14, 14)
            return torch.cat([h(x) for h in self.heads], 1)

    model = Rahf().eval()
    text = a.tokens - 196

    def inputs(b: int):
        return torch.rand(b, 3, 224, 224) * 2 - 1, torch.randint(0, 32128, (b, text))

    def timed(fn, runs: int):
        fn()
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return {"median_s": statistics.median(ts), "min_s": min(ts)}

    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
        "tokens": a.tokens,
        "runs": a.runs,
    }
    with torch.inference_mode():
        x1, t1 = inputs(1)
        x8, t8 = inputs(8)
        out["forward_bs1"] = timed(lambda: model(x1, t1), a.runs)
        out["forward_bs8"] = timed(lambda: model(x8, t8), a.runs)
        out["forward_bs8_img_per_s"] = 8 / out["forward_bs8"]["median_s"]
        vit_in = torch.cat([model.cls, model.patch(x1).flatten(2).transpose(1, 2)], 1) + model.pos
        out["vit_bs1"] = timed(lambda: model.vit(vit_in), a.runs)
    if a.grad:
        for p in model.parameters():
            p.requires_grad_(False)

        def grad():
            px = x1.clone().requires_grad_(True)
            s = model(px, t1)
            (s[0, 2] + s[0, 3]).backward()
            return px.grad

        out["scoregrad_bs1"] = timed(grad, a.runs)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
