"""Every job notebook runs under papermill (through `run_job`) with non-default parameters: tiny models, few steps."""
import json, math
from pathlib import Path

import pytest

from rlhf_summ.reports import job_parameters, metric_series, run_job
from rlhf_summ.train import read_metrics

SCITLDR_ROWS = [
    {'paper_id': f'p{i}', 'title': f'Paper {i}', 'source': [f'We study problem {i} with a new method .', 'It works well on benchmarks .'],
     'target': [f'A new method for problem {i} that works well .']} for i in range(6)]

# OpenAI summarize_from_feedback schema: the on-topic summary is chosen.
COMPARISON_ROWS = [
    {'info': {'id': f't3_{i}', 'post': f'My {topic} broke again and I do not know how to fix the {topic}.', 'title': topic,
              'subreddit': 'help'},
     'summaries': [{'text': f'{topic} broke, need a fix', 'policy': 'ref', 'note': ''},
                   {'text': 'I like turtles', 'policy': 'sup', 'note': ''}][::1 if i % 2 else -1],
     'choice': 0 if i % 2 else 1, 'worker': f'w{i % 3}', 'batch': 'b0', 'split': 'train', 'extra': {'confidence': 7}}
    for i, topic in enumerate(['bike', 'car', 'laptop', 'phone', 'sink', 'door', 'lamp', 'radio', 'kettle', 'chair'])]


@pytest.fixture(scope='module')
def tiny_models(tmp_path_factory):
    "A saved tiny policy, a second one sharing its tokenizer, a saved tiny reward model and a small SciTLDR-format file."
    from rlhf_summ.policies.seq2seq import build_tiny_policy
    from rlhf_summ.reward import tiny_reward_model
    root = tmp_path_factory.mktemp('tiny')
    texts = [' '.join(r['source']) for r in SCITLDR_ROWS] + [r['target'][0] for r in SCITLDR_ROWS]
    policy = build_tiny_policy('bart', texts, vocab_size=300, d_model=32, layers=1, max_source_length=64, max_target_length=12)
    other = build_tiny_policy('bart', tokenizer=policy.tokenizer, d_model=32, layers=1, max_source_length=64,
                              max_target_length=12, seed=1)
    data = root / 'scitldr.jsonl'
    data.write_text(''.join(json.dumps(r) + '\n' for r in SCITLDR_ROWS))
    comparisons = root / 'comparisons.jsonl'
    comparisons.write_text(''.join(json.dumps(r) + '\n' for r in COMPARISON_ROWS))
    return {'policy': policy.save(root / 'policy'), 'other': other.save(root / 'other'),
            'reward_model': tiny_reward_model(max_length=48).save(root / 'rm'), 'data': data, 'comparisons': comparisons}


def _metrics(run: Path) -> list[dict]:
    records = read_metrics(run)
    assert records, f'{run} has no metrics'
    return records


def test_train_policy_job(tmp_path, tiny_models):
    run = run_job('train_policy', dict(data=str(tiny_models['data']), data_limit=0, val_fraction=0.34, steps=3, batch_size=2,
                                       max_source_length=48, max_target_length=10, warmup_steps=1, eval_every=3, eval_limit=2,
                                       rouge_samples=1, save_every=3, tiny_d_model=32, tiny_vocab_size=300, seed=1),
                  runs_root=tmp_path, name='policy')
    steps, losses = metric_series(_metrics(run), 'train/sft/loss')
    assert steps[-1] == 3 and all(l > 0 for l in losses)
    assert json.loads((run / 'sft_config.json').read_text())['steps'] == 3
    assert (run / 'report.html').exists() and (run / 'train_policy.ipynb').exists()


def test_train_reward_job(tmp_path, tiny_models):
    run = run_job('train_reward', dict(model=str(tiny_models['reward_model']), data=str(tiny_models['comparisons']),
                                       val_fraction=0.4, max_length=48, batch_size=2, steps=3, eval_every=3, save_every=3,
                                       lr=1e-3, seed=2, device='cpu'),
                  runs_root=tmp_path, name='rm')
    records = _metrics(run)
    assert metric_series(records, 'train/rm/loss')[0][-1] == 3
    assert metric_series(records, 'eval/rm/accuracy')[1]
    found = list(run.rglob('reward_config.json'))
    assert found, 'no saved reward model in the run folder'


def test_train_rl_job(tmp_path, tiny_models):
    params = job_parameters('train_rl')
    given = dict(sft_model=str(tiny_models['policy']), reward_model=str(tiny_models['reward_model']), data=str(tiny_models['data']),
                 steps=2, batch_size=2, minibatch_size=2, num_epochs=1, max_new_tokens=6, lr=1e-4,
                 eval_docs=2, seed=3)
    missing = set(given) - set(params)
    assert not missing, f'train_rl job lacks parameters {missing}; it has {sorted(params)}'
    run = run_job('train_rl', given, runs_root=tmp_path, name='rl')
    steps, rewards = metric_series(_metrics(run), 'train/rl/reward')
    assert steps == [1, 2]
    assert (run / 'rl_config.json').exists() or list(run.rglob('rl_config.json'))


def test_evaluate_job(tmp_path, tiny_models):
    run = run_job('evaluate', dict(policy=str(tiny_models['policy']), reference=str(tiny_models['other']),
                                   reward_model=str(tiny_models['reward_model']), data=str(tiny_models['data']),
                                   limit=3, batch_size=2, max_new_tokens=6, seed=4),
                  runs_root=tmp_path, name='eval')
    final = _metrics(run)[-1]
    assert {'eval/policy/rouge1', 'eval/policy/reward', 'eval/policy/kl', 'eval/policy/win_rate'} <= set(final)
    assert 0 <= final['eval/policy/win_rate'] <= 1
    assert len((run / 'samples.jsonl').read_text().splitlines()) == 3
    assert json.loads((run / 'eval.json').read_text())['n'] == 3


def test_evaluate_job_on_extractive_policies(tmp_path, tiny_models):
    "`rlhf-summ run evaluate` on extractive policy folders (a pipeline run's `rl` and `sft`): KL and win rate, lead-1 beside."
    import torch
    from rlhf_summ.cli import main
    from rlhf_summ.policies.extractive import ExtractivePolicy, ExtractiveScorer
    folders = {}
    for name, seed in (('rl', 0), ('sft', 1)):
        torch.manual_seed(seed)
        folders[name] = ExtractivePolicy(ExtractiveScorer(d_model=32, layers=1, heads=2), k=1).save(tmp_path / name)
    out = tmp_path / 'eval'
    assert main(['run', 'evaluate', '-p', 'policy', str(folders['rl']), '-p', 'reference', str(folders['sft']),
                 '-p', 'reward_model', str(tiny_models['reward_model']), '-p', 'data', str(tiny_models['data']),
                 '-p', 'limit', '4', '-p', 'seed', '2', '--runs_root', str(tmp_path), '--name', 'eval']) == 0
    final = _metrics(out)[-1]
    assert {'eval/policy/kl', 'eval/policy/win_rate', 'eval/policy/reward', 'eval/policy/lead1_rouge1', 'eval/policy/title_rouge1'} <= set(final)
    assert final['eval/policy/kl'] != 0 and 0 <= final['eval/policy/win_rate'] <= 1
    samples = [json.loads(l) for l in (out / 'samples.jsonl').read_text().splitlines()]
    assert len(samples) == 4 and all(s['summary'] and s['other_summary'] for s in samples)
    assert all(s['summary'] in s['document'] for s in samples)               # the extractive policy's own sentences


def test_pipeline_job_on_the_demo_sample(tmp_path, tiny_models, monkeypatch, capsys):
    "A clone outside this workspace: the default data names resolve to the shipped demo sample, and the report says so first."
    from rlhf_summ.data import DATA_ENV, SHARED_DATA_ENV
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / 'no-shared-data'))      # the kernel inherits the environment
    monkeypatch.delenv(DATA_ENV, raising=False)
    run = run_job('pipeline', dict(sft_limit=40, ext_epochs=3, ext_batch_size=4, ext_d_model=32, ext_evals=3,
                                   ext_layers=1, ext_heads=2, rm_model=str(tiny_models['reward_model']), rm_steps=4, rm_batch_size=4,
                                   rm_max_length=48, rm_eval_limit=8, rm_train_limit=16, rl_steps=2, rl_batch_size=4,
                                   eval_limit=4, n_examples=2, embedding_cache=str(tmp_path / 'embeddings'), seed=5),
                  runs_root=tmp_path, name='pipe')
    printed = capsys.readouterr()
    for stage in ('1/4 SFT', '2/4 reward model', '3/4 RL', '4/4 evaluation'):      # the notebook's stage lines, streamed, with times
        assert f'[{stage}] done in' in printed.out, printed.out[-2000:]
    records = _metrics(run)
    for key in ('train/extractive/loss', 'train/rm/loss', 'train/rl/reward', 'eval/policy/win_rate', 'eval/policy/kl', 'eval/policy/lead1_rouge1'):
        assert metric_series(records, key)[1], f'no {key} in the pipeline metrics'
    assert 0 < metric_series(records, 'eval/policy/lead1_rouge1')[1][-1] < 1          # one scale: ROUGE on 0-1 in metrics.jsonl
    assert {'sft', 'rm', 'rl', 'eval'} <= {p.name for p in run.iterdir()}
    assert (run / 'sft' / 'extractive_config.json').is_file() and (run / 'rl' / 'extractive_config.json').is_file()
    assert not list(run.rglob('checkpoints'))                                        # pruned: keep_checkpoints is False
    sources = [json.loads(l) for l in (run / 'data_sources.jsonl').read_text().splitlines()]
    assert {s['source'] for s in sources if s['origin'] == 'demo'} >= {'scitldr/train.jsonl', 'scitldr/dev.jsonl', 'comparisons/tldr_batch13.json'}
    summary = json.loads((run / 'summary.json').read_text())
    assert list(summary)[:3] == ['heldout', 'reward_model_heldout', 'rl_vs_sft_judged_by_reward_model']   # the comparison leads
    rouge = summary['heldout']['rouge_x100']
    assert {'RL', 'SFT', 'lead-1', 'title'} <= set(rouge) and summary['heldout']['n'] == 4
    assert 0 < rouge['lead-1']['rouge1'] < 100 and all(0 <= v <= 100 for r in rouge.values() for v in r.values())
    assert summary['rl_vs_sft_judged_by_reward_model']['judge'] == 'the reward model RL optimised against'
    assert len(summary['examples']) == 2 and all(e['SFT'] and e['RL'] and e['lead-1'] for e in summary['examples'])
    same = summary['same_summary']
    for e in summary['examples']:                                                     # a summary RL shares with SFT says so
        assert e['RL'] != e['SFT'] and (not e['RL'].startswith('(the same summary as SFT)') or e['RL'].endswith(e['SFT']))
    assert set(summary['curves']) == {'train/extractive/loss', 'train/rm/loss', 'train/rl/reward'}
    split = [f'sft/{part}' for part in ('read', 'embed', 'features', 'train', 'evaluate', 'save')]
    assert split == [k for k in summary['timings_s'] if k.startswith('sft/')]   # where extractive SFT spent its time
    assert sum(summary['timings_s'][k] for k in split) <= summary['timings_s']['sft'] + 0.5
    page = (run / 'report.html').read_text()
    body = page[page.index('<body>') + len('<body>'):].lstrip()
    assert body.startswith("<p class='banner'>Ran on the demo sample")                 # its first line says so
    lead1 = f"{rouge['lead-1']['rouge1']:.1f}"
    assert f'<td>lead-1</td><td>{lead1}</td>' in page                    # lead-1's numbers are in the report
    assert page.count('<table') - page.split('All metrics')[1].count('<table') == 1    # one results table above the fold
    assert "the paper&#x27;s title as the summary" in page                            # every baseline explained
    assert f"RL and SFT wrote the same summary for {same['n']} of {same['of']}" in page
    assert page.index('Held-out ROUGE') < page.index('<figure>') and page.index('Example 1') < page.index('<figure>')
    assert 1 <= page.count('<figure>') <= 6 and page.index('<figure>') < page.index('All metrics')
    rl_vs_lead = summary['heldout']['verdicts']['RL vs lead-1 ROUGE-1']      # a result below its baseline says so
    diff = rouge['RL']['rouge1'] - rouge['lead-1']['rouge1']
    assert rl_vs_lead.startswith(f'{diff:+.1f}') and ('below lead-1' in rl_vs_lead) == (diff < 0) and rl_vs_lead in page
    assert {'SFT_loss.png', 'Reward_model_loss.png', 'RL_reward.png'} <= {p.name for p in (run / 'plots').iterdir()}
    from rlhf_summ.cli import main                  # `rlhf-summ run evaluate` on the run: its RL policy against its SFT policy
    assert main(['run', 'evaluate', '-p', 'policy', str(run), '-p', 'limit', '4', '--runs_root', str(tmp_path), '--name', 'eval_pipe']) == 0
    evaluation = json.loads((tmp_path / 'eval_pipe' / 'eval.json').read_text())
    assert (evaluation['policy'], evaluation['reference'], evaluation['reward_model']) == (str(run / 'rl'), str(run / 'sft'), str(run / 'rm' / 'model'))
    assert evaluation['n'] == 4 and 0 <= evaluation['win_rate'] <= 1 and math.isfinite(evaluation['kl']) and 'lead1_rouge1' in evaluation


def test_failed_job_one_line_and_banner(tmp_path, monkeypatch):
    "A data source that resolves nowhere stops the job with the resolver's one line; the report leads with a failure banner."
    from rlhf_summ.cli import main
    import contextlib, io
    missing = tmp_path / 'nowhere' / 'train.jsonl'
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(['run', 'train_policy', '-p', 'data', str(missing), '--runs-root', str(tmp_path), '--name', 'broken'])
    assert code == 2
    last = err.getvalue().strip().splitlines()[-1]
    assert last.startswith(f"rlhf-summ: error: No data '{missing}'") and 'RLHF_SUMM_DATA' in last
    assert 'Traceback' not in err.getvalue()
    page = (tmp_path / 'broken' / 'report.html').read_text()
    assert f"FAILED: FileNotFoundError: No data &#x27;{missing}&#x27;" in page


def test_train_denoiser_job(tmp_path, shared_data):
    from rlhf_summ.text.denoise import Denoiser, load_labelled_lines
    from rlhf_summ.reward import tiny_backbone_config
    from transformers import AutoTokenizer
    from rlhf_summ.reward import minilm_path
    tok = AutoTokenizer.from_pretrained(minilm_path())
    tiny = Denoiser.from_config(tiny_backbone_config(len(tok)), tok, max_length=32).save(tmp_path / 'tiny')
    words = 'we train a sense classifier on tagged corpora and measure its precision and recall on held out words'.split()
    rows = [{'paper_id': f'p{i}', 'title': f'Paper {i}', 'source': [' '.join(words[i:] + words[:i]) * 3], 'target': ['x']} for i in range(20)]
    data = tmp_path / 'clean.jsonl'
    data.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    fixture = tmp_path / 'lines.jsonl'                            # one labelled page of the real fixture
    page = [r for r in load_labelled_lines(Path(__file__).parent / 'fixtures' / 'denoise_lines.jsonl')
            if r['source'] == 'pdfs/C16-1060.pdf' and r['page'] == 4]
    fixture.write_text(''.join(json.dumps(r) + '\n' for r in page))
    run = run_job('train_denoiser', dict(model=str(tiny), data=str(data), docs_per_source=0, train_examples=8, val_examples=4,
                                         max_length=32, layers=1, batch_size=4, thresholds=[0.5, 0.9], fixture=str(fixture),
                                         shared_data=str(shared_data), num_threads=1, seed=1),
                  runs_root=tmp_path, name='denoise')
    real = json.loads((run / 'real_lines.json').read_text())
    assert set(real) == {'0.5', '0.9', 'verdict'} and set(real['0.5']) == {'rules', 'model', 'rules+model'}
    assert real['0.5']['rules']['n_junk'] + real['0.5']['rules']['n_real'] > 100
    assert metric_series(_metrics(run), 'eval/denoise_real/rules/recall')[1]
    assert (run / 'plots' / 'comparison.png').exists() and 'Verdict' in (run / 'summary.md').read_text()
    again = run_job('train_denoiser', dict(model=str(run / 'model'), data=str(data), docs_per_source=0, val_examples=4, thresholds=[0.5],
                                           fixture=str(fixture), shared_data=str(shared_data), num_threads=1, seed=1, evaluate_only=True),
                    runs_root=tmp_path, name='denoise_eval')
    first, second = (json.loads((r / 'eval.json').read_text())['synthetic'] for r in (run, again))
    assert second == first                                     # the same held-out examples, the same saved model
    assert json.loads((again / 'real_lines.json').read_text())['0.5'] == real['0.5']
