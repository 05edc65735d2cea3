"""Benchmark: the memory bank's nearest-neighbour search, exact torch (what the detectors use) against
faiss (exact ``IndexFlatIP`` and approximate ``IndexHNSWFlat``), for the bank sizes the station sees,
next to one DINOv2-small forward at the same resolution (what the search is added to).

Random unit vectors of DINOv2-small's width (384); the search cost does not depend on the values.
faiss is optional (``pip install faiss-cpu``); without it only torch is timed. Medians of ``--repeats``.

    .venv/bin/python tests/bench/bench_knn.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--banks", default="1024,7680,76800", help="bank sizes (4-shot 224 px, memory 300 parts 10 %%, full)"
    )
    parser.add_argument("--queries", type=int, default=256, help="patches per image (256 at 224 px, 1024 at 448 px)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from inspector.detectors.anomalydino import nearest_neighbour_distances
    from tests.bench.bench_training import cpu_name

    print(f"CPU: {cpu_name()}; torch threads {torch.get_num_threads()}; {args.queries} queries of {args.dim} dims")
    try:
        import faiss
    except ImportError:
        faiss = None
        print("faiss not installed: torch only")
    gen = torch.Generator().manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(args.queries, args.dim, generator=gen), dim=-1)
    rows = []
    for m in (int(v) for v in args.banks.split(",")):
        bank = torch.nn.functional.normalize(torch.randn(m, args.dim, generator=gen), dim=-1)
        exact = nearest_neighbour_distances(queries, bank)
        row = {
            "bank": m,
            "torch_fp32_ms": median_ms(lambda b=bank: nearest_neighbour_distances(queries, b), args.repeats),
        }
        bank_bf16 = bank.to(torch.bfloat16).T.contiguous()
        row["torch_bf16_rerank_ms"] = median_ms(
            lambda b=bank, lo=bank_bf16: nearest_neighbour_distances(queries, b, lo), args.repeats
        )
        if faiss is not None:
            q, b = queries.numpy(), bank.numpy()
            flat = faiss.IndexFlatIP(args.dim)
            flat.add(b)
            row["faiss_flat_ms"] = median_ms(lambda i=flat, x=q: i.search(x, 1), args.repeats)
            hnsw = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
            start = time.perf_counter()
            hnsw.add(b)
            row["faiss_hnsw_build_s"] = time.perf_counter() - start
            row["faiss_hnsw_ms"] = median_ms(lambda i=hnsw, x=q: i.search(x, 1), args.repeats)
            sims, _ = hnsw.search(q, 1)
            approx = 1.0 - sims[:, 0]
            row["hnsw_max_abs_error"] = float(np.abs(approx - exact.numpy()).max())
        rows.append(row)
        print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

    from inspector.detectors.factory import create_detector

    detector = create_detector(
        "anomalydino", device="cpu", dtype="auto", random_weights=True, params={"resolution": 224}
    )
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    forward = median_ms(lambda: detector.encoder_forward([image]), args.repeats)
    print(f"DINOv2-small forward, one 224 px image ({detector.info.dtype}): {forward:.1f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
