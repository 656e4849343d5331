#!/usr/bin/env python3
"""Peer for bench/run kernels: fp32 matmul GFLOP/s of NumPy's BLAS (OpenBLAS) on this machine.

Prints one line per size: "<n> <gflops>". Best of REPS runs after one warm-up, like the Java side.
"""
import sys
import time

import numpy as np

REPS = 5
for n in [int(a) for a in sys.argv[1:]] or [1024]:
    rng = np.random.default_rng(1)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(REPS):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    print(n, 2 * n**3 / best / 1e9)
