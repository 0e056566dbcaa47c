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

Measured 2026-12-05 on the shared 2-core machine, idle (load 0.5-1.6), after batches of similar sentence count,
packed training tensors, a 3x faster `lexical_centrality` and lead-1 scored once: warm, median of 3 rounds, **19.1 s**
(18.9-19.8; read 4.2, embed 0.2, features 1.1, train 10.9, evaluate 1.2; 28.9 s of CPU); cold, one round, **40.7 s**
(embed 22.6, train 10.6; 72.3 s of CPU). Before them, at load 5-6 side by side: 37.5 s warm (35.3 s of CPU), against
25.8 s after (23.1 s of CPU); last session's figures were 36.5 s warm and 221 s cold. Held-out ROUGE-1
(`bench/policy_quality.py`, SciTLDR dev first 200) 39.88 -> 39.63 from the bucketing alone (the other changes are
bit-identical). Imports still cost about 3 s of each run (nltk through rouge_score, torch._dynamo through the optimizer,
torch).
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
