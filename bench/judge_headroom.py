"""How much a judge could move the SFT policy on held-out papers: the ceiling that no reward model, and so no loop, can pass.

The default policy writes one sentence, so every summary it can write of a paper is one of its (at most 16)
candidate sentences, and the KL-regularized optimum that a policy round's exact RL trains towards,
pi_SFT(y) exp(r(y) / kl), picks greedily argmax_y log pi_SFT(y) + r(y) / kl. This script scores, on the
held-out papers of a `bench/feedback_loop.py` run (its annotator, its calibrated `tau`, its final reward model):

- `perfect_top{2,3,all}`: a judge that knows the annotator's gold utility, choosing among SFT's top-m candidates;
- `judge_kl{K}`: the greedy optimum for today's zero-shot judge (reward/v1) at KL coefficient K (the round's `kl_coef`);
- `final_kl{K}`: the same for the run's final reward model (the judge after every online update on the run's picks);
- `judge_prop{C}_kl{K}` (persona runs, `--property C,...`): today's judge plus C times the persona's property (in the
  judge's normalized score units), i.e. a reward model that knew the taste exactly and kept today's judge for the rest;
- `rl_kl{K}` (`--rl-kl K,...`): what a policy round realizes of the final reward model: exact RL from SFT against it
  on the run's stored training sections (the run's round settings but `kl_coef` K), its greedy held-out summaries;
- `fit{N}_kl{K}` (`--fit-picks N,...`): whether more picks would help: today's judge refitted as the loop refits it
  (`RewardModel.update(refit=True)`) on N of the run's annotator's picks over pairs of SFT samples (two at the run's
  pair temperature) of the run's uploaded sections, the sections of the papers the store holds out (by paper,
  `store.split_for`, the run's `valid_fraction`) held out to choose the L1 strength; a round of fresh samples per pass
  over the sections until N training picks exist.

Each line: ROUGE-1 x100 against the first reference, the held-out annotator's win rate over SFT (ties 1/2; the
95% interval), its expected win rate (pick probabilities averaged), the share whose summary differs from SFT's,
and the persona share. The last line: sft_rouge1=.. perfect_top2_rouge1=.. perfect_top2_win=..
judge_kl1_rouge1=.. judge_kl1_win=.. final_kl1_rouge1=.. final_kl1_win=.. (win: expected win rate).

Measured 2026-12-07 on the runs at the stems default (SciTLDR dev first 200; `16_simulate`, "The open bars"): the
final reward models' `final_kl{0.1,0.3,0.5,1}` average 34.55/34.72/34.81/35.03 (best-of-8 by the same models: 34.66),
expected win rates 0.508-0.543 across seeds 0-2; `--fit-picks 1000,2000,4000` (seed 0; held out by paper, measured
again at midday) 0.532-0.533, 0.548-0.556 and 0.545-0.548 over kl 0.1-1, seed 1 at 2,000 and 4,000 0.537-0.545 and
0.534-0.547: more picks do not lift this reward model's optimum past an expected win rate of 0.556, against 0.605 for
`perfect_top2`. Persona seed 0, `--fit-picks`: 0.535 share at 30.70 (2,000, kl 0.3) and 0.560 at 31.02 (4,000, kl
0.3); the final reward models' optimum meets the persona's bar in seed 0 only (0.535 at 31.89, kl 0.3). (Held out by
section hash, as first measured: 0.524-0.554 expected; persona 0.545 at 31.64 at 4,000.)

Earlier (2026-12-06, SciTLDR dev first 200, reference annotator tau 0.041, run = trials seed 0 at 2,000 picks):
SFT 32.51; perfect judge over SFT's top 2 36.18 (expected win 0.604), top 3 38.40 (0.646); today's judge at
kl 0.1 / 0.3 / 1 / 3: 33.96 / 34.33 / 34.50 / 34.45 (0.508 / 0.519 / 0.532 / 0.523); the final reward model
33.24 / 33.39 / 33.92 / 33.97 (0.510 / 0.516 / 0.520 / 0.521). So on SciTLDR the picks did not make the
judge better for the policy, and kl 1 realizes more of it than kl 0.1. SumPubMed (200 held-out papers, the gate's
seed-0 run at 2,000 picks): SFT 9.93; perfect judge over the top 2 11.89 (0.642), over all 16 candidates 20.12
(0.914); today's judge at kl 0.1 / 0.3 / 1 / 3: 12.98 / 12.26 / 11.47 / 10.08 (0.648 / 0.617 / 0.581 / 0.513); the
final reward model (preference term) 13.05 / 12.45 / 10.74 / 10.11. There the SFT prior is weak, a sharp kl is
best, and the judge is far from the ceiling, but the preference term's picks added nothing to it either.
What a round's RL realizes (`--rl-kl`, SciTLDR, the refit's runs at 2,000 picks, seeds 0/1/2): 33.02/32.32/32.28 at
kl 0.1, 33.58/33.07/33.69 at kl 0.3, 33.75/33.14/33.44 at kl 1 (expected win rates 0.49-0.52). The "states a
result" persona (seed 0, SFT share 0.31): `--property 1` 0.515 at 33.31 (kl 1), 0.565 at 32.34 (kl 0.3); the final
reward model 0.395 at 32.93 (kl 1); `--rl-kl` 0.375 at 30.14 (kl 0.1), 0.350 at 31.54 (kl 1).

Usage: python bench/judge_headroom.py RUN_DIR [--kl 0.1,0.3,1,3] [--property 0.5,1,2] [--rl-kl 0.1,0.3,1] [--fit-picks 2000,4000]
       [--threads 1]
"""
import argparse, json, os, sys
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')


def upload_picks(config, annotator, sft, n: int, passes: int = 16) -> tuple[list, list]:
    "(train, held-out) picks of `annotator` on pairs of `sft` samples of the sections of `config`'s uploads, pass after pass of fresh samples until `n` training picks (at most `passes`); the sections of the papers the store would hold out (`store.split_for`, `valid_fraction`) are held out, paper by paper."
    from rlhf_summ.data import Comparison, Document
    from rlhf_summ.feedback.store import split_for
    from rlhf_summ.simulate import _split_papers, pair_key, upload_sections
    rows = [(Document(id=f"{p.document.id}/s{i}", text=s.text, title=p.document.title), p.references, split_for(p.document.id, config.valid_fraction) == 'valid')
            for p in _split_papers(config)[0] for i, s in enumerate(upload_sections(p.document))]
    texts, train, held = [d.text for d, _, _ in rows], [], []
    for r in range(passes):
        if len(train) >= n: break
        a, b = (sft.generate(texts, do_sample=True, temperature=config.pair_temperature, seed=config.seed + 1000 + 2 * r + j).summaries for j in (0, 1))
        for (document, references, heldout), x, y in zip(rows, a, b):
            pick = annotator.pick(x, y, references, key=pair_key(document.id, x, y, str(r)))
            if pick == 'tie': continue
            (held if heldout else train).append(Comparison(document, x, y, float(pick == 'b'), annotator=annotator.name))
    return train, held


def pick_counts(text: str) -> list[int]:
    "`--fit-picks`: comma-separated positive pick counts, ascending (a clear argparse error for anything else)."
    try: counts = sorted({int(x) for x in text.split(',') if x.strip()})
    except ValueError: raise argparse.ArgumentTypeError(f"expected positive pick counts like 2000,4000, got {text!r}")
    if not counts or counts[0] < 1: raise argparse.ArgumentTypeError(f"expected positive pick counts like 2000,4000, got {text!r}")
    return counts


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', help='a bench/feedback_loop.py output folder (result.json, registry/)')
    p.add_argument('--kl', default='0.1,0.3,1,3')
    p.add_argument('--property', default='', help="persona runs: today's judge plus C x the property, for each C (comma-separated)")
    p.add_argument('--rl-kl', default='', help='exact RL from SFT against the final reward model at each of these kl_coef')
    p.add_argument('--fit-picks', type=pick_counts, default=[], help="today's judge refitted on N of the annotator's picks over pairs of SFT samples of the uploads, for each N")
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args()
    import torch
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.simulate import HeldOut, SimConfig, _split_papers, make_annotator, share_embedding_cache
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    if not (run/'result.json').exists(): sys.exit(f"{run}: no result.json (not a finished bench/feedback_loop.py run)")
    result = json.loads((run/'result.json').read_text())
    if args.property and result['config']['annotator'] == 'reference': sys.exit("--property needs a persona run (--annotator result|short)")
    config = SimConfig(**{k: v for k, v in result['config'].items() if k in SimConfig.__dataclass_fields__})
    share_embedding_cache(config.embedding_cache)
    registry = Registry(run/'registry')
    sft = registry.load('policy', registry.first('policy').version)
    annotator = make_annotator(config.annotator, result['calibration']['tau'], config.epsilon, config.seed)
    _, papers = _split_papers(config)
    held = HeldOut(papers, sft, annotator, config.pair_temperature, config.seed)
    if (found := held.candidates()) is None: sys.exit("the SFT policy writes more than one sentence: its summaries cannot be listed")
    summaries, owner, logp = found
    rank = [owner[:j].count(i) for j, i in enumerate(owner)]           # each candidate's place in its paper, SFT's best first
    last = {'sft_rouge1': held.baselines['sft']['rouge1']}

    def report(name: str, out: list[str]) -> None:
        m, w = held.summary_metrics(out), held.win_rate(out)
        print(f"{name}: rouge1={m['rouge1']:.2f} win_rate={w['win_rate']:.3f} [{w['win_low']:.3f}, {w['win_high']:.3f}] "
              f"expected_win_rate={w['expected_win_rate']:.3f} differ={w['differ']:.2f} persona={m['persona']:.3f}", flush=True)
        last[f'{name}_rouge1'], last[f'{name}_win'] = m['rouge1'], w['expected_win_rate']

    utility = [annotator.utility(s, held.papers[i].references) for s, i in zip(summaries, owner)]
    for m in (2, 3, 16):
        report(f"perfect_top{m if m < 16 else 'all'}", held.choose([u if r < m else float('-inf') for u, r in zip(utility, rank)]))
    judge = registry.load('reward', registry.first('reward').version)
    for name, reward in (('judge', judge), ('final', registry.load('reward'))):
        for kl in (float(k) for k in args.kl.split(',')):
            report(f"{name}_kl{kl:g}", held.optimum(reward, kl))
    if args.property:
        has = torch.tensor([float(held.has_property(s)) for s in summaries])
        scores = torch.as_tensor(judge.score([held.scored[i] for i in owner], summaries, normalize=True), dtype=torch.float)
        for c in (float(x) for x in args.property.split(',') if x):
            for kl in (float(k) for k in args.kl.split(',')):
                report(f"judge_prop{c:g}_kl{kl:g}", held.choose((logp + (scores + c * has) / kl).tolist()))
    if args.rl_kl:
        import dataclasses, tempfile
        from rlhf_summ.feedback.online import open_store
        from rlhf_summ.policies import load_policy
        from rlhf_summ.rl import train_rl
        from rlhf_summ.simulate import _rl_config
        store = open_store(run, config.database_url or None)
        documents, reward = store.section_documents('train'), registry.get('reward')
        for kl in (float(k) for k in args.rl_kl.split(',')):
            with tempfile.TemporaryDirectory() as tmp:
                rl = dataclasses.replace(_rl_config(config), kl_coef=kl, sft_model=str(registry.first('policy').model_dir),
                                         reward_model=str(reward.model_dir), output_dir=tmp)
                report(f"rl_kl{kl:g}", load_policy(str(train_rl(rl, documents=documents))).summarize(held.texts))
        store.close()
    if args.fit_picks:
        from rlhf_summ.reward import RewardModel
        train, held_picks = upload_picks(config, annotator, sft, args.fit_picks[-1])
        for n in args.fit_picks:
            model = config.starting_judge(RewardModel.from_pretrained(config.reward_model, device='cpu'))
            model.update(train[:n], heldout=held_picks[:max(n // 4, 100)], refit=True, tolerance=1.0, seed=config.seed)
            for kl in (float(k) for k in args.kl.split(',')):
                report(f"fit{len(train[:n])}_kl{kl:g}", held.optimum(model, kl))
    keys = ['sft_rouge1', 'perfect_top2_rouge1', 'perfect_top2_win', 'judge_kl1_rouge1', 'judge_kl1_win', 'final_kl1_rouge1', 'final_kl1_win']
    keys += [k for k in last if k.startswith(('judge_prop', 'rl_kl', 'fit'))]
    print(' '.join(f"{k}={last[k]:.4f}" for k in keys if k in last))


if __name__ == '__main__':
    main()
