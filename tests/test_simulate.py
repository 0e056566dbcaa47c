"""The simulated-annotator harness through the real loop: a tiny end-to-end run (a few uploads, picks, a reward update,
a policy round, the gate) on the real store (SQLite and PostgreSQL), registry and OnlineLoop, deterministic under a seed."""
import json

import pytest
import torch

from rlhf_summ.policies.encoder import SentenceEncoder
from rlhf_summ.policies.extractive import ExtractivePolicy, ExtractiveScorer
from rlhf_summ.reward import tiny_reward_model
from rlhf_summ.simulate import SimConfig, load_papers, make_annotator, run_simulation
from rlhf_summ.text import split_sentences

pytestmark = pytest.mark.usefixtures('one_thread')

TOPICS = ['cats', 'dogs', 'trees', 'rivers', 'songs', 'bread', 'clouds', 'boats', 'roads', 'lamps', 'birds', 'coins']


def write_papers(path, n, offset=0):
    "SciTLDR-shaped papers whose references say what the paper's result sentence says."
    rows = []
    for i in range(offset, offset + n):
        t = TOPICS[i % len(TOPICS)]
        source = [f"We study {t} in paper {i}.", f"Prior work on {t} is reviewed in detail here.",
                  f"Our method improves {t} accuracy by {i % 7 + 2} points.", f"The weather was pleasant during that {t} study."]
        rows.append({'paper_id': f'p{i}', 'title': f'On {t} {i}', 'source': source,
                     'target': [f"A method that improves {t} accuracy.", f"We improve {t} accuracy by {i % 7 + 2} points."]})
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def tiny_setup(tmp_path):
    "A random tiny extractive SFT policy and a tiny reward model, saved; the keyword arguments of a tiny `SimConfig`."
    torch.manual_seed(0)
    ExtractivePolicy(ExtractiveScorer(d_model=16, layers=1, heads=2, dropout=0.0), k=1).save(tmp_path / 'sft')
    tiny_reward_model(max_length=64).save(tmp_path / 'rm')
    return dict(data=str(write_papers(tmp_path / 'train.jsonl', 16)), eval_data=str(write_papers(tmp_path / 'dev.jsonl', 6, offset=100)),
                eval_limit=6, picks=12, checkpoints='0,6', seed=3, pairs='uncertainty', round_every=6, update_every=2,
                sft_model=str(tmp_path / 'sft'), reward_model=str(tmp_path / 'rm'), threads=1)


TINY = dict(tau=0.05, calibration_pairs=8, candidates=2, rl_algo='rloo', rl_steps=2, kl_coef=0.05, rl_batch_size=2, rl_k=2, rl_lr=0.1, rl_word_lr=0.1, rl_temperature=1.0,
            min_win_rate=0.0, gate_min_low=0.0, gate_sections=4,
            valid_fraction=0.25, best_of_n=2, dpo_steps=2, embedding_cache='none', progress=False, reward_update='preference')
"The cost knobs of a tiny run (RL strong enough, word weights included, to change some greedy summary, and the gate at 0 promotes a version that does: RLOO, whose sampling moves the tiny policy; exact RL follows the tiny reward model, which has next to no opinion). The preference term's updates, whose tiny reward model keeps the tiny RL moving; `reward_update='fit'` (the default) has its own test."


def test_tiny_loop_and_its_job_run_through_the_real_store_and_registry_deterministically(tmp_path):
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.reports import run_job
    setup = tiny_setup(tmp_path)
    first = run_simulation(SimConfig(**setup, **TINY, output_dir=str(tmp_path / 'a')), log=lambda line: None)
    assert [row['picks'] for row in first['curve']] == [0, 6, 12]
    assert first['final']['picks'] == 12 and set(first['baselines']) == {'sft', 'lead1', 'oracle', 'best_of_n', 'dpo', 'judge_optimum', 'rm_optimum',
                                                                    'perfect_reward'}
    assert 0.0 <= first['final']['perfect_reward_win_rate'] <= 1.0 and first['final']['perfect_reward_rouge1'] >= 0.0
    updates = first['reward_updates']
    assert updates and all(u['status'] in ('accepted', 'rejected') for u in updates)
    assert [r['version'] for r in first['rounds']] == ['v2', 'v3'] and all(r['promoted'] for r in first['rounds'])
    registry = Registry(tmp_path / 'a' / 'registry')
    evidence = registry.promotion('policy', 'v3')['evidence']                   # what promoted v3: the gate's win rate and interval
    assert evidence['judge'].startswith('reward/') and 0 <= evidence['win_low'] <= evidence['win_rate'] <= evidence['win_high']
    assert registry.versions('policy')[-1].parents == {'policy': 'v1', 'reward': registry.current('reward').version}
    assert 0.0 <= first['calibration']['agreement_measured'] <= 1.0
    assert 0 < first['calibration']['loop_pairs'] <= 12                     # agreement again, on the pairs the loop asked
    assert 0.0 <= first['calibration']['agreement_loop_measured'] <= 1.0 and 0.5 <= first['calibration']['agreement_loop_expected'] <= 1.0
    assert (tmp_path / 'a' / 'metrics.jsonl').read_text().count('\n') == 3
    # the same run as a papermill job, whose disk cache already holds some of the sentences' vectors (the first run kept
    # none): the same curve (same seed), and a report that leads with the curve plot
    cache = SentenceEncoder(cache_dir=tmp_path / 'vectors')
    cache.encode([s for p in load_papers(setup['data'], limit=5) for s in split_sentences(p.document.text)]); cache.flush()
    run = run_job('simulate', dict(setup, compare_random=False, overrides=TINY | {'embedding_cache': str(tmp_path / 'vectors')}),
                  runs_root=tmp_path, name='job')
    report = (run / 'report.html').read_text()
    assert report.index("alt='learning curve'") < report.index('All metrics')
    assert 'version 0 (SFT)' in report and (run / 'curve.png').stat().st_size > 1000
    second = json.loads((run / 'result.json').read_text())['uncertainty pairs']
    timeless = lambda curve: json.dumps([{k: v for k, v in r.items() if not k.endswith('_minutes')} for r in curve])
    assert timeless(first['curve']) == timeless(second['curve'])                 # same seed, same curve (NaN included)
    assert json.loads(json.dumps(first['rounds'])) == second['rounds']


def test_tiny_loop_with_the_reward_model_refitted_on_every_pick(tmp_path):
    from rlhf_summ.feedback.registry import Registry
    # tau=0: calibrated; the held-out judge that measures win rates is the calibrated annotator (another seed), not the default tau
    result = run_simulation(SimConfig(**tiny_setup(tmp_path), **(TINY | dict(reward_update='fit', tau=0.0)), update_tolerance=1.0,
                                      output_dir=str(tmp_path / 'fit')), log=lambda line: None)
    updates = result['reward_updates']
    assert updates and all(u['status'] == 'accepted' for u in updates)         # tolerance 1: every refit is kept, none failed
    reward = Registry(tmp_path / 'fit' / 'registry').load('reward')
    assert reward.preference is None and reward.content.weight.abs().sum() > 0  # the picks went into the content head
    assert {'judge_optimum', 'rm_optimum'} <= set(result['baselines'])
    assert result['calibration']['judge_tau'] == result['calibration']['tau'] != SimConfig.tau and result['calibration']['tau'] != 0.05


def test_tiny_loop_on_postgresql(tmp_path, postgres_server):
    import psycopg, secrets
    name, port = f'sim_{secrets.token_hex(4)}', postgres_server.rsplit(':', 1)[1]
    with psycopg.connect(f'host=127.0.0.1 port={port} user=rlhf dbname=postgres', autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE {name}')
    config = SimConfig(**tiny_setup(tmp_path), **{**TINY, 'baselines': False}, database_url=f'{postgres_server}/{name}',
                       output_dir=str(tmp_path / 'pg'))
    result = run_simulation(config, log=lambda line: None)
    assert result['final']['picks'] == 12 and len(result['rounds']) == 2 and result['reward_updates']


def test_a_round_against_the_annotator_itself_learns_its_taste_where_it_trained(tmp_path):
    "`perfect_reward_round`: RL on the store's training sections with the annotator's own utility as the reward (no model) moves the policy's summaries of those sections towards that utility."
    from rlhf_summ.policies import load_policy
    from rlhf_summ.simulate import HeldOut, _split_papers, perfect_reward_round
    from rlhf_summ.feedback.store import Store, document_key
    config = SimConfig(**tiny_setup(tmp_path), **{**TINY, 'baselines': False, 'rl_algo': 'exact', 'rl_candidates': 4, 'rl_steps': 30,
                                                   'rl_batch_size': 4}, output_dir=str(tmp_path / 'a'))
    run_simulation(config, log=lambda line: None)
    uploads, _ = _split_papers(config)
    store = Store.sqlite(tmp_path / 'a' / 'feedback.sqlite')
    trained = {s.id.rsplit('/s', 1)[0] for s in store.section_documents('train')}
    seen = [p for p in uploads if document_key(p.document.text) in trained]     # papers whose sections the round trains on
    annotator = make_annotator('reference', tau=0.05)
    sft = load_policy(config.sft_model)
    held = HeldOut(seen, sft, annotator)
    out = perfect_reward_round(config, held, store, annotator, uploads, config.sft_model, tmp_path / 'perfect')
    assert len(seen) >= 4 and out['gold'] > held.summary_metrics(held.sft_summaries)['gold']
    assert json.loads((tmp_path / 'perfect' / 'rl_config.json').read_text())['algo'] == 'exact'


def test_annotators_read_every_reference_and_are_seeded(tmp_path):
    papers = load_papers(write_papers(tmp_path / 'p.jsonl', 2))
    assert [len(p.references) for p in papers] == [2, 2]
    a, b = 'Prior work on cats is reviewed in detail here.', 'Our method improves cats accuracy by 2 points.'
    picks = {s: make_annotator('reference', tau=0.05, epsilon=0.1, seed=s).pick(a, b, papers[0].references) for s in range(20)}
    assert picks == {s: make_annotator('reference', tau=0.05, epsilon=0.1, seed=s).pick(a, b, papers[0].references) for s in range(20)}
    assert list(picks.values()).count('b') >= 16                               # the closer summary wins but for lapses
    assert make_annotator('short', epsilon=0.0).pick(' '.join([b] * 4), 'Cats improve.', papers[0].references) == 'b'



def test_holdout_splits_one_source_by_document(tmp_path):
    "`holdout` evaluates on papers of `data` itself (a field with one file): split off by document, never uploaded."
    from rlhf_summ.simulate import _split_papers
    data = str(write_papers(tmp_path / 'all.jsonl', 16))
    uploads, held = _split_papers(SimConfig(data=data, holdout=4, eval_limit=3, seed=1))
    assert len(held) == 3 and len(uploads) == 12
    assert not {p.document.id for p in held} & {p.document.id for p in uploads}
    again, held_again = _split_papers(SimConfig(data=data, holdout=4, eval_limit=3, seed=2))
    assert [p.document.id for p in held_again] == [p.document.id for p in held]          # the split does not depend on the seed
    assert {p.document.id for p in again} == {p.document.id for p in uploads} and again != uploads   # only the upload order does


def test_tiny_loop_runs_exact_rl_rounds(tmp_path):
    "Policy rounds by exact RL over every candidate sentence (the SGD fit, then the default linear fit) run inside the loop and register versions trained by it."
    from rlhf_summ.feedback.registry import Registry
    setup = tiny_setup(tmp_path)
    # at the simulation's (and the service's) default word learning rate, not the tiny runs' faster one
    result = run_simulation(SimConfig(**setup, **{**TINY, 'rl_algo': 'exact', 'rl_fit': 'sgd', 'rl_candidates': 3, 'rl_word_lr': SimConfig.rl_word_lr},
                                      output_dir=str(tmp_path / 'a')), log=lambda line: None)
    assert [r['version'] for r in result['rounds']] == ['v2', 'v3']
    registry = Registry(tmp_path / 'a' / 'registry')
    assert [v.data.get('algo') for v in registry.versions('policy')[1:]] == ['exact', 'exact']
    assert registry.load('policy', 'v1').model.lexical.abs().sum() == 0          # SFT has no word weights
    assert registry.load('policy', 'v3').model.lexical.abs().sum() > 0           # a round trains them (`rl_word_lr`)
    rows = [json.loads(line) for line in (registry.get('policy', 'v3').model_dir / 'metrics.jsonl').read_text().splitlines()]
    assert rows and all(1 <= r['train/rl/candidates'] <= 3 for r in rows)
    # the default fit (rl_fit='linear'): each round fits only the scorer's linear term, the body and word weights untouched
    linear = run_simulation(SimConfig(**setup, **{**TINY, 'rl_algo': 'exact', 'rl_candidates': 3, 'rl_fit': SimConfig.rl_fit},
                                      output_dir=str(tmp_path / 'b')), log=lambda line: None)
    assert SimConfig.rl_fit == 'linear' and [r['version'] for r in linear['rounds']] == ['v2', 'v3']
    sft, v3 = (Registry(tmp_path / 'b' / 'registry').load('policy', v).model for v in ('v1', 'v3'))
    assert v3.linear.abs().sum() > 0 and sft.linear.abs().sum() == 0 and v3.lexical.abs().sum() == 0
    assert all(torch.equal(a, b) for (name, a), (_, b) in zip(sft.named_parameters(), v3.named_parameters()) if name != 'linear')


def test_a_run_without_sft_model_starts_from_the_shipped_default_when_the_user_retrained_none(tmp_path, monkeypatch):
    "A new user's cache folder holds no retrained policy: policy/v1 is the package's default, not a missing folder."
    from rlhf_summ.policies.extractive import SHIPPED_EXTRACTIVE_DIR
    from rlhf_summ.simulate import _open_service
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(tmp_path / 'empty_cache'))
    tiny_reward_model(max_length=64).save(tmp_path / 'rm')
    store, registry, _, sft_dir, sft = _open_service(SimConfig(reward_model=str(tmp_path / 'rm'), embedding_cache='none'), tmp_path / 'run')
    assert sft_dir == SHIPPED_EXTRACTIVE_DIR and sft.kind == 'extractive'
    assert registry.current('policy').version == 'v1' and store.num_comparisons() == 0


def test_tiny_loop_with_peoples_gate_lets_picks_decide_each_version(tmp_path):
    "promote='picks': each round's version goes on trial, the annotator's picks between the two versions' greedy summaries decide it, and no round starts while a trial is open."
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.feedback.store import Store
    config = SimConfig(**tiny_setup(tmp_path) | {'picks': 30}, **{**TINY, 'trial_win_rate': 0.5, 'trial_min_low': 0.0, 'baselines': False},
                       promote='picks', trial_picks=2, output_dir=str(tmp_path / 'a'))
    result = run_simulation(config, log=lambda line: None)
    rounds = [r for r in result['rounds'] if 'decided_at' in r]
    assert rounds and all(r['judge'] == "people's picks" and r['n'] in (0, 2) for r in rounds)   # 0: rejected at once, it wrote what v1 wrote
    assert all(r['promoted'] == (r['win_rate'] >= 0.5) for r in rounds)                    # the trial's rule, as recorded
    promoted = [r['version'] for r in rounds if r['promoted']]
    assert promoted and Registry(tmp_path / 'a' / 'registry').current('policy').version == promoted[-1]
    for before, after in zip(result['rounds'], result['rounds'][1:]):
        assert after['picks'] >= before['decided_at']                                     # one trial at a time
    registry = Registry(tmp_path / 'a' / 'registry')
    decided = {r['version']: r for r in rounds}
    for version, r in decided.items():
        verdict = registry.verdict('policy', version)
        assert verdict['action'] == ('promote' if r['promoted'] else 'reject') and verdict['evidence']['judge'] == "people's picks"
    store = Store.sqlite(tmp_path / 'a' / 'feedback.sqlite')
    trial_pairs = [c for c in store.counts() if all(p.endswith(':greedy') for p in c.policies)]
    assert {tuple(sorted(p.split(':')[0] for p in c.policies)) for c in trial_pairs} >= {
        tuple(sorted((f"policy/{v}", f"policy/{registry.verdict('policy', v)['previous']}"))) for v in decided}
    store.close()


def test_picks_that_no_round_has_seen_get_a_last_round_before_the_last_measurement(tmp_path):
    "When the uploads run out between rounds (or `round_every` does not divide `picks`), the picks since the last round reach a version: a reward update on the unseen picks, then a last round, measured at the final point. Under people's gate, whose trial no pick would decide, there is none."
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.feedback.store import Store
    setup = tiny_setup(tmp_path) | dict(picks=500, checkpoints='0,500', round_every=400)   # 16 uploads run out long before 500 picks
    result = run_simulation(SimConfig(**setup, **TINY, output_dir=str(tmp_path / 'a')), log=lambda line: None)
    picks = result['final']['picks']
    assert 0 < picks < 400 and [row['picks'] for row in result['curve']] == [0, picks]
    assert [(r['picks'], r['version']) for r in result['rounds']] == [(picks, 'v2')]        # no round had come; the last one did
    registry = Registry(tmp_path / 'a' / 'registry')
    assert result['curve'][-1]['policy'] == registry.current('policy').version == 'v2'        # promoted (gate at 0), then measured
    store = Store.sqlite(tmp_path / 'a' / 'feedback.sqlite')
    assert store.num_new() == 0 and registry.versions('policy')[-1].parents['reward'] == registry.current('reward').version
    store.close()
    trial = run_simulation(SimConfig(**setup, **{**TINY, 'baselines': False}, promote='picks', output_dir=str(tmp_path / 'b')),
                           log=lambda line: None)
    assert trial['rounds'] == [] and Registry(tmp_path / 'b' / 'registry').trial('policy') is None
