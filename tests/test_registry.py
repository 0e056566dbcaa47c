"""Model registry: atomic numbering under concurrent registration, pointer moves, partner rules, and a real
reward model round trip through its own save/from_pretrained."""
import json, random, threading
from pathlib import Path

import pytest

from rlhf_summ.feedback.registry import Registry, VersionInfo, choose_partner


class Saved:
    def __init__(self, text): self.text = text
    def save(self, d): Path(d).mkdir(parents=True); (Path(d)/'weights.txt').write_text(self.text)


def test_concurrent_registration_takes_distinct_numbers(tmp_path):
    registry, errors = Registry(tmp_path), []
    def register(i):
        try: registry.register('reward', Saved(f'model {i}'), data={'i': i})
        except Exception as e: errors.append(e)
    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert errors == []
    versions = registry.versions('reward')
    assert [v.version for v in versions] == [f'v{i}' for i in range(1, 9)]
    assert sorted((v.model_dir/'weights.txt').read_text() for v in versions) == sorted(f'model {i}' for i in range(8))
    assert {v.data['i'] for v in versions} == set(range(8))



def test_a_run_folder_registers_without_its_checkpoints(tmp_path):
    "A trainer's run folder (the model beside `checkpoints/`, which can hold the optimizer state) becomes a version holding the model only."
    run = tmp_path / 'run'
    Saved('final').save(run)
    (run / 'checkpoints' / 'step_000002' / 'trainer_state').mkdir(parents=True)
    (run / 'checkpoints' / 'step_000002' / 'trainer_state' / 'optimizer.bin').write_bytes(b'x' * 100)
    (run / 'checkpoints' / 'last').write_text('step_000002')
    version = Registry(tmp_path / 'registry').register('policy', src_dir=run)
    assert sorted(p.name for p in version.model_dir.iterdir()) == ['weights.txt']

def test_pointer_history_survives_reopening(tmp_path):
    registry = Registry(tmp_path)
    for t in 'abcd': registry.register('policy', Saved(t))
    registry.promote('policy', 'v2'); registry.promote('policy', 4, reason='gate')
    reopened = Registry(tmp_path)
    assert reopened.current('policy').version == 'v4'
    assert reopened.rollback('policy').version == 'v2'
    assert reopened.rollback('policy').version == 'v1'
    with pytest.raises(LookupError, match='never promoted'): reopened.rollback('policy')
    assert [(h['action'], h['previous'], h['current']) for h in reopened.history('policy')] == [
        ('promote', 'v1', 'v2'), ('promote', 'v2', 'v4'), ('rollback', 'v4', 'v2'), ('rollback', 'v2', 'v1')]
    assert Registry(tmp_path).current('policy').version == 'v1'
    assert reopened.current('reward') is None
    with pytest.raises(LookupError, match='No reward version'): reopened.get('reward')


def test_version_json_is_the_metadata(tmp_path):
    registry = Registry(tmp_path)
    info = registry.register('policy', Saved('x'), parents={'policy': 'v0', 'reward': 'v3'}, metrics={'eval/win_rate': 0.7},
                             data={'num_documents': 12}, notes='by hand')
    meta = json.loads((tmp_path/'policy'/'v1'/'version.json').read_text())
    assert meta['parents'] == {'policy': 'v0', 'reward': 'v3'} and meta['metrics'] == {'eval/win_rate': 0.7}
    assert meta['data'] == {'num_documents': 12} and 'path' not in meta and meta['created'] == info.created
    assert registry.get('policy', 'policy/v1') == info
    with pytest.raises(ValueError, match='exactly one'): registry.register('policy')


def test_partner_rules():
    versions = [VersionInfo('policy', f'v{i}', 0.0, parents={'policy': f'v{i - 2}'} if i > 2 else {}) for i in range(1, 7)]
    current = versions[-1]
    assert choose_partner(versions, current, 'previous').version == 'v5'
    assert choose_partner(versions, current, 'parent').version == 'v4'
    draws = [choose_partner(versions, current, 'random', random.Random(i)).version for i in range(200)]
    assert set(draws) == {'v1', 'v2', 'v3', 'v4', 'v5'} and max(draws.count(v) for v in set(draws)) < 70
    assert choose_partner(versions, versions[2], 'previous').version == 'v2'   # partner of an older current


def test_reward_model_round_trip(tmp_path):
    from rlhf_summ.reward import tiny_reward_model
    model = tiny_reward_model(max_length=32)
    registry = Registry(tmp_path)
    info = registry.register('reward', model, promote=True)
    loaded = registry.load('reward')   # default loader: RewardModel.from_pretrained
    docs, sums = ['a short document about cats', 'another about dogs'], ['cats', 'dogs bark']
    assert loaded.score(docs, sums).tolist() == pytest.approx(model.score(docs, sums).tolist(), abs=1e-6)
    assert info.model_dir.is_dir() and (info.model_dir.parent/'version.json').exists()


CRASHING_REGISTRATION = '''
import os, signal, sys
from pathlib import Path
from rlhf_summ.feedback.registry import Registry
class DiesMidSave:
    def save(self, d):
        Path(d).mkdir(parents=True); (Path(d)/'weights.bin').write_bytes(b'half a model')
        os.kill(os.getpid(), signal.SIGKILL)
Registry(sys.argv[1]).register('policy', DiesMidSave())
'''


def test_killed_registration_leaves_no_version_and_is_cleaned(tmp_path):
    import os, subprocess, sys
    registry = Registry(tmp_path)
    registry.register('policy', Saved('v1 weights'))
    killed = subprocess.run([sys.executable, '-c', CRASHING_REGISTRATION, str(tmp_path)], env={**os.environ}, timeout=120)
    assert killed.returncode == -9
    left = sorted(p.name for p in (tmp_path / 'policy').iterdir())
    assert left[0].startswith('.staging-') and left[1:] == ['v1']   # the half-written model never got a number
    assert [v.version for v in registry.versions('policy')] == ['v1']
    reopened = Registry(tmp_path)                                    # what a restarted server does
    assert [p.name for p in reopened.cleaned] == [left[0]]
    assert sorted(p.name for p in (tmp_path / 'policy').iterdir()) == ['v1']
    assert reopened.register('policy', Saved('v2 weights')).version == 'v2'
    assert (reopened.get('policy', 'v2').model_dir / 'weights.txt').read_text() == 'v2 weights'


def test_failed_save_removes_its_staging_folder(tmp_path):
    class Fails:
        def save(self, d): Path(d).mkdir(parents=True); raise OSError('disk full')
    registry = Registry(tmp_path)
    with pytest.raises(OSError, match='disk full'): registry.register('reward', Fails())
    assert list((tmp_path / 'reward').iterdir()) == [] and registry.versions('reward') == []
