"""The online loop without the web app: one round on a store and a registry trains the reward model on new picks,
then a policy version by RL, and the gate promotes it exactly when its reward-judged win rate, on the sections whose
summaries differ, reaches the threshold."""
import pytest

from rlhf_summ.data import Document, Section
from rlhf_summ.feedback.online import online_round, open_store
from rlhf_summ.feedback.registry import Registry

TEXTS = [f"Paper {i} studies method {i % 3} and finds it improves accuracy by {i} points." for i in range(8)]


@pytest.mark.parametrize('threshold', [0.0, 1.01])
def test_online_round_with_gate(tmp_path, threshold):
    import torch
    from rlhf_summ.policies.seq2seq import build_tiny_policy
    from rlhf_summ.reward import tiny_reward_model
    from rlhf_summ.rl import RLConfig
    torch.set_num_threads(1)
    registry, store = Registry(tmp_path / 'registry'), open_store(tmp_path)
    registry.register('policy', build_tiny_policy('bart', TEXTS * 2, vocab_size=300, d_model=32, layers=1, max_target_length=8))
    registry.register('reward', tiny_reward_model(max_length=48))
    for i in range(4):
        doc_id, _ = store.add_document(Document(f'd{i}', f'paper {i}', sections=[Section('1', TEXTS[2 * i]), Section('2', TEXTS[2 * i + 1])]),
                                       valid_fraction=0.0)
        for sid, _ in store.sections(doc_id):
            store.add_comparison(store.add_pair(sid, ('short', 'policy/v1'), ('a longer summary', 'policy/v1')), 'alice', 'a')
    assert store.num_new() == 8
    rl = RLConfig(algo='rloo', steps=1, batch_size=2, minibatch_size=2, num_epochs=1, rloo_k=2, max_new_tokens=6, cpu=True)
    out = online_round(store, registry, rl, promote='gate', min_win_rate=threshold, gate_sections=4,
                       update_kwargs=dict(steps=2, tolerance=1.0))
    assert out['reward_update']['status'] == 'accepted' and registry.current('reward').name == 'reward/v2'
    assert store.num_new() == 0
    assert out['policy'].name == 'policy/v2' and out['policy'].parents == {'policy': 'v1', 'reward': 'v2'}
    assert 0.0 <= out['win_rate'] <= 1.0
    gate_docs = store.section_documents('valid', 4) or store.section_documents('train', 4)
    differ = registry.load('policy', 'v1').generate(gate_docs).summaries != registry.load('policy', 'v2').generate(gate_docs).summaries
    promoted = differ and out['win_rate'] >= threshold          # judged where the summaries differ; none differ: no evidence
    assert registry.current('policy').version == ('v2' if promoted else 'v1')
    again = online_round(store, registry)                     # nothing new, no RL config: nothing to do
    assert again == {'reward_update': None, 'policy': None, 'win_rate': None, 'trial': None}
    store.close()
