"""Wall time of `rlhf-summ train-extractive` (the default extractive policy at its default settings), from a warm
embedding cache or an empty one, and where it goes.

Each round runs the real command in a fresh process (`rlhf_summ.cli.main`, what the `rlhf-summ` script runs) with
`RLHF_SUMM_CACHE` set to a fresh temporary folder, so the trained policy lands there and never replaces the user's
default. `--warm` (the default) links that folder's `embeddings/` to the user's embedding cache
(`default_cache_dir()/embeddings`), so every sentence vector is already on disk (run once cold, or `train-extractive`
once, to fill it); `--cold` leaves it empty, so every sentence is embedded. `total_s` is the process from start to
exit; the split (`read`, `embed`, `features`, `train`, `evaluate`, `save`: wall seconds) is the run's own
`timings.json`; `rouge1` is the last held-out evaluation of the run (ROUGE-1 F1 x100 of greedy summaries on the
validation documents of its own split). The load average is printed beside every round.

    python bench/train_extractive.py [--cold] [--repeats 3] [--keep DIR] [-- extra train-extractive flags]

`--keep DIR` copies the last round's trained policy folder to DIR (for `bench/policy_quality.py --model DIR`).

Measured 2026-12-05 on the shared 2-core machine under heavy load (load average 13-15: six feedback-loop benchmarks
ran beside it), warm: before `sft_loss` encoded once (the code of `536493c`, one round) 70.7 s (read 7.4, features
1.3, train 54.9, evaluate 4.4; 52.9 s of CPU); after, median of 3 rounds, 40.3 s (read 4.9, features 1.4,
train 28.8, evaluate 2.6; 33.1 s of CPU). Again at load 7-8, side by side: before 64.5 s (57.9 s of CPU), after
36.5 s, median of 3 (35.2-37.9; 32-34 s of CPU). The optimizer's constructor alone imports `torch._dynamo` (1.3 s, torch
2.13), and 936 steps of about 26 ms remain: a third matmuls, a sixth dropout's random masks.
Last line: `mode=warm total_s=.. read_s=.. embed_s=.. features_s=.. train_s=.. evaluate_s=.. cpu_s=.. rouge1=.. load=L`
(medians over `--repeats` rounds; L the load average after them).
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

PARTS = ('read', 'embed', 'features', 'train', 'evaluate', 'save')


def load() -> str: return Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else 'n/a'


def one_round(args, extra) -> dict:
    from rlhf_summ.config import default_cache_dir
    with tempfile.TemporaryDirectory() as cache:
        if not args.cold: (Path(cache) / 'embeddings').symlink_to(default_cache_dir() / 'embeddings', target_is_directory=True)
        env = {**os.environ, 'RLHF_SUMM_CACHE': cache,
               'PYTHONPATH': os.environ.get('PYTHONPATH') or str(Path(__file__).resolve().parents[1])}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, '-c', 'import sys; from rlhf_summ.cli import main; sys.exit(main())',
                               'train-extractive', '--progress', 'false', *extra], capture_output=True, text=True, env=env,
                              cwd=cache)   # a neutral folder: `python -c` would import the package of the current folder first
        total = time.perf_counter() - start
        if proc.returncode != 0: raise SystemExit(f"train-extractive failed ({proc.returncode}): {proc.stderr[-2000:]}")
        run = Path(cache) / 'extractive-default'
        timings = json.loads((run / 'timings.json').read_text())
        evals = [r for r in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines()) if 'eval/extractive/rouge1' in r]
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(run, args.keep, ignore=shutil.ignore_patterns('checkpoints'))
    return {'total_s': total, **{f'{k}_s': v for k, v in timings['wall_s'].items()}, 'cpu_s': sum(timings['cpu_s'].values()),
            'rouge1': 100 * evals[-1]['eval/extractive/rouge1']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cold', action='store_true', help='an empty embedding cache (default: the user cache, warm)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--keep', default=None, help="copy the last round's policy folder here")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != '--']
    rounds = []
    for i in range(args.repeats):
        before = load()
        rounds.append(one_round(args, extra))
        r = rounds[-1]
        print(f"round {i}: total {r['total_s']:.1f} s (" + ', '.join(f"{k} {r[f'{k}_s']:.1f}" for k in PARTS)
              + f"; {r['cpu_s']:.1f} s of CPU), rouge1 {r['rouge1']:.2f}; load {before} -> {load()}", flush=True)
    med = lambda k: statistics.median(r[k] for r in rounds)
    print(f"mode={'cold' if args.cold else 'warm'} " + ' '.join(f"{k}={med(k):.2f}" for k in
          ('total_s', *(f'{p}_s' for p in PARTS if p != 'save'), 'cpu_s', 'rouge1')) + f" load={load()}")


if __name__ == '__main__':
    main()
