"""Benchmark: similarity scoring overhead vs a bare ``SentenceTransformer.encode``, and cached reruns.

Pairs (default 2,000, all 4,000 texts distinct so deduplication gives no free win) are built
from the shared datasets: SF restaurant/hotel NLG system outputs vs their human references,
COVID question paraphrase pairs, COVID FAQ answer paragraphs vs word-perturbed copies, and
CLINC150 support utterances vs perturbed copies.

Cost is measured as process CPU time (all threads) and wall time; the machine is shared, so CPU
time is the primary figure (wall time swings with other processes' load). Torch runs with
``--threads`` threads (default 1, so CPU time is not inflated by spin-waiting threads).

Timings (model loading excluded, one warm-up encode first, median over ``--reps``):
* bare:   ``model.encode(responses + references, batch_size=B, normalize_embeddings=True)``
* scored: ``SimilarityScorer(cache_dir=<empty>).cosine(responses, references)`` (hashing, cache
          lookups, one encode, shard write, dot products). Target: overhead <= 10 %.
* rerun:  a new scorer on the same cache folder (shards re-read from disk) scoring *new*
          responses (the old ones with two adjacent words swapped: new texts, same token count)
          against the same references: only responses are encoded. Target: speedup >= 1.8x.

Run: ``python -m eval_pipeline_tests.benchmarks.similarity [--pairs 2000] [--reps 3] [--batch-size 64]``.
Last line: ``similarity overhead=<fraction> rerun_speedup=<x>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
DATASETS = Path(os.environ["EVAL_SHARED_DATASETS"]) if os.environ.get("EVAL_SHARED_DATASETS") else None


def _read(name: str) -> list[dict]:
    path = (
        DATASETS / f"{name}.jsonl"
        if DATASETS
        else next(
            p for d in ("calibration", "golden", "synthetic") if (p := DATA / d / f"{name}.jsonl").exists()
        )
    )
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def perturb(text: str, rng: random.Random, rate: float = 0.12) -> str:
    """A plausible 'model answer' variant: drop, duplicate or swap a few words."""
    words = text.split()
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3 and out:
            out[-1], w = w, out[-1]
        out.append(w)
        if r > 1 - rate / 3:
            out.append(w)
    return " ".join(out) or text


def swap_words(text: str, rng: random.Random) -> str:
    """Swap one random pair of adjacent words (same word multiset, so the same token count)."""
    words = text.split()
    if len(words) < 2:
        return text
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def build_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` (response, reference) pairs with every text distinct."""
    rng = random.Random(seed)
    cands: list[tuple[str, str]] = []
    for r in _read("sf_dialogue_nlg_ratings"):
        cands.append((r["input"]["system_output"], r["input"]["reference"]))
    for r in _read("covid_question_similarity"):
        cands.append((r["input"]["question_2"], r["input"]["question_1"]))
    for r in _read("covid_faq_qa"):
        for para in re.split(r"\n\s*\n", r["expected"]):
            if len(para.split()) >= 5:
                cands.append((perturb(para, rng), para))
    for r in _read("clinc150_intent"):
        if len(r["input"].split()) >= 4:
            cands.append((perturb(r["input"], rng, 0.3), r["input"]))
    rng.shuffle(cands)
    seen: set[str] = set()
    resp, refs = [], []
    for a, b in cands:
        if a in seen or b in seen or a == b or not a.strip() or not b.strip():
            continue
        seen.update((a, b))
        resp.append(a)
        refs.append(b)
        if len(resp) == n:
            break
    # top up with perturbed copies of references (distinct texts) if the pool ran short
    i = 0
    while len(resp) < n:
        ref = perturb(refs[i % len(refs)], rng, 0.3) + f" ({i})"
        new = perturb(ref, rng)
        if ref not in seen and new not in seen and ref != new:
            seen.update((ref, new))
            resp.append(new)
            refs.append(ref)
        i += 1
    return resp, refs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch intra-op threads (0 = torch default, as the pipeline runs; 1 = steadier figures on a busy machine)",
    )
    args = ap.parse_args(argv)

    from eval_pipeline.evaluators.embeddings import SimilarityScorer, load_model

    responses, references = build_pairs(args.pairs)
    rng = random.Random(1)
    texts = responses + references
    seen = set(texts)
    new_responses = []  # a new model version's answers: fresh texts, same references
    for r in responses:  # same words reordered: a different text with exactly the same encode cost
        new, tries = swap_words(r, rng), 0
        while new in seen and tries < 50:
            new, tries = swap_words(r, rng), tries + 1
        if new in seen:
            new = r + " (new)"
        seen.add(new)
        new_responses.append(new)
    assert len(set(texts)) == len(texts) and not set(new_responses) & set(texts)
    words = [len(t.split()) for t in texts]
    print(
        f"pairs={len(responses)} texts={len(texts)} mean_words={statistics.mean(words):.1f} "
        f"batch_size={args.batch_size} reps={args.reps} cpus={os.cpu_count()} load_avg={os.getloadavg()[0]:.2f}"
    )

    t0 = time.perf_counter()
    model = load_model()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"model load {time.perf_counter() - t0:.1f}s (excluded)")
    model.encode(
        texts[:256], batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False
    )  # warm-up

    timings: dict[str, list[tuple[float, float]]] = {"bare": [], "scored": [], "rerun": []}  # (cpu, wall)

    def timed(name: str, fn) -> None:
        c, w = time.process_time(), time.perf_counter()
        fn()
        timings[name].append((time.process_time() - c, time.perf_counter() - w))

    with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
        for rep in range(args.reps):
            cache_dir = Path(tmp) / f"rep{rep}"
            scorer = SimilarityScorer(model=model, cache_dir=cache_dir, batch_size=args.batch_size)
            rerun = SimilarityScorer(model=model, cache_dir=cache_dir, batch_size=args.batch_size)
            steps = {
                "bare": lambda: model.encode(
                    texts, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False
                ),
                "scored": lambda: scorer.cosine(responses, references),  # noqa: B023
                "rerun": lambda: rerun.cosine(new_responses, references),  # needs "scored" first (same cache)  # noqa: B023
            }
            order = [["bare", "scored", "rerun"], ["scored", "rerun", "bare"], ["scored", "bare", "rerun"]][
                rep % 3
            ]
            for name in order:  # rotate the order so no variant always runs first
                timed(name, steps[name])
            assert scorer.encoded_texts == len(texts) and rerun.encoded_texts == len(new_responses)
            print(
                "rep %d: " % rep  # noqa: UP031
                + "  ".join(f"{k} cpu {v[-1][0]:.2f}s wall {v[-1][1]:.2f}s" for k, v in timings.items())
                + f"  load_avg={os.getloadavg()[0]:.2f}",
                flush=True,
            )

    med = {
        k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
        for k, v in timings.items()
    }
    overhead = med["scored"][0] / med["bare"][0] - 1.0
    speedup = med["scored"][0] / med["rerun"][0]
    wall_overhead = med["scored"][1] / med["bare"][1] - 1.0
    wall_speedup = med["scored"][1] / med["rerun"][1]
    print(f"bare encode (median)          cpu {med['bare'][0]:.2f}s  wall {med['bare'][1]:.2f}s")
    print(
        f"similarity scoring (median)   cpu {med['scored'][0]:.2f}s  wall {med['scored'][1]:.2f}s  "
        f"overhead cpu {overhead:+.3f} (wall {wall_overhead:+.3f})  target <= 0.10  {'OK' if overhead <= 0.10 else 'MISSED'}"
    )
    print(
        f"rerun, cached refs (median)   cpu {med['rerun'][0]:.2f}s  wall {med['rerun'][1]:.2f}s  "
        f"speedup cpu {speedup:.2f}x (wall {wall_speedup:.2f}x)  target >= 1.8x  {'OK' if speedup >= 1.8 else 'MISSED'}"
    )
    print(f"similarity overhead={overhead:.3f} rerun_speedup={speedup:.2f}")


if __name__ == "__main__":
    main()
