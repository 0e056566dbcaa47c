"""Do the pairs the reward model is least sure about teach it more than random ones? A simulation on human picks.

The training split of all shared human comparisons (split by document, as `bench/reward_quality.py`) is a pool of
questions whose answers (the human picks) are revealed only when asked. Starting from the default reward model at
step 0 (the zero-shot MiniLM cosine judge, features scaled on the pool), for N = 50, 100, 200, 300, 400 the next
picks are asked either by the model's uncertainty (highest entropy of P(b beats a) under the model trained on the
picks so far) or at random; the head is trained from its start on all N picks (`uncertainty_sampling_curve`) and
scored on the held-out split (documents never in the pool). Several seeds (random order, tie-breaking, data order).

Writes `<out>/uncertainty_sampling.png` (learning curves, mean and min-max over seeds, with the trivial judges),
`<out>/uncertainty_sampling.json` and `<out>/report.md`.
Usage: python bench/uncertainty_sampling.py [--seeds 5] [--out runs/uncertainty_sampling] [--threads 2] [--max-length 512]
Last line: n=N uncertainty=A random=B gain=A-B (mean held-out accuracy at the largest N)
"""
import argparse, json, os, time, warnings
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
import torch

from rlhf_summ.data import load_comparison_files, split_by_document
from rlhf_summ.evaluate import judge_accuracy, longer_judge, overlap_judge
from rlhf_summ.reward import RewardConfig, RewardModel, document_text, normalization_pool, uncertainty_sampling_curve

ROOT = Path(__file__).resolve().parents[1]
SIZES = (50, 100, 200, 300, 400)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--out', default='runs/uncertainty_sampling')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--max-length', type=int, default=RewardConfig.max_length, help='document tokens the encoder embeds')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    config = RewardConfig()
    pool, heldout = split_by_document(load_comparison_files(config.data), config.val_fraction, config.seed)
    t0 = time.time()
    model = RewardModel.from_pretrained(config.model, args.max_length, device='cpu')
    model.set_feature_scale(model.features(*normalization_pool(pool, config.norm_samples, config.seed)).std(0))
    curves = {s: [] for s in ('uncertainty', 'random')}
    for seed in range(args.seeds):
        for strategy in curves:
            curve = uncertainty_sampling_curve(model, pool, heldout, SIZES, strategy, seed, config.epochs, config.lr,
                                               config.batch_size)
            curves[strategy].append(curve)
            print(f"seed {seed} {strategy:>11}: " + ' '.join(f"{n}:{a:.3f}" for n, a in curve.items()), flush=True)
    mean = {s: {n: sum(c[n] for c in cs) / len(cs) for n in SIZES} for s, cs in curves.items()}
    judges = {'longer wins': judge_accuracy(longer_judge, heldout, document_text),
              'more overlap wins': judge_accuracy(overlap_judge, heldout, document_text)}
    (out/'uncertainty_sampling.json').write_text(json.dumps(dict(sizes=SIZES, curves=curves, mean=mean, judges=judges,
                                                                  pool=len(pool), heldout=len(heldout)), indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, cs in curves.items():
        ax.plot(SIZES, [mean[strategy][n] for n in SIZES], marker='o', label=f'{strategy} ({len(cs)} seeds)')
        ax.fill_between(SIZES, [min(c[n] for c in cs) for n in SIZES], [max(c[n] for c in cs) for n in SIZES], alpha=0.2)
    for (name, acc), style in zip(judges.items(), (':', '--')): ax.axhline(acc, color='gray', linestyle=style, label=name)
    ax.set_xlabel('human picks asked (N)'); ax.set_ylabel(f'held-out accuracy ({len(heldout)} comparisons)')
    ax.set_title('Reward model: picks chosen by uncertainty vs at random'); ax.legend(fontsize=8)
    fig.tight_layout(); fig.savefig(out/'uncertainty_sampling.png', dpi=120)
    n = max(SIZES)
    gain = mean['uncertainty'][n] - mean['random'][n]
    rows = '\n'.join(f"| {k} | " + ' | '.join(f"{mean['uncertainty'][k]:.3f}" if s == 'u' else f"{mean['random'][k]:.3f}"
                                             for s in 'ur') + f" | {mean['uncertainty'][k] - mean['random'][k]:+.3f} |" for k in SIZES)
    verdict = ('asking by uncertainty helped' if gain > 0.01 else 'asking by uncertainty hurt' if gain < -0.01
               else 'asking by uncertainty made no difference beyond noise')
    (out/'report.md').write_text(
        f"# Uncertainty sampling, simulated on human picks\n\nPool: {len(pool)} training comparisons; held out: {len(heldout)} "
        f"comparisons of other documents; {args.seeds} seeds; {args.max_length} document tokens. Trivial judges on the held-out rows: "
        + ', '.join(f"{k} {v:.3f}" for k, v in judges.items()) +
        f".\n\n| N | uncertainty | random | difference |\n|---|---|---|---|\n{rows}\n\nAt N = {n}: {verdict} "
        f"({gain:+.3f}).\n\n![learning curves](uncertainty_sampling.png)\n")
    print(f"wrote {out} in {time.time() - t0:.0f} s")
    print(f"n={n} uncertainty={mean['uncertainty'][n]:.4f} random={mean['random'][n]:.4f} gain={gain:.4f}")


if __name__ == '__main__':
    main()
