"""UNet2DModel at the google/ddpm-cifar10-32 configuration (35.7M params, random weights), Muse
vs diffusers + PyTorch on this machine, in one run: one forward at batch 1 and batch 8 (best of
several), one 50-step DDIM image. FLOPs per forward are counted with torch's FlopCounterMode
(multiply-add = 2 FLOPs) and give GFLOP/s for both.

    cargo build --release -p muse-diffusion --example bench_unet2d
    /work/refenv/bin/python scripts/bench/unet2d_side_by_side.py

Versions: torch 2.15.0, diffusers 0.42.1.
"""

import json
import os
import subprocess
import time

import torch
from diffusers import DDIMScheduler, UNet2DModel
from torch.utils.flop_counter import FlopCounterMode

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CFG = dict(
    sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), layers_per_block=2,
    downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=32,
    attention_head_dim=None,
)


def best_ms(reps, f):
    f()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best


def torch_side():
    torch.manual_seed(0)
    unet = UNet2DModel(**CFG).eval()
    params = sum(p.numel() for p in unet.parameters())
    t = torch.tensor([500.0])
    x1, x8 = torch.randn(1, 3, 32, 32), torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            unet(x1, t)
        flops = fc.get_total_flops()
        b1 = best_ms(5, lambda: unet(x1, t))
        b8 = best_ms(3, lambda: unet(x8, t))
        s = DDIMScheduler()
        s.set_timesteps(50)
        start = time.perf_counter()
        x = torch.randn(1, 3, 32, 32)
        for ts in s.timesteps:
            x = s.step(unet(x, ts).sample, ts, x).prev_sample
        ddim = (time.perf_counter() - start) * 1000
    return dict(impl="diffusers", params=params, forward_b1_ms=b1, forward_b8_ms=b8, forward_b8_ms_per_image=b8 / 8,
                ddim50_ms=ddim, torch_threads=torch.get_num_threads()), flops


def main():
    py, flops = torch_side()
    exe = os.path.join(ROOT, "target", "release", "examples", "bench_unet2d")
    # The allocator settings the `muse` binary applies with mallopt (freed blocks are kept instead
    # of returned to the OS, so every forward does not page-fault its buffers in again).
    # `muse image` also parks candle's element-wise pool at once (CANDLE_BARRIER_POOL_SPIN_LIMIT).
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(32 << 20), MALLOC_TRIM_THRESHOLD_=str(2**32 - 1),
               CANDLE_BARRIER_POOL_SPIN_LIMIT="0")
    r = subprocess.run([exe], capture_output=True, text=True, check=True, env=env)
    muse = json.loads(r.stderr.strip().splitlines()[-1])
    gf = flops / 1e9
    print(f"FLOPs per forward at batch 1: {gf:.2f} GFLOP; params {py['params']/1e6:.1f}M (muse {muse['params']/1e6:.1f}M)")
    print("| | forward b1 (ms) | GFLOP/s | forward b8 (ms/image) | GFLOP/s | 50-step DDIM (s) |")
    print("|---|---|---|---|---|---|")
    for r in (muse, py):
        print(f"| {r['impl']} | {r['forward_b1_ms']:.1f} | {gf / r['forward_b1_ms'] * 1000:.0f} | "
              f"{r['forward_b8_ms_per_image']:.1f} | {gf / r['forward_b8_ms_per_image'] * 1000:.0f} | "
              f"{r['ddim50_ms'] / 1000:.2f} |")
    print(f"muse's 50-step loop: UNet {muse['ddim50_unet_ms'] / 1000:.2f} s (median step "
          f"{muse['ddim50_unet_median_ms']:.0f} ms, slowest {muse['ddim50_unet_max_ms']:.0f} ms), "
          f"scheduler {muse['ddim50_scheduler_ms']:.1f} ms; back-to-back b1 forwards: median "
          f"{muse['forward_b1_noise_median_ms']:.0f} ms on noise, {muse['forward_b1_chained_median_ms']:.0f} ms "
          f"chained on the UNet's own output")


if __name__ == "__main__":
    main()
