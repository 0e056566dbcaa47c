"""Tests of rlhf_summ.rl: the PPO/RLOO/DPO maths by hand, masks, neutrality at policy == reference, update smoke tests, determinism."""
import copy, json, math

import pytest
import torch

from rlhf_summ.data import Comparison, Document
from rlhf_summ.policies.seq2seq import PolicyWithValueHead, build_tiny_policy, contains_eos, response_mask
from rlhf_summ.rl import (KLController, RLConfig, collect_rollout, compute_gae,
                          apply_missing_eos_penalty, dpo_batch_loss, dpo_loss, kl_penalized_rewards, last_token_index,
                          masked_mean, masked_whiten, ppo_policy_loss, ppo_value_loss, rl_update,
                          rloo_advantages, rollout_advantages, train_rl)

TEXTS = ["the cat sat on the mat and looked at the dog.", "the dog ran in the park after the ball.",
         "we propose a model for summarizing long scientific papers section by section.",
         "results show that the model improves rouge over strong baselines."]


pytestmark = pytest.mark.usefixtures('one_thread')


def tiny_policy(seed=0):
    policy = build_tiny_policy('bart', TEXTS * 5, vocab_size=300, d_model=16, layers=1, max_source_length=32,
                               max_target_length=8, seed=seed)
    policy.model.eval()
    return policy


def length_reward(documents, summaries):
    return torch.tensor([len(s.split()) / 4 for s in summaries])


def accelerator():
    from accelerate import Accelerator
    return Accelerator(cpu=True)


# ---- exact maths ---------------------------------------------------------------------------------------------

def test_gae_matches_hand_computation():
    # gamma = 1, lambda = 0.95; row 0 ends at t=2 (t=3 is a pad with junk), row 1 is full length.
    rewards = torch.tensor([[0.1, -0.2, 1.0, 5.0], [0.0, 0.0, 0.0, 2.0]])
    values = torch.tensor([[0.3, 0.6, 0.2, 7.0], [1.0, 0.5, -0.5, 0.25]])
    mask = torch.tensor([[True, True, True, False], [True] * 4])
    adv, ret = compute_gae(rewards, values, mask, gamma=1.0, gae_lambda=0.95)
    expected = torch.zeros(2, 4)
    for b, length in enumerate([3, 4]):
        r, v = rewards[b, :length].tolist(), values[b, :length].tolist() + [0.0]
        deltas = [r[t] + v[t + 1] - v[t] for t in range(length)]
        for t in range(length):
            expected[b, t] = sum(0.95 ** l * deltas[t + l] for l in range(length - t))
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, (expected + values) * mask)
    # row 0 by hand: deltas (0.1+0.6-0.3, -0.2+0.2-0.6, 1.0-0.2) = (0.4, -0.6, 0.8)
    assert adv[0, 2].item() == pytest.approx(0.8)
    assert adv[0, 1].item() == pytest.approx(-0.6 + 0.95 * 0.8)
    assert adv[0, 0].item() == pytest.approx(0.4 + 0.95 * (-0.6 + 0.95 * 0.8))
    assert adv[0, 3].item() == 0.0 and ret[0, 3].item() == 0.0


def test_whitening_ignores_pads():
    x = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    w = masked_whiten(x, mask)
    real = torch.tensor([1.0, 2.0, 3.0, 4.0])
    expected = (real - real.mean()) / real.std(unbiased=True)
    torch.testing.assert_close(w[mask], expected, rtol=1e-5, atol=1e-6)
    assert (w[~mask] == 0).all()
    junk = x.clone(); junk[~mask] = torch.tensor([1e3, -5e2, 7.0, 42.0])
    torch.testing.assert_close(masked_whiten(junk, mask), w)
    assert masked_mean(junk, mask).item() == pytest.approx(2.5)


def test_dpo_loss_matches_hand_computation():
    # chosen: policy -10, ref -12 (log-ratio +2); rejected: policy -9, ref -8 (log-ratio -1); beta 0.2 -> h = 0.6
    losses, chosen_r, rejected_r = dpo_loss(torch.tensor([-10.0]), torch.tensor([-9.0]), torch.tensor([-12.0]),
                                            torch.tensor([-8.0]), beta=0.2)
    assert losses.item() == pytest.approx(math.log(1 + math.exp(-0.6)), abs=1e-6)
    assert chosen_r.item() == pytest.approx(0.4) and rejected_r.item() == pytest.approx(-0.2)
    smoothed, _, _ = dpo_loss(torch.tensor([-10.0]), torch.tensor([-9.0]), torch.tensor([-12.0]), torch.tensor([-8.0]),
                              beta=0.2, label_smoothing=0.25)
    assert smoothed.item() == pytest.approx(0.75 * math.log(1 + math.exp(-0.6)) + 0.25 * math.log(1 + math.exp(0.6)), abs=1e-6)


def test_dpo_batch_loss_on_a_pair_matches_hand_computation():
    policy = tiny_policy()
    ref = copy.deepcopy(policy.model).requires_grad_(False)
    with torch.no_grad():                                # move the policy away from the reference
        for p in policy.model.parameters(): p.add_(0.05 * torch.randn_like(p))
    pair = Comparison(Document('d', TEXTS[0]), 'a dog ran.', 'the cat sat.', choice=1.0)   # b won
    loss, stats = dpo_batch_loss(policy.model, ref, policy, [pair], beta=0.3)
    def total(model, summary):
        ids, mask = policy.encode_targets([summary])
        with torch.no_grad(): return policy.action_logprobs(policy.encode_sources([TEXTS[0]]), ids, mask, model=model)[0].sum().item()
    h = 0.3 * ((total(policy.model, 'the cat sat.') - total(ref, 'the cat sat.')) - (total(policy.model, 'a dog ran.') - total(ref, 'a dog ran.')))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-h)), abs=1e-5)
    assert stats['margin'] == pytest.approx(h, abs=1e-5)


def test_rloo_advantages_and_kl_controller():
    adv = rloo_advantages(torch.tensor([3.0, 1.0, 2.0, 0.0]), k=2)
    torch.testing.assert_close(adv, torch.tensor([2.0, -2.0, 2.0, -2.0]))
    assert rloo_advantages(torch.tensor([5.0, 5.0, 5.0]), k=3).abs().max() == 0
    ctl = KLController(0.2, target=4.0, horizon=50)
    ctl.update(5.0, n_steps=10)                          # 25% over: error 0.2 (clipped) -> beta * (1 + 0.2 * 10/50)
    assert ctl.value == pytest.approx(0.2 * 1.04)


# ---- masks ---------------------------------------------------------------------------------------------------

def test_eos_and_pad_masks_on_a_hand_made_batch():
    pad, eos = 1, 2
    seqs = torch.tensor([[7, 8, eos, pad, pad],        # ends early
                         [7, 8, 9, 10, eos],           # EOS exactly at the limit
                         [7, 8, 9, 10, 11],            # never ends: truncated
                         [eos, pad, pad, pad, pad]])   # empty summary, just EOS
    mask = response_mask(seqs, eos_token_id=eos)
    assert mask.int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert last_token_index(mask).tolist() == [2, 4, 4, 0]
    has_eos = contains_eos(seqs, mask, eos)
    assert has_eos.tolist() == [True, True, False, True]
    scores = apply_missing_eos_penalty(torch.tensor([0.5, 1.5, 9.0, -0.5]), has_eos, penalty=-1.0)
    assert scores.tolist() == [0.5, 1.5, -1.0, -0.5]
    logprobs = torch.full((4, 5), -1.0) * mask
    ref = torch.full((4, 5), -1.5) * mask
    rewards, kl = kl_penalized_rewards(scores, logprobs, ref, mask, kl_coef=0.1)
    assert (kl[~mask] == 0).all() and (rewards[~mask] == 0).all()
    expected = -0.05 * mask.float()
    expected[torch.arange(4), last_token_index(mask)] += scores
    torch.testing.assert_close(rewards, expected)
    assert rewards[0].tolist() == pytest.approx([-0.05, -0.05, 0.45, 0.0, 0.0])


def test_rollout_tensors_are_masked_and_match_sampling():
    torch.manual_seed(0)
    policy = tiny_policy()
    ref = copy.deepcopy(policy.model).requires_grad_(False)
    actor = PolicyWithValueHead(policy.model).eval()
    rollout = collect_rollout(policy, actor, ref, length_reward, TEXTS, temperature=0.7, max_new_tokens=6, missing_eos_penalty=-3.0)
    B, T = rollout.response_ids.shape
    assert len(rollout) == B == 4 and T <= 6
    for name in ('logprobs', 'ref_logprobs', 'values'):
        t = getattr(rollout, name)
        assert t.shape == (B, T) and (t[~rollout.mask] == 0).all(), name
    assert (rollout.response_ids[~rollout.mask] == policy.tokenizer.pad_token_id).all()
    assert (rollout.logprobs[rollout.mask] < 0).all()
    torch.testing.assert_close(rollout.has_eos, contains_eos(rollout.response_ids, rollout.mask, policy.tokenizer.eos_token_id))
    expected = torch.where(rollout.has_eos, length_reward(None, rollout.summaries), torch.tensor(-3.0))
    torch.testing.assert_close(rollout.scores, expected)
    # the recomputed log-probs are those of the distribution that sampled the tokens (temperature included)
    gen = policy.generate(TEXTS[:2], max_new_tokens=6, do_sample=True, temperature=0.7, seed=3)
    from rlhf_summ.policies.seq2seq import response_logprobs
    tf = response_logprobs(policy.model, policy.encode_sources(TEXTS[:2]), gen.sequences, gen.mask, temperature=0.7)
    torch.testing.assert_close(tf, gen.logprobs, rtol=1e-4, atol=1e-4)


# ---- neutrality at policy == reference -----------------------------------------------------------------------

def test_kl_and_ratio_are_exactly_neutral_when_policy_is_reference():
    torch.manual_seed(1)
    policy = tiny_policy()
    ref = copy.deepcopy(policy.model).requires_grad_(False)
    actor = PolicyWithValueHead(policy.model).eval()
    rollout = collect_rollout(policy, actor, ref, length_reward, TEXTS * 2, temperature=0.7, max_new_tokens=6)
    assert torch.equal(rollout.logprobs, rollout.ref_logprobs)
    assert (rollout.kl == 0).all()
    rewards, kl = kl_penalized_rewards(rollout.scores, rollout.logprobs, rollout.ref_logprobs, rollout.mask, kl_coef=0.5)
    only_score = torch.zeros_like(rewards)
    only_score[torch.arange(len(rollout)), last_token_index(rollout.mask)] = rollout.scores
    assert torch.equal(rewards, only_score)
    # the ratio of a fresh forward to the rollout is exactly 1, so the clipped loss is exactly -mean(A)
    cfg = RLConfig(algo='ppo')
    advantages, returns = rollout_advantages(rollout, cfg, kl_coef=0.5)
    logprobs, values = policy.action_logprobs(rollout.encoder_inputs, rollout.response_ids, rollout.mask, 0.7, model=actor)
    assert torch.equal(logprobs, rollout.logprobs) and torch.equal(values, rollout.values)
    loss, stats = ppo_policy_loss(logprobs, rollout.logprobs, advantages, rollout.mask, clip_coef=0.2)
    assert stats['ratio'].item() == 1.0 and stats['clipfrac'].item() == 0.0 and stats['approx_kl'].item() == 0.0
    assert loss.item() == pytest.approx(-masked_mean(advantages, rollout.mask).item(), abs=1e-7)
    vloss, vclip = ppo_value_loss(values, rollout.values, returns, rollout.mask)
    assert vclip.item() == 0.0 and torch.isfinite(vloss)


# ---- one update on a tiny model --------------------------------------------------------------------------------

@pytest.mark.parametrize('algo', ['ppo', 'rloo'])
def test_one_update_changes_parameters_and_keeps_losses_finite(algo):
    torch.manual_seed(2)
    policy = tiny_policy()
    ref = copy.deepcopy(policy.model).requires_grad_(False)
    cfg = RLConfig(algo=algo, minibatch_size=4, num_epochs=2, rloo_k=2, lr=1e-3, max_grad_norm=1.0)
    module = policy.actor(value_head=algo == 'ppo').eval()
    docs = TEXTS if algo == 'ppo' else [t for t in TEXTS for _ in range(2)]
    rollout = collect_rollout(policy, module, ref, length_reward, docs, temperature=1.0, max_new_tokens=6, missing_eos_penalty=None)
    if algo == 'rloo': assert (rollout.values == 0).all()
    advantages, returns = rollout_advantages(rollout, cfg, kl_coef=0.05)
    assert torch.isfinite(advantages).all() and (advantages[~rollout.mask] == 0).all()
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.lr)
    stats = rl_update(policy, module, optimizer, accelerator(), rollout, advantages, returns, cfg, torch.Generator().manual_seed(0))
    assert all(math.isfinite(v) for v in stats.values())
    assert ('value_loss' in stats) == (algo == 'ppo')
    changed = [n for n, p in module.named_parameters() if not torch.equal(p, before[n])]
    assert any('lm_head' in n or 'decoder' in n for n in changed)
    if algo == 'ppo': assert any('value_head' in n for n in changed)
    assert stats['approx_kl'] > 0                       # the second epoch sees a moved policy


# ---- whole runs ----------------------------------------------------------------------------------------------

def test_train_rl_is_deterministic_on_cpu(tmp_path):
    build_tiny_policy('bart', TEXTS * 5, vocab_size=300, d_model=16, layers=1, max_source_length=32,
                      max_target_length=8).save(tmp_path / 'sft')
    runs = []
    for i in range(2):
        cfg = RLConfig(algo='ppo', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / f'run{i}'), steps=2,
                       batch_size=2, minibatch_size=2, num_epochs=2, max_new_tokens=6, lr=1e-3, seed=7, cpu=True)
        runs.append(train_rl(cfg, TEXTS, reward_fn=length_reward))
    rows = [[{k: v for k, v in json.loads(l).items() if k != 'train/rl/seconds'} for l in (r / 'metrics.jsonl').read_text().splitlines()]
            for r in runs]
    assert rows[0] == rows[1] and len(rows[0]) == 2
    assert (runs[0] / 'model.safetensors').read_bytes() == (runs[1] / 'model.safetensors').read_bytes()
    assert (runs[0] / 'value_head.safetensors').read_bytes() == (runs[1] / 'value_head.safetensors').read_bytes()
    assert json.loads((runs[0] / 'rl_config.json').read_text())['seed'] == 7


def test_rloo_run_writes_a_loadable_policy(tmp_path):
    from rlhf_summ.policies.seq2seq import Policy
    build_tiny_policy('bart', TEXTS * 5, vocab_size=300, d_model=16, layers=1, max_source_length=32,
                      max_target_length=8).save(tmp_path / 'sft')
    cfg = RLConfig(algo='rloo', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / 'rloo'), steps=2, batch_size=2,
                   rloo_k=2, minibatch_size=4, num_epochs=1, max_new_tokens=6, lr=1e-3, cpu=True)
    run = train_rl(cfg, [Document(str(i), t) for i, t in enumerate(TEXTS)], reward_fn=length_reward)
    rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows] == [1, 2] and 'train/rl/value_loss' not in rows[0]
    assert all(math.isfinite(v) for r in rows for v in r.values())
    assert not (run / 'value_head.safetensors').exists()
    loaded = Policy.from_pretrained(run)
    assert loaded.parents['algo'] == 'rloo' and loaded.parents['sft'] == str(tmp_path / 'sft')
    sft = Policy.from_pretrained(tmp_path / 'sft')
    assert any(not torch.equal(a, b) for a, b in zip(loaded.model.parameters(), sft.model.parameters()))


def test_reward_reads_title_first_text_while_policy_reads_text(tmp_path):
    "The reward model was trained on `document_text` (title first): RL must score the same input, not the bare text."
    build_tiny_policy('bart', TEXTS * 5, vocab_size=300, d_model=16, layers=1, max_source_length=32,
                      max_target_length=8).save(tmp_path / 'sft')
    seen = []
    def recording_reward(documents, summaries):
        seen.extend(documents)
        return length_reward(documents, summaries)
    cfg = RLConfig(algo='rloo', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / 'run'), steps=1, batch_size=2,
                   rloo_k=2, minibatch_size=4, num_epochs=1, max_new_tokens=4, lr=1e-3, cpu=True)
    train_rl(cfg, [Document(str(i), t, title=f'Title {i}') for i, t in enumerate(TEXTS)], reward_fn=recording_reward)
    assert len(seen) == 4 and all(d.startswith('Title ') and d.split('\n\n', 1)[1] in TEXTS for d in seen)



def _safetensors(run):
    "Every tensor of every safetensors file in the run folder (the policy and, for PPO, its value head)."
    from safetensors.torch import load_file
    return {f'{f.name}/{k}': v for f in sorted(run.glob('*.safetensors')) for k, v in load_file(f).items()}


def _rows(run, drop='seconds'):
    return [{k: v for k, v in json.loads(l).items() if not k.endswith(drop)} for l in (run / 'metrics.jsonl').read_text().splitlines()]


def _assert_resumed_exactly(straight, first, resumed, sft):
    "An interrupted run has a checkpoint and no final policy; resumed, it ends with the straight run's weights and metrics."
    assert resumed == first
    a, b, init = _safetensors(straight), _safetensors(resumed), _safetensors(sft)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert any(not torch.equal(a[k], init[k]) for k in init)                   # training moved the weights
    assert _rows(straight) == _rows(resumed)


@pytest.mark.parametrize('algo', ['ppo', 'rloo'])
def test_rl_resumes_exactly(tmp_path, algo):
    "Stopped after step 2 of 4 and resumed: the same final weights (value head, adaptive beta, minibatch order and sampling RNG restored)."
    tiny_policy().save(tmp_path / 'sft')
    docs = [Document(str(i), t) for i, t in enumerate(TEXTS)]
    def run(name, **kw):
        cfg = RLConfig(algo=algo, sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / name), steps=4, batch_size=2,
                       minibatch_size=2, num_epochs=2, rloo_k=2, max_new_tokens=6, lr=1e-2, target_kl=0.5, kl_horizon=10,
                       seed=3, cpu=True, progress=False, **kw)
        return train_rl(cfg, docs, reward_fn=length_reward)
    straight = run('straight')
    first = run('resumed', stop_at_step=2)
    assert (first / 'checkpoints' / 'last').read_text() == 'step_000002' and not list(first.glob('*.safetensors'))
    resumed = run('ignored', resume_from=str(first))
    _assert_resumed_exactly(straight, first, resumed, tmp_path / 'sft')
    kl_coefs = [r['train/rl/kl_coef'] for r in _rows(resumed)]
    assert len(kl_coefs) == 4 and len(set(kl_coefs)) > 1                      # the adaptive beta moved, and was restored


def tiny_extractive_sft(path):
    "A random tiny one-sentence extractive policy saved at `path`; returns four documents, each with one sentence stating a number."
    from rlhf_summ.policies.extractive import ExtractivePolicy, ExtractiveScorer
    torch.manual_seed(0)
    ExtractivePolicy(ExtractiveScorer(d_model=16, layers=1, heads=2, dropout=0.0), k=1).save(path)
    return [Document(str(i), f"We study {w}. Our model improves {w} by {i + 2} points. We thank the {w} team.")
            for i, w in enumerate(['cats', 'dogs', 'birds', 'fish'])]


def test_exact_rl_resumes_exactly(tmp_path):
    "Exact RL on a tiny extractive policy, stopped after step 2 of 4 and resumed: the same final weights."
    docs = tiny_extractive_sft(tmp_path / 'sft')
    def run(name, **kw):
        cfg = RLConfig(algo='exact', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / name), steps=4, batch_size=2,
                       num_epochs=2, candidates=2, lr=1e-2, target_kl=0.5, kl_horizon=10, seed=3, cpu=True, progress=False, **kw)
        return train_rl(cfg, docs, reward_fn=length_reward)
    straight = run('straight')
    first = run('resumed', stop_at_step=2)
    resumed = run('ignored', resume_from=str(first))
    _assert_resumed_exactly(straight, first, resumed, tmp_path / 'sft')
    assert all(r['train/rl/candidates'] == 2 for r in _rows(resumed))         # two candidates per document, each scored


def test_exact_rl_refuses_a_policy_it_cannot_enumerate(tmp_path):
    tiny_policy().save(tmp_path / 'sft')
    cfg = RLConfig(algo='exact', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / 'rl'), steps=1, batch_size=2, cpu=True, progress=False)
    with pytest.raises(ValueError, match="needs a policy whose summaries can be enumerated"):
        train_rl(cfg, TEXTS[:2], reward_fn=length_reward)


def test_dpo_resumes_exactly(tmp_path):
    from rlhf_summ.rl import DPOConfig, train_dpo
    tiny_policy().save(tmp_path / 'sft')
    pairs = [Comparison(Document(str(i), t), t.split(' ')[0] + ' ' + t.split(' ')[1], 'a dog ran.', choice=0.0) for i, t in enumerate(TEXTS)]
    def run(name, **kw):
        return train_dpo(DPOConfig(sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / name), steps=5, batch_size=2, lr=1e-2,
                                   save_every=2, seed=1, cpu=True, progress=False, **kw), pairs)
    straight = run('straight')
    first = run('resumed', stop_at_step=3)
    assert (first / 'checkpoints' / 'last').read_text() == 'step_000003' and not list(first.glob('*.safetensors'))
    resumed = run('resumed', resume_from=str(first / 'checkpoints' / 'step_000002'))    # an older checkpoint: step 3 is run again
    _assert_resumed_exactly(straight, first, resumed, tmp_path / 'sft')


def test_old_field_names_are_refused_with_their_new_names(tmp_path):
    from rlhf_summ.config import load_config, save_config
    from rlhf_summ.rl import DPOConfig
    with pytest.raises(TypeError, match='learning_rate'): RLConfig(learning_rate=1e-4)
    with pytest.raises(TypeError, match='learning_rate'): DPOConfig(learning_rate=2e-4)
    (tmp_path / 'old.json').write_text(json.dumps({'algo': 'rloo', 'learning_rate': 5e-5, 'total_steps': 3}))
    with pytest.raises(ValueError, match=r'learning_rate is now lr; total_steps is now steps'):
        load_config(RLConfig, tmp_path / 'old.json')
    assert load_config(RLConfig, save_config(RLConfig(lr=7e-5, steps=3), tmp_path / 'new.json')).steps == 3

DDP_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from rlhf_summ.rl import RLConfig, train_rl
docs = [f"document {i} says the cat sat on the mat and the dog ran in the park." for i in range(8)]
length_reward = lambda documents, summaries: torch.tensor([len(s.split()) / 5 for s in summaries])
config = RLConfig(algo='rloo', sft_model=sys.argv[1], runs_root=sys.argv[2], steps=2, batch_size=2, rloo_k=2,
                  minibatch_size=2, num_epochs=1, max_new_tokens=6, lr=1e-3, cpu=True)
train_rl(config, docs, reward_fn=length_reward)
"""


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path, torchrun):
    "`train_rl` under torchrun with 2 CPU processes (gloo): one run folder, one metrics line per step, statistics over both processes."
    docs = ["the cat sat on the mat and the dog ran in the park.", "document one says the cat sat."] * 4
    build_tiny_policy('bart', docs, vocab_size=300, d_model=32, layers=1, max_source_length=48, max_target_length=8).save(tmp_path/'sft')
    out = torchrun(DDP_SCRIPT, tmp_path/'sft', tmp_path/'runs')
    assert 'x2;' in out.stdout and 'summaries_per_rollout_all_processes=8' in out.stdout
    runs = list((tmp_path/'runs').iterdir())
    assert len(runs) == 1, runs
    rows = [json.loads(l) for l in (runs[0]/'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows] == [1, 2]
    assert rows[0]['train/rl/kl'] == 0.0 and rows[1]['train/rl/lr'] < rows[0]['train/rl/lr']
    from rlhf_summ.policies.seq2seq import Policy
    assert Policy.from_pretrained(runs[0]).parents['algo'] == 'rloo'


def test_exact_rl_survives_rewards_with_no_verdict(tmp_path):
    "A reward model that returns NaN for some candidates (a preference term's -inf - -inf) gives them the worst reward, not NaN weights."
    from rlhf_summ.policies import load_policy
    docs = tiny_extractive_sft(tmp_path / 'sft')
    def numbers_or_nan(documents, summaries):      # 3 for a number, NaN for the thanks, 0 otherwise
        return torch.tensor([float('nan') if 'thank' in s else 3.0 * any(ch.isdigit() for ch in s) for s in summaries])
    cfg = RLConfig(algo='exact', sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / 'rl'), steps=6, batch_size=4,
                   num_epochs=2, candidates=3, lr=1e-2, kl_coef=0.1, seed=0, cpu=True, progress=False)
    policy = load_policy(str(train_rl(cfg, docs, reward_fn=numbers_or_nan)))
    assert all(torch.isfinite(p).all() for p in policy.model.parameters())
    assert all(any(ch.isdigit() for ch in s) for s in policy.summarize(docs))
