"""Reward model: loss maths, features, the zero-shot start, checkpoints, training, exact resume, the online-update guard, uncertainty."""
import json, math, shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LEDConfig

from rlhf_summ.data import Comparison, Document, load_comparisons, split_by_document
from rlhf_summ.train import last_checkpoint, read_metrics
from rlhf_summ.reward import (FEATURES, ZERO_SHOT_WEIGHT, normalization_pool, RewardConfig, RewardModel, comparison_targets,
                              document_text, encode_pair, evaluate_reward, expected_calibration_error, minilm_path,
                              most_uncertain, pairwise_accuracy, preference_loss, preference_uncertainty, tiny_reward_model,
                              toy_comparisons, train_reward)


def tiny_config(tmp_path, **kw) -> RewardConfig:
    "A CPU config for the tiny model saved under tmp_path."
    base = tmp_path/'tiny'
    if not base.exists(): tiny_reward_model().save(base)
    values = dict(model=str(base), max_length=48, batch_size=8, steps=30, lr=0.05, warmup_ratio=0.0, eval_every=15,
                  save_every=15, runs_root=str(tmp_path/'runs'), device='cpu', progress=False)
    return RewardConfig(**(values | kw))


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> RewardModel:
    "A tiny model trained to near-perfect accuracy on the separable toy set."
    tmp = tmp_path_factory.mktemp('trained')
    run = train_reward(tiny_config(tmp, eval_at_start=False), toy_comparisons(64), toy_comparisons(16, seed=1, split='val'))
    return RewardModel.from_pretrained(run/'model', device='cpu')


# --- the loss, by hand -------------------------------------------------------------------------------------------

def test_preference_loss_matches_hand_computation():
    # -log sigmoid(2) = log(1 + e^-2); -log sigmoid(-1) = log(1 + e)
    loss = preference_loss(torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx((math.log(1 + math.exp(-2)) + math.log(1 + math.e)) / 2, abs=1e-6)


def test_tie_is_a_half_target():
    # t = 0.5, z = 2: 0.5 log(1 + e^-2) + 0.5 log(1 + e^2); minimised at z = 0 where it is log 2
    z2 = preference_loss(torch.tensor([3.0]), torch.tensor([1.0]), target=torch.tensor([0.5]))
    assert z2.item() == pytest.approx(0.5 * math.log(1 + math.exp(-2)) + 0.5 * math.log(1 + math.exp(2)), abs=1e-6)
    z0 = preference_loss(torch.tensor([1.0]), torch.tensor([1.0]), target=torch.tensor([0.5]))
    assert z0.item() == pytest.approx(math.log(2), abs=1e-6) and z0 < z2


def test_margin_shifts_the_logit():
    # margin 1 turns r_c - r_r = 2 into z = 1: log(1 + e^-1)
    loss = preference_loss(torch.tensor([3.0]), torch.tensor([1.0]), margin=torch.tensor([1.0]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)


def test_targets_and_margins_from_comparisons():
    d = Document('p', 'post')
    cs = [Comparison(d, 'a', 'b', 0.0, confidence=2), Comparison(d, 'a', 'b', 1.0, confidence=9),
          Comparison(d, 'a', 'b', 0.5, confidence=3), Comparison(d, 'a', 'b', 0.0)]
    target, margin = comparison_targets(cs, margin_scale=4.0)
    assert target.tolist() == [1.0, 1.0, 0.5, 1.0]
    assert margin.tolist() == [3.0, 4.0, 0.0, 0.0]   # 4 * |c - 5| / 4; none for ties or unknown confidence


def test_accuracy_and_ece_by_hand():
    assert pairwise_accuracy(torch.tensor([2., 1., 0.]), torch.tensor([1., 1., 1.])) == pytest.approx(0.5)
    # bins [0.5, 0.75) and [0.75, 1]: |0.5 - 0.65| / 2 + |1 - 0.85| / 2
    assert expected_calibration_error(torch.tensor([0.9, 0.8, 0.3, 0.6]), n_bins=2) == pytest.approx(0.15, abs=1e-6)


# --- encoding and the model ----------------------------------------------------------------------------------------

def test_summary_kept_whole_and_document_truncated():
    tok = AutoTokenizer.from_pretrained(minilm_path())
    summary = 'the landlord kept the deposit and the tenant wants it back ' * 3
    document = 'a very long post about a flat and a deposit ' * 100
    summary_ids = tok(summary, add_special_tokens=False)['input_ids']
    doc_ids = tok(document, add_special_tokens=False)['input_ids']
    enc = encode_pair(tok, document, summary, max_length=64)
    assert len(enc['input_ids']) == 64
    assert enc['input_ids'][-len(summary_ids) - 1:-1] == summary_ids          # the whole summary
    kept = 64 - 3 - len(summary_ids)
    assert enc['input_ids'][1:1 + kept] == doc_ids[:kept]                      # the document's head, cut to fit
    assert enc['input_ids'][0] == tok.cls_token_id and enc['input_ids'][1 + kept] == tok.sep_token_id
    with pytest.warns(UserWarning, match='truncating it too'):             # a summary that cannot fit at all
        assert len(encode_pair(tok, document, summary * 10, max_length=64)['input_ids']) == 64


def test_save_load_roundtrip(tmp_path):
    rm = tiny_reward_model()
    docs, summs = ['post one', 'post two', 'post three'], ['one', 'two!', 'three three']
    rm.fit_normalization(docs, summs)
    assert rm.score(docs, summs, normalize=True).mean().item() == pytest.approx(0.0, abs=1e-5)
    path = rm.save(tmp_path/'rm')
    assert {'reward_config.json', 'head.safetensors', 'tokenizer.json'} <= {p.name for p in path.iterdir()}
    assert {p.name for p in (path/'backbone').iterdir()} == {'config.json', 'model.safetensors'}
    meta = json.loads((path/'reward_config.json').read_text())
    assert (meta['norm_mean'], meta['norm_std']) == (rm.norm_mean, rm.norm_std) and meta['max_length'] == 64
    back = RewardModel.from_pretrained(path, device='cpu')
    assert torch.equal(back.score(docs, summs), rm.score(docs, summs))
    assert torch.equal(back.score(docs, summs, normalize=True), rm.score(docs, summs, normalize=True))


def test_pretrained_minilm_starts_as_the_zero_shot_judge():
    "Step 0 of the default model is ZERO_SHOT_WEIGHT times the cosine of MiniLM's mean-pooled, normalized embeddings."
    rm = RewardModel.from_pretrained('minilm', max_length=128, device='cpu')
    assert rm.head.in_features == len(FEATURES) and rm.max_length == 128
    docs, summs = ['My landlord kept my deposit after I moved out.'] * 2, ['Landlord kept deposit.', 'I like trains.']
    tok, enc = rm.tokenizer, rm.backbone
    def embed(texts, n):   # by hand: mean over real tokens, unit length
        b = tok(texts, truncation=True, max_length=n, padding=True, return_tensors='pt')
        with torch.no_grad(): h = enc(**b).last_hidden_state
        m = b['attention_mask'].unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
    cosine = (embed(docs, 128) * embed(summs, rm.summary_max_length)).sum(-1)
    scores = rm.score(docs, summs)
    assert torch.allclose(scores, ZERO_SHOT_WEIGHT * cosine, atol=1e-4)
    assert scores[0] > scores[1]                                        # the on-topic summary wins before any training
    assert not any(p.requires_grad for p in rm.backbone.parameters())


def test_training_on_real_picks_beats_the_zero_shot_start(shared_data, tmp_path):
    "A few hundred real TL;DR picks move the head and raise accuracy on posts it never saw; the backbone stays frozen."
    comps = load_comparisons(shared_data/'comparisons'/'tldr_batch13.json', limit=200)
    train, val = split_by_document(comps, 0.3, seed=0)
    cfg = RewardConfig(model='minilm', max_length=32, epochs=3, eval_every=1000, save_every=1000, eval_at_start=True,
                       runs_root=str(tmp_path), device='cpu', progress=False)     # 32 document tokens: seconds, not minutes
    run = train_reward(cfg, train, val)
    evals = [r for r in read_metrics(run/'metrics.jsonl') if 'eval/rm/accuracy' in r]
    (step0, acc0), (_, acc1) = [(r['step'], r['eval/rm/accuracy']) for r in evals]
    assert step0 == 0 and acc1 >= acc0 + 0.05, (acc0, acc1)
    trained = RewardModel.from_pretrained(run/'model', device='cpu')
    start = RewardModel.from_pretrained('minilm', max_length=32, device='cpu')
    assert not torch.equal(trained.head.weight, start.head.weight)
    assert all(torch.equal(a, b) for a, b in zip(trained.backbone.state_dict().values(), start.backbone.state_dict().values()))
    docs, summs = [document_text(c.document) for c in val[:8]], [c.summary_a for c in val[:8]]
    again = RewardModel.from_pretrained(trained.save(tmp_path/'copy'), device='cpu')
    assert torch.equal(again.score(docs, summs), trained.score(docs, summs))
    assert torch.equal(again.score(docs, summs, normalize=True), trained.score(docs, summs, normalize=True))


def test_embeddings_are_cached_per_text(tmp_path):
    rm = tiny_reward_model()
    calls = []
    def counting(model):
        encode = model._encode
        model._encode = lambda texts, n: calls.append(list(texts)) or encode(texts, n)
    counting(rm)
    post = 'a post only this test reads'
    rm.score([post] * 3, ['cache a', 'cache b', 'cache a'])
    rm.score([post], ['cache c'])
    assert sorted(t for c in calls for t in c) == sorted(['cache a', 'cache b', 'cache c', post])   # each distinct text once
    rm.score([post], ['cache a'], mc_dropout=True)                                         # MC dropout bypasses the cache
    assert sorted(calls[-2] + calls[-1]) == sorted([post, 'cache a'])
    copy = RewardModel.from_pretrained(rm.save(tmp_path/'rm'), device='cpu')
    assert copy.fingerprint() == rm.fingerprint() != tiny_reward_model(seed=1).fingerprint()
    counting(copy)
    n = len(calls)
    copy.score([post], ['cache b'])                                                      # the copy reuses them
    assert len(calls) == n


def test_old_cross_encoder_folder_is_refused_with_a_reason(tmp_path):
    path = tiny_reward_model().save(tmp_path/'rm')
    meta = json.loads((path/'reward_config.json').read_text())
    del meta['features']
    (path/'reward_config.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='older version'):
        RewardModel.from_pretrained(path)


def test_seq2seq_encoder_backbone_with_global_attention(tmp_path):
    "An LED checkpoint contributes only its encoder, gets global attention on token 0, and round-trips."
    tok = AutoTokenizer.from_pretrained(minilm_path())
    config = LEDConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, attention_window=[8],
                       max_encoder_position_embeddings=128, max_decoder_position_embeddings=64, pad_token_id=tok.pad_token_id)
    rm = RewardModel.from_backbone_config(config, tok, max_length=96)
    assert 'global_attention_mask' in rm._accepts and not hasattr(rm.backbone, 'decoder')
    docs, summs = ['a long post ' * 40, 'short'], ['summary one', 'two']
    scores = rm.score(docs, summs)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    back = RewardModel.from_pretrained(rm.save(tmp_path/'led_rm'), device='cpu')
    assert torch.allclose(back.score(docs, summs), scores, atol=1e-6)


# --- training ----------------------------------------------------------------------------------------------------

def test_loss_falls_on_separable_set(tmp_path):
    cfg = tiny_config(tmp_path)
    start = weights(RewardModel.from_pretrained(cfg.model, device='cpu'))
    run = train_reward(cfg, toy_comparisons(64), toy_comparisons(32, seed=1, split='val'))
    recs = read_metrics(run/'metrics.jsonl')
    losses = [r['train/rm/loss'] for r in recs if 'train/rm/loss' in r]
    accs = [r['eval/rm/accuracy'] for r in recs if 'eval/rm/accuracy' in r]
    assert len(losses) == 30 and sum(losses[-5:]) < 0.25 * sum(losses[:5])
    assert accs[-1] >= 0.95 and [r['step'] for r in recs if 'eval/rm/accuracy' in r] == [0, 15, 30]
    final = RewardModel.from_pretrained(run/'model', device='cpu')
    changed = {k for k, v in final.state_dict().items() if not torch.equal(start[k], v)}
    assert 'head.weight' in changed and not any(k.startswith('backbone.') for k in changed)   # only the head learns
    assert 'head.bias' not in changed   # a shared offset cancels in r_chosen - r_rejected: no gradient
    assert final.norm_std != 1.0 and final.metadata['steps'] == 30
    assert {p.name for p in run.iterdir()} == {'checkpoints', 'config.json', 'eval.json', 'metrics.jsonl', 'model'}
    assert json.loads((run/'config.json').read_text())['lr'] == 0.05


def test_exact_resume(tmp_path):
    "Stopped after step 4 of 6 and resumed from its step-3 checkpoint: the same final weights, normalization and metrics as a straight run."
    cfg = tiny_config(tmp_path, steps=6, eval_every=3, save_every=3, keep_checkpoints=3, batch_size=4, lr=1e-3)
    train, val = toy_comparisons(20), toy_comparisons(8, seed=1, split='val')
    full = train_reward(cfg, train, val)
    crashed = train_reward(RewardConfig(**{**cfg.__dict__, 'output_dir': str(tmp_path/'crashed'), 'stop_at_step': 4}), train, val)
    assert last_checkpoint(crashed).name == 'step_000004' and not (crashed/'model').exists() and not (crashed/'eval.json').exists()
    resumed = train_reward(RewardConfig(**{**cfg.__dict__, 'resume_from': str(crashed/'checkpoints'/'step_000003')}), train, val)
    assert resumed == crashed
    a = RewardModel.from_pretrained(full/'model', device='cpu').state_dict()
    b = RewardModel.from_pretrained(resumed/'model', device='cpu').state_dict()
    init = RewardModel.from_pretrained(tmp_path/'tiny', device='cpu').state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], init[k]) for k in init if k in a and a[k].shape == init[k].shape)
    assert read_metrics(full/'metrics.jsonl') == read_metrics(resumed/'metrics.jsonl')


def test_synthetic_pretraining_phase(tmp_path):
    cfg = tiny_config(tmp_path, steps=3, synthetic_steps=2, eval_every=100, save_every=100, eval_at_start=False)
    run = train_reward(cfg, toy_comparisons(12), toy_comparisons(4, seed=1, split='val'))
    recs = read_metrics(run/'metrics.jsonl')
    assert [r['step'] for r in recs if 'train/rm_synthetic/loss' in r] == [1, 2]
    assert [r['step'] for r in recs if 'train/rm/loss' in r] == [3, 4, 5]


# --- evaluation, online updates, uncertainty -----------------------------------------------------------------------

def test_evaluate_breakdown_on_real_comparisons(shared_data):
    comps = load_comparisons(shared_data/'comparisons'/'tldr_batch13.json', limit=40)
    ev = evaluate_reward(tiny_reward_model(), comps, batch_size=16)
    assert ev['n'] == 40 and ev['n_ties'] == 0 and 0 <= ev['accuracy'] <= 1 and ev['loss'] > 0
    assert set(ev['by_source']) == {'tldr'} and ev['by_source']['tldr']['n'] == 40
    assert sum(v['n'] for v in ev['by_split'].values()) == 40 and set(ev['by_split']) <= {'valid1', 'valid2'}


def test_update_refuses_flipped_labels_and_keeps_weights(trained):
    held, fresh = toy_comparisons(32, seed=2, split='val'), toy_comparisons(32, seed=3)
    flipped = [Comparison(c.document, c.summary_a, c.summary_b, 1.0 - c.choice, source='toy') for c in fresh]
    before, stats = weights(trained), (trained.norm_mean, trained.norm_std)
    res = trained.update(flipped, heldout=held, tolerance=0.02, steps=30, lr=0.05)
    assert not res.accepted and res.accuracy_before >= 0.95 and res.accuracy_after < res.accuracy_before - 0.02
    assert 'fell' in res.reason
    after = trained.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (trained.norm_mean, trained.norm_std) == stats


def test_update_accepts_good_labels_with_replay(trained):
    before = weights(trained)
    res = trained.update(toy_comparisons(16, seed=5), replay=toy_comparisons(40, seed=6), heldout=toy_comparisons(16, seed=7),
                         steps=4, lr=0.01)
    assert res.accepted and res.n_new == 16 and res.n_replay == 16 and res.reason == ''
    assert any(not torch.equal(before[k], v) for k, v in trained.state_dict().items())
    stats = (trained.norm_mean, trained.norm_std)
    new = toy_comparisons(16, seed=8)
    assert trained.update(new, heldout=toy_comparisons(16, seed=7), steps=4, lr=0.01).accepted
    assert (trained.norm_mean, trained.norm_std) != stats             # accepted weights come with refit normalization
    assert abs(trained.score(*normalization_pool(new), normalize=True).mean().item()) < 1e-3


def test_uncertainty_mc_dropout_and_ensemble():
    rm = tiny_reward_model()
    docs, a, b = ['post'] * 4, ['w', 'x', 'y', 'z'], ['z', 'y', 'x', 'w']
    u = preference_uncertainty(rm, docs, a, b, mc_samples=5)
    assert u['prob_b'].shape == u['std'].shape == (4,) and (u['std'] > 0).all()
    again = preference_uncertainty(rm, docs, a, b, mc_samples=5)
    assert torch.equal(u['std'], again['std'])                         # seeded
    assert not rm.training
    same = preference_uncertainty([rm, rm], docs, a, b)                  # identical members agree
    assert torch.equal(same['std'], torch.zeros(4))
    assert most_uncertain(u, 2) == torch.argsort(u['std'], descending=True)[:2].tolist()


def test_update_without_heldout_holds_out_new_documents(trained):
    res = trained.update(toy_comparisons(20, seed=8), steps=2, lr=1e-5)
    assert (res.n_new, res.n_heldout) == (16, 4)        # a fifth of the new comparisons' documents held out
    with pytest.raises(ValueError, match='at least one new comparison'):
        trained.update([])


DDP_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from rlhf_summ.reward import RewardConfig, toy_comparisons, train_reward
config = RewardConfig(model=sys.argv[1], runs_root=sys.argv[2], max_length=48, batch_size=2, grad_accum=2, steps=4, lr=1e-3,
                      warmup_ratio=0.0, eval_every=2, save_every=2, device='cpu', progress=False)
train_reward(config, toy_comparisons(16), toy_comparisons(4, seed=1, split='val'))
"""


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path, torchrun):
    "`train_reward` under torchrun with 2 CPU processes (gloo): one run folder, metrics written once, a global batch of 2x2x2."
    base = tiny_reward_model().save(tmp_path/'tiny')
    out = torchrun(DDP_SCRIPT, base, tmp_path/'runs')
    assert 'effective batch 8 comparisons (2 x 2 accum x 2 processes)' in out.stdout
    runs = list((tmp_path/'runs').iterdir())
    assert len(runs) == 1, runs
    recs = read_metrics(runs[0]/'metrics.jsonl')
    assert [r['step'] for r in recs if 'train/rm/loss' in r] == [1, 2, 3, 4]
    assert [r['step'] for r in recs if 'eval/rm/accuracy' in r] == [0, 2, 4]
    assert (runs[0]/'checkpoints'/'last').read_text() == 'step_000004'
    assert RewardModel.from_pretrained(runs[0]/'model', device='cpu').metadata['steps'] == 4
