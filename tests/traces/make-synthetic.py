#!/usr/bin/env python3
"""Synthetic CPU % traces with fixed seeds (1 Hz, 600 samples each):

  synth-step.csv      20 % <-> 70 % every 90 s, gaussian noise sd 3   (seed 1)
  synth-ramp.csv      idle 5 % to busy 95 % over 10 minutes, sd 3     (seed 2)
  synth-periodic.csv  50 + 30 sin(2 pi t / 120 s), sd 3                (seed 3)

Values are clamped to 0..100.  Re-running this script reproduces the
committed files byte for byte.
"""
import math
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
N = 600


def write(name, seed, f):
    rng = random.Random(seed)
    with open(os.path.join(here, name), "w") as out:
        out.write("timestamp,value\n")
        for i in range(N):
            v = min(100.0, max(0.0, f(i) + rng.gauss(0, 3)))
            out.write(f"{i}.000,{v:.2f}\n")


write("synth-step.csv", 1, lambda i: 70.0 if (i // 90) % 2 else 20.0)
write("synth-ramp.csv", 2, lambda i: 5 + 90.0 * i / N)
write("synth-periodic.csv", 3, lambda i: 50 + 30 * math.sin(2 * math.pi * i / 120.0))
