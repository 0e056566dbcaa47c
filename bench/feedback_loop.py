"""The whole feedback loop against a simulated annotator: does a policy improve from people's picks?

Runs `rlhf_summ.simulate.run_simulation`: papers from `--data` (training splits) are uploaded into a fresh store
(SQLite in the run folder, or `--database-url`), the service's `GenerationWorker` writes each section's pair (the
current policy version against the previous one, uncertainty-chosen by default), a seeded simulated annotator
(`--annotator`: the reference annotator, or the "states a result" / "under 25 words" personas) picks, `OnlineLoop`
updates the reward model, every `--round-every` picks a policy round (RL from SFT against the current reward model,
KL to SFT) is gated and promoted. Measured on papers no stage saw (`--eval-data`, first `--eval-limit`), next to the
SFT policy, lead-1 and the one-sentence oracle, and, on the same picks, DPO and best-of-n reranking with the final
reward model; and a policy round against the annotator itself (a perfect reward model on the training sections;
not a ceiling: the loop's seed 0 passed it on 2026-12-07).

Prints the annotator calibration, one line per checkpoint of picks (the learning curve), the baselines, then:
picks=.. sft_rouge1=.. loop_rouge1=.. win_rate=.. win_low=.. win_high=.. persona_sft=.. persona_loop=..
rm_pair_accuracy=.. dpo_rouge1=.. best_of_n_rouge1=.. judge_optimum_rouge1=.. rm_optimum_rouge1=..
perfect_reward_rouge1=.. perfect_reward_win_rate=.. perfect_reward_persona=.. cpu_minutes=..
(`win_rate`: the annotator's preference for the promoted version over SFT on held-out papers, ties 1/2, 95% interval;
`persona_*`: share of held-out summaries with the persona's property (states a result, for the reference annotator);
`rm_pair_accuracy`: the final reward model's agreement with fresh annotator picks on held-out sample pairs;
`judge_optimum_*` / `rm_optimum_*`: the greedy KL-regularized optimum at `kl_coef` over SFT's candidate sentences of
each held-out paper (what a round's exact RL trains towards), for today's judge before any pick and for the final
reward model: their difference is what the picks added to the reward model as RL uses it (NaN for a policy of more
than one sentence); `perfect_reward_*`: one policy round with the run's RL settings on the same stored sections, from
SFT, whose reward is the annotator's own utility against the uploads' references (`simulate.perfect_reward_round`):
what a round can carry to held-out papers with a perfect reward model; ROUGE x100 against the first reference;
`cpu_minutes` of this process, baselines included.)

Measured 2026-12-07 (night) at the defaults since (the linear round at kl 1; a gate that promotes unless the reward
model prefers the serving version: `kl_coef=1`, `min_win_rate=0.5`, `gate_min_low=0`), on the second machine below:
SciTLDR 34.88/34.21/34.72 (mean 34.61, +2.10), win rate 0.588 [0.548, 0.618] / 0.527 [0.489, 0.563] / 0.517
[0.476, 0.557] (mean 0.544), best-of-8 35.21/33.86/34.52 (mean 34.53), DPO 33.61/31.44/31.91, 10.7-11.5 CPU minutes;
persona share 0.545/0.510/0.525 at 30.59/29.53/30.41 (win rate 0.562/0.542/0.550); SumPubMed 15.41/14.49/15.54
(mean 15.15; win rate 0.708/0.700/0.748; best-of-8 11.24/11.30/11.62, DPO 11.07/10.47/10.98), 31-52 CPU minutes.
Chosen by a rule on the issue's bars fixed before the runs: it meets every bar the old defaults met and one more
(best-of-8, by 0.08 on the mean). Measured after, the same machine and gate at `--set kl_coef=0.3`: SumPubMed
17.40/17.28/17.18 (mean 17.29; win rate 0.818/0.787/0.805; best-of-8 11.23/11.07/11.37, DPO 10.16/10.17/10.25),
27-43 CPU minutes for the loop: the setting for papers far from SciTLDR (`16_simulate`, "The two open bars are blocked").

Measured 2026-12-07 (evening) on a second machine (AMD EPYC), same code and seeds: a run repeats bit for bit on one
machine, not across CPUs. At that evening's defaults (kl 0.3, gate 0.55 with its interval above 0.5): SciTLDR 33.66/33.76/33.71 (mean 33.71), win rate 0.532/0.515/0.485,
best-of-8 34.85/34.72/34.60; persona share 0.565/0.590/0.545 at 29.34/28.81/30.31 (win rate 0.557/0.560/0.537). With a
gate that promotes unless the reward model prefers the serving version (`--set min_win_rate=0.5 --set gate_min_low=0`):
SciTLDR 34.69/34.22/35.21 (mean 34.71), win rate 0.557 [0.513, 0.596] / 0.510 / 0.540, best-of-8 35.31/34.18/33.93;
persona 0.580/0.555/0.545 at 28.83/29.00/29.86 (win rate 0.560/0.540/0.525); SumPubMed seed 0 17.40 (0.818), 51 CPU
minutes. Not the default: by a rule fixed before the runs the mean win rate had to rise 0.01, and it rose 0.0075.

Measured 2026-12-07 (afternoon) at that afternoon's defaults: the linear round at kl 0.3 (`SimConfig.rl_fit='linear'`,
`kl_coef=0.3`) and a last round on the picks since the last one (SciTLDR's uploads run out at 1,991), 2 shared CPU
cores: SciTLDR seeds 0/1/2: loop 34.11/33.55/33.93 (mean 33.86, +1.35), win rate 0.538 [0.489, 0.583] / 0.513
[0.468, 0.556] / 0.528 [0.483, 0.570], best-of-8 34.93/34.77/34.71 (mean 34.80), DPO 32.52/32.23/32.42, rm_optimum
34.61/35.11/35.53, 7.9-8.1 CPU minutes; the "states a result" persona: share 0.31 -> 0.525/0.530/0.565 at ROUGE-1
31.33/28.56/29.77 (win rate 0.570/0.548/0.565); SumPubMed: loop 17.02/17.19/17.18 (mean 17.13, +7.20; win rate 0.788
[0.730, 0.833] / 0.825 [0.770, 0.867] / 0.788 [0.728, 0.836]), best-of-8 11.27/11.40/11.53, DPO 10.20/9.84/10.82,
22-24 CPU minutes. The SGD round at kl 0.1 (the default before; `--set rl_fit=sgd --set kl_coef=0.1`) with the last
round: SciTLDR 35.10/32.75/33.14 (mean 33.66; win rate 0.557/0.510/0.500), best-of-8 34.78/33.86/33.84; persona
unchanged (below); SumPubMed unchanged (its runs end on a round).

Measured 2026-12-07 with the reward model's 5-letter stems (`FeedbackConfig.content_stem`, the default since), 2 shared
CPU cores: SciTLDR (defaults; SFT 32.51), seeds 0/1/2: loop 35.10/34.37/33.14 (mean 34.20, +1.69), win rate 0.557
[0.515, 0.594] / 0.522 [0.477, 0.567] / 0.500 [0.462, 0.538], best-of-8 35.26/34.70/34.02 (mean 34.66), DPO
32.62/34.13/32.72, rm_optimum 35.75/33.30/34.59, 9.5-10.7 CPU minutes; the "states a result" persona, seeds 0/1/2:
share 0.31 -> 0.515/0.510/0.455 at ROUGE-1 30.05/28.81/30.02; SumPubMed seeds 0/1/2: loop 17.11/17.05/17.33 (mean
17.16, +7.23; win rate 0.818 [0.760, 0.863] / 0.772 [0.710, 0.824] / 0.805 [0.746, 0.852]), best-of-8 11.13/11.52/11.82,
DPO 9.94/10.28/10.37, 31/33/33 CPU minutes. Whole words (the runs below): SciTLDR mean 33.60, persona 0.458 at 30.09,
SumPubMed 16.95. Random pairs (`--pairs random`, SciTLDR seed 0): loop 32.15 (win rate 0.495 [0.452, 0.538]) on
1,170 decisive picks, its final reward model's optimum 35.35 and best-of-8 34.93 (uncertainty-chosen: 35.75, 35.26).
`--set kl_coef=1`, SciTLDR seeds 0/1/2: loop 33.65/33.98/34.21 (mean 33.95), win rate 0.520/0.525/0.510, best-of-8
34.41/34.38/34.18 (mean 34.32), rm_optimum 34.37/34.82/35.15, 10.9 CPU minutes. The linear round (`--set rl_fit=linear
--set kl_coef=1`; `16_simulate`, "The linear round"), seeds 0/1/2: SciTLDR 34.72/34.50/33.84 (mean 34.35), win rate 0.580
[0.540, 0.612] / 0.507 / 0.532, best-of-8 35.15/33.75/34.51; persona 0.505/0.570/0.485 at 32.22/29.21/32.55; SumPubMed
15.40/15.01/15.37 (mean 15.26, +5.33; win rate 0.710/0.743/0.715), best-of-8 11.27/11.45/11.64, 21 CPU minutes; at
kl 0.1 (seed 0): SciTLDR 33.55 (win rate 0.520), persona 0.580 at 29.23, SumPubMed 17.03 (0.833).

Measured 2026-12-06 (night), the perfect reward model: SciTLDR seeds 0/1/2 33.96/33.66/33.40 (mean 33.67), win rate
0.525/0.522/0.505, against the loop's 33.70/33.15/33.96 (mean 33.60) and 0.560/0.527/0.482: the loop is at the ceiling.
The "states a result" persona: share 0.455/0.530/0.535 at ROUGE-1 31.53/29.85/30.16 (+19.7 points at -2.0), against the
loop's 0.430/0.480/0.465 at 30.77/29.20/30.29. About 11 CPU minutes a SciTLDR run (8 runs at once on 2 cores).
SumPubMed: perfect reward 18.16/17.11 (seeds 0/2; win rate 0.718/0.630) against the loop's 16.80/17.47 (win rate 0.640
[0.572, 0.703] / 0.675 [0.608, 0.736]; seed 1: 16.59), about 30 CPU minutes a run.
These win rates were judged at tau 0.05 (the held-out judge was built before calibration; fixed since). Judged by the
calibrated annotator: SciTLDR loop 0.560/0.528/0.488, perfect reward 0.525/0.513/0.500; SumPubMed loop
0.780/0.763/0.850 (seeds 0/1/2), perfect reward 0.858/0.800/0.760 (seed 1's perfect reward, 18.09, measured
afterwards on its run's final store).

Measured 2026-12-06 (later) after reward updates refit the content head sparsely (L1) and policy rounds learn word
weights (`rl_word_lr` 1e-3), 2 shared CPU cores: SciTLDR (defaults; SFT 32.51), seeds 0/1/2: loop 33.70/33.15/33.96 (mean 33.60, +1.09), win rate 0.560 [0.516, 0.598] /
0.527 [0.479, 0.573] / 0.482 [0.444, 0.523], best-of-8 34.68/33.90/34.07, DPO 33.64/33.36/32.71, rm_optimum
34.39/33.80/34.41, about 8.6 CPU minutes (the sparse refit alone, `--set rl_word_lr=0`: 33.44/32.90/33.12, win rate
0.522/0.515/0.512); SumPubMed seeds 0/1: loop 16.80/16.59 (win rate 0.640 [0.572, 0.703] / 0.652 [0.587, 0.712]), best-of-8 11.28/11.35, DPO 10.25/10.55 (sparse refit alone, seeds 0/1: 16.90/14.95);
the "states a result" persona, seeds 0/1/2: share 0.31 -> 0.430/0.480/0.465 at ROUGE-1 30.77/29.20/30.29.

Before that, measured 2026-12-06 on the code of that morning (2 shared CPU cores; a seeded run now repeats bit for bit, whatever the
process's hash seed and the disk cache; each number further below was one draw of numeric noise since fixed):
SumPubMed (`--data ../shared/data/sumpubmed/sumpubmed.jsonl --set holdout=200 --set calibration_pairs=100`; SFT 9.93,
lead-1 8.84, oracle 22.44), seeds 0/1/2: loop 16.62/15.64/14.01 (mean 15.42, +5.49 over SFT), win rate 0.618 [0.549,
0.682] / 0.670 [0.604, 0.729] / 0.588 [0.520, 0.652], rm_optimum 15.47/15.26/15.44 against judge_optimum 12.98,
best-of-8 11.14/11.71/11.54, DPO 10.20/10.09/10.13, two annotators agree 0.729/0.712/0.716 on the loop's own pairs,
25 CPU minutes; SciTLDR (defaults; SFT 32.51, lead-1 24.83, oracle 42.78), seeds 0/1/2: loop 31.68/33.44/32.21 (mean
32.44, -0.07), win rate 0.495/0.512/0.480 (every interval includes 0.5), rm_optimum 33.71/34.09/34.21 against 33.96,
best-of-8 34.01/34.22/34.10, DPO 33.42/32.91/32.94, 7 CPU minutes (`--set kl_coef=0.3`: 32.94/32.09/33.78, mean
+0.43, win rate 0.530/0.530/0.525, best-of-8 34.14/34.43/34.25); the "states a result" persona (`--annotator
result`), seeds 0/1/2: share 0.31 -> 0.435/0.440/0.500 (+14.8 points) at ROUGE-1 29.15/30.90/26.93 (-3.52), best-of-8
0.375/0.380/0.400 at 32.43/32.91/32.01, DPO 0.290/0.295/0.315, the final reward model's optimum 0.410/0.450/0.475.

Earlier: measured (2026-12-05, 2 shared CPU cores under load; defaults, 2,000 picks, SciTLDR dev first 200, reward/v1 the
zero-shot MiniLM judge; SFT 32.51, lead-1 24.83, oracle 42.78 ROUGE-1): reference annotator (tau 0.036-0.040, epsilon
0.1, two annotators agree 0.70-0.79), exact RL rounds, seeds 0/1/2: loop 34.07/32.80/32.29 (mean +0.54 over SFT),
win rate 0.542/0.512/0.482 (every interval includes 0.5; 38-46% of summaries differ from SFT's), DPO
32.96/32.24/33.01, best-of-8 by the final reward model 34.29/34.64/34.12, rm_pair_accuracy 0.625/0.649/0.607;
11.5-11.7 CPU minutes per run. The previous default rounds (`--set rl_algo=rloo --set kl_coef=0.05 --set rl_steps=60`)
gave 34.44/34.09/32.15. The "states a result" persona (`--annotator result`, seed 0): result-stating held-out summaries
0.31 -> 0.27 at the defaults (ROUGE-1 33.18); with word weights (`--set lexical_lr=0.01 --set rl_word_lr=1e-3`)
0.31 -> 0.425 (+11.5 points) at ROUGE-1 30.21 (-2.30), rm_pair_accuracy 0.634; the same word weights with the
reference annotator, seed 0: 33.07 (34.07 without), so they are off by default. SumPubMed (`--set holdout=200 --set calibration_pairs=100`; SFT 9.93, lead-1 8.84,
oracle 22.44 against the abstract), 2,000 picks: seeds 1/2 loop 12.80/13.10 (+2.87/+3.17), win rate 0.585 [0.518,
0.649] / 0.585 [0.528, 0.637], DPO 10.84/10.82, best-of-8 10.79/10.72, about 50 CPU minutes each; seed 0 reached 14.96
at 1,000 picks and crashed at its 1,750-pick round on a NaN reward (since fixed, not rerun). Since 2026-12-06 the default reward update is `reward_update='fit'` (the content head refitted on every pick):
SumPubMed seeds 0/1/2 loop 16.82/14.93/13.58 (mean 15.11, +5.18 over SFT; the preference term's 11.15/12.80/13.10), win
rate 0.703 [0.636, 0.761] / 0.638 [0.574, 0.695] / 0.588 [0.524, 0.648], judge_optimum 12.98 and rm_optimum
14.89/15.10/15.50 (the picks' gain to the reward model; 13.05 with the preference term), best-of-8 11.33/11.49/11.65,
DPO 10.04/10.52/10.04, 33-36 CPU minutes; SciTLDR
seeds 0/1/2 32.55/31.91/32.49 (win rate 0.495/0.495/0.490, rm_optimum 33.97/33.77/33.44 against judge_optimum
33.96), best-of-8 34.47/33.76/33.32, about 11 CPU minutes; the "states a result" persona, seeds 0/1/2: share
0.31 -> 0.410/0.455/0.450 (+12.8 points on the mean) at ROUGE-1 30.56/28.20/28.19 (-3.53), best-of-8 0.360/0.390/0.405
(`--set reward_update=preference` for the runs above). With people's trials (`--set promote=picks`) and the refit, SumPubMed
seeds 0/2: 16.17/17.16 (the gate: 16.82/13.58), win rate 0.652/0.662, best-of-8 11.34/11.39, DPO 10.00/9.90. Since
the annotator is calibrated on the uploads' sections (2026-12-06; SumPubMed: ~1,000 pairs, tau 0.0108-0.0110, two
annotators agree 0.717/0.710/0.734 on the loop's own pairs), SumPubMed seeds 0/1/2: loop 16.28/16.30/12.96 (mean 15.18,
+5.25), win rate 0.667 [0.600, 0.729] / 0.603 [0.535, 0.666] / 0.507 [0.442, 0.572], rm_optimum 14.97/15.34/15.53,
best-of-8 11.43/11.79/11.61, DPO 10.41/11.10/9.85, 38-39 CPU minutes (three runs sharing 2 cores). `--set FIELD=VALUE` sets any other SimConfig field
(e.g. --set reward_update=head --set rl_baseline=mean for the earlier loop); `--set holdout=200` with
`--data ../shared/data/sumpubmed/sumpubmed.jsonl` evaluates on 200 SumPubMed papers split off by document.

Usage: python bench/feedback_loop.py [--data DIR] [--eval-data FILE] [--annotator reference|result|short]
       [--picks N] [--seed S] [--pairs uncertainty|random] [--out DIR] [--database-url URL]
Starts from the default extractive policy (the one `rlhf-summ train-extractive` retrained, else the one shipped with the
package) or `--sft-model DIR`.
"""
import argparse, dataclasses, logging, os, sys, tempfile, warnings
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

ROOT = Path(__file__).resolve().parents[1]


def main():
    from rlhf_summ.simulate import SimConfig, final_line, run_simulation
    defaults = SimConfig()
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=defaults.data)
    p.add_argument('--eval-data', default=defaults.eval_data)
    p.add_argument('--eval-limit', type=int, default=defaults.eval_limit)
    p.add_argument('--annotator', default=defaults.annotator, choices=('reference', 'result', 'short'))
    p.add_argument('--picks', type=int, default=defaults.picks)
    p.add_argument('--checkpoints', default=defaults.checkpoints)
    p.add_argument('--seed', type=int, default=defaults.seed)
    p.add_argument('--pairs', default=defaults.pairs, choices=('uncertainty', 'random'))
    p.add_argument('--round-every', type=int, default=defaults.round_every)
    p.add_argument('--update-every', type=int, default=defaults.update_every)
    p.add_argument('--rl-steps', type=int, default=defaults.rl_steps)
    p.add_argument('--reward-model', default=defaults.reward_model)
    p.add_argument('--sft-model', default=defaults.sft_model)
    p.add_argument('--database-url', default='')
    p.add_argument('--threads', type=int, default=defaults.threads)
    p.add_argument('--no-baselines', action='store_true')
    p.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE',
                   help='any other SimConfig field, e.g. --set rl_lr=1e-3 --set rl_start=current (repeatable)')
    p.add_argument('--out', default='', help='run folder (default: a temporary folder, removed at the end)')
    args = p.parse_args()
    warnings.filterwarnings('ignore')
    logging.getLogger('rlhf_summ').setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    os.chdir(ROOT)                      # data paths are relative to the repository root
    with tempfile.TemporaryDirectory(prefix='feedback_loop_') as tmp:
        config = dataclasses.replace(defaults, data=args.data, eval_data=args.eval_data, eval_limit=args.eval_limit,
                                     annotator=args.annotator, picks=args.picks, checkpoints=args.checkpoints, seed=args.seed,
                                     pairs=args.pairs, round_every=args.round_every, update_every=args.update_every,
                                     rl_steps=args.rl_steps, reward_model=args.reward_model, sft_model=args.sft_model,
                                     database_url=args.database_url, threads=args.threads, baselines=not args.no_baselines,
                                     output_dir=args.out or str(Path(tmp)/'run'), progress=False)
        types = {f.name: f.type for f in dataclasses.fields(SimConfig)}
        for item in args.set:
            key, _, value = item.partition('=')
            if key not in types: p.error(f"--set {item}: SimConfig has no field {key!r}")
            kind = type(getattr(defaults, key))
            config = dataclasses.replace(config, **{key: value.lower() in ('1', 'true', 'yes') if kind is bool else kind(value)})
        result = run_simulation(config, log=lambda line: print(line, flush=True))
    for name, m in result['baselines'].items():
        print(f"baseline={name} rouge1={m['rouge1']:.2f} rouge2={m['rouge2']:.2f} rougeL={m['rougeL']:.2f} "
              f"gold={m['gold']:.4f} persona={m['persona']:.3f}" + (f" win_rate={m['win_rate']:.3f}" if 'win_rate' in m else ''))
    for r in result['rounds']:
        decided = f" decided_at={r['decided_at']} n={r['n']}" if 'decided_at' in r else ''
        rate = 'none' if r['win_rate'] is None else f"{r['win_rate']:.3f}"
        print(f"round picks={r['picks']} version={r['version']} judge={r['judge'].replace(' ', '_')} win_rate={rate}{decided} promoted={r['promoted']}")
    print(f"loop_cpu_minutes={result['loop_cpu_minutes']:.1f} wall_minutes={result['wall_minutes']:.1f}")
    print(final_line(result['final']), flush=True)


if __name__ == '__main__':
    main()
