"""The data layer against the real files in ../shared/data and hand-made bad input."""
import json
import warnings

import pytest

from rlhf_summ.data import (Comparison, Document, SummaryPair, load_comparison_files, load_comparisons, load_summary_pairs,
                            split_by_document, synthetic_negatives, to_preference_rows)

ROW = {'info': {'id': 'p1', 'post': 'a post', 'title': 't'}, 'split': 'train', 'choice': 0, 'worker': 'w', 'batch': 'b',
       'summaries': [{'text': 'first', 'policy': 'sup'}, {'text': 'second', 'policy': 'ppo'}], 'extra': {'confidence': 7}}


def write_jsonl(path, rows):
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def test_real_comparison_counts(shared_data):
    tldr = load_comparisons(shared_data / 'comparisons/tldr_batch13.json')
    cnndm = load_comparisons(shared_data / 'comparisons/cnndm_batch0.json')
    assert (len(tldr), len(cnndm)) == (1097, 437)
    assert {c.source for c in tldr} == {'tldr'} and {c.source for c in cnndm} == {'cnndm'}
    assert all(c.choice in (0.0, 1.0) and c.document.text for c in tldr)
    assert sum(c.confidence is not None for c in tldr) > 0


def test_missing_choice_names_field_and_line(tmp_path):
    bad = write_jsonl(tmp_path / 'bad.jsonl', [ROW, ROW, {k: v for k, v in ROW.items() if k != 'choice'}])
    with pytest.raises(ValueError, match=r'bad\.jsonl, line 3: missing field `choice`'):
        load_comparisons(bad)


def test_missing_nested_text_names_field(tmp_path):
    bad = write_jsonl(tmp_path / 'nested.jsonl', [{**ROW, 'summaries': [{'text': 'only one'}]}])
    with pytest.raises(ValueError, match=r'line 1: missing field `summaries.1.text`'):
        load_comparisons(bad)


def test_parquet_and_row_fields(tmp_path):
    import datasets
    path = tmp_path / 'c.parquet'
    datasets.Dataset.from_list([ROW, {**ROW, 'choice': 1}]).to_parquet(str(path))
    loaded = load_comparisons(path)
    assert [c.chosen for c in loaded] == ['first', 'second']
    assert (loaded[0].policy_a, loaded[0].policy_b, loaded[0].annotator, loaded[0].confidence) == ('sup', 'ppo', 'w', 7)


def test_empty_documents_dropped_and_counted(tmp_path):
    path = write_jsonl(tmp_path / 'e.jsonl', [ROW, {**ROW, 'info': {**ROW['info'], 'post': ''}}])
    with pytest.warns(UserWarning, match='dropped 1 rows'):
        loaded = load_comparisons(path)
    assert len(loaded) == 1 and loaded.dropped['empty document text'] == 1


def test_missing_file_and_unknown_schema(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jsonl'):
        load_comparisons(tmp_path / 'nope.jsonl')
    with pytest.raises(ValueError, match='unknown summary-pair schema'):
        load_summary_pairs(write_jsonl(tmp_path / 'x.jsonl', [{'foo': 1}]))


def test_summary_pair_sources(shared_data):
    scitldr = load_summary_pairs(shared_data / 'scitldr', split='train', limit=20)
    scisumm = load_summary_pairs(shared_data / 'scisummnet/scisummnet.jsonl', limit=20)
    pubmed = load_summary_pairs(shared_data / 'sumpubmed', limit=20)
    for pairs, source in [(scitldr, 'scitldr'), (scisumm, 'scisummnet'), (pubmed, 'sumpubmed')]:
        assert len(pairs) == 20 and {p.source for p in pairs} == {source}
        assert all(p.document.text.strip() and p.summary.strip() for p in pairs)
    assert all(p.document.sections for p in scisumm)
    assert len(pubmed[0].document.text.split()) > len(pubmed[0].summary.split())


def test_split_keeps_documents_together(shared_data):
    comparisons = load_comparisons(shared_data / 'comparisons/tldr_batch13.json')
    train, val = split_by_document(comparisons, 0.2, seed=0)
    assert len(train) + len(val) == len(comparisons)
    assert not {c.document.id for c in train} & {c.document.id for c in val}
    assert 0.1 < len(val) / len(comparisons) < 0.3


def test_preference_rows_and_negatives_deterministic():
    docs = [Document(id=f'd{i}', text=f'doc {i}') for i in range(3)]
    rows = to_preference_rows([Comparison(docs[0], 'x', 'y', 1.0), Comparison(docs[1], 'x', 'y', 0.5)])
    assert list(rows) == [{'prompt': 'doc 0', 'chosen': 'y', 'rejected': 'x'}] and rows.dropped['tie'] == 1
    pairs = [SummaryPair(d, f'the summary of {d.id} goes here') for d in docs]
    first, second = list(synthetic_negatives(pairs, seed=5)), list(synthetic_negatives(pairs, seed=5))
    assert [(c.summary_a, c.summary_b, c.choice) for c in first] == [(c.summary_a, c.summary_b, c.choice) for c in second]
    assert all(c.chosen == pairs[i // 3].summary and c.rejected != c.chosen for i, c in enumerate(first))
    assert [(c.summary_a, c.choice) for c in synthetic_negatives(pairs, seed=6)] != [(c.summary_a, c.choice) for c in first]


def test_rows_without_id_get_a_stable_text_id(shared_data, tmp_path):
    edits = load_comparisons(shared_data / 'comparisons/edit_b2_eval_test.json')
    assert len(edits) == 5 and {c.policy_a for c in edits} == {'human_editor'}
    row = {**ROW, 'info': {'post': 'same post', 'title': 't'}}
    loaded = load_comparisons(write_jsonl(tmp_path / 'noid.jsonl', [row, row, {**row, 'info': {'post': 'other post'}}]))
    assert loaded[0].document.id == loaded[1].document.id != loaded[2].document.id


def test_several_comparison_files(shared_data):
    one = shared_data/'comparisons'/'edit_b2_eval_test.json'
    both = load_comparison_files(f'{one},{one}')
    assert len(both) == 2 * len(load_comparisons(one)) and both[0].summary_a == both[len(both) // 2].summary_a
    assert [c.summary_b for c in load_comparison_files([one, one])] == [c.summary_b for c in both]


def test_malformed_json_line_is_named(tmp_path):
    path = tmp_path / 'broken.jsonl'
    path.write_text(json.dumps(ROW) + '\n' + json.dumps(ROW) + '\n{"info": {"id": "p3", "post": "x"}, "choice": \n')
    with pytest.raises(ValueError, match=r'broken\.jsonl, line 3: not valid JSON') as info:
        load_comparisons(path)
    assert '\n' not in str(info.value)
    array = tmp_path / 'array.json'
    array.write_text('[\n' + json.dumps(ROW) + ',\n' + json.dumps(ROW)[:-1] + '\n]\n')
    with pytest.raises(ValueError, match=r'array\.json, line (3|4): not valid JSON'):
        load_comparisons(array)
    scalar = write_jsonl(tmp_path / 'scalar.jsonl', [ROW, 7])
    with pytest.raises(ValueError, match=r'scalar\.jsonl, line 2: expected a JSON object'):
        load_comparisons(scalar)


@pytest.mark.parametrize('content', ['', '\n\n   \n'])
def test_empty_file_says_so(tmp_path, content):
    path = tmp_path / 'empty.jsonl'
    path.write_text(content)
    with pytest.raises(ValueError, match=r'empty\.jsonl: the file is empty'):
        load_comparisons(path)
    with pytest.raises(ValueError, match=r'empty\.jsonl: the file is empty'):
        load_summary_pairs(path)


def test_null_summary_and_text_name_file_and_line(tmp_path):
    pubmed = write_jsonl(tmp_path / 'pubmed.jsonl', [{'id': 1, 'text': 'a', 'abstract': 'b'}, {'id': 2, 'text': 'c', 'abstract': None}])
    with pytest.raises(ValueError, match=r'pubmed\.jsonl, line 2: the summary is null'):
        load_summary_pairs(pubmed)
    scitldr = write_jsonl(tmp_path / 'tldr.jsonl', [{'paper_id': 1, 'source': ['a'], 'target': ['b']},
                                                    {'paper_id': 2, 'source': ['a', None], 'target': ['b']}])
    with pytest.raises(ValueError, match=r'tldr\.jsonl, line 2: a field is missing or null'):
        load_summary_pairs(scitldr)
    null_summary = write_jsonl(tmp_path / 'c.jsonl', [ROW, {**ROW, 'summaries': [{'text': None}, {'text': 'b'}]}])
    with pytest.raises(ValueError, match=r'c\.jsonl, line 2: missing field `summaries.0.text`'):
        load_comparisons(null_summary)


# Where data comes from: the order of `resolve_data` and its one-line message -------------------------------------
SCITLDR_ROW = {'paper_id': 'p1', 'title': 'A title', 'source': ['We study one thing .', 'It works .'], 'target': ['One thing works .']}


@pytest.fixture
def no_shared(tmp_path, monkeypatch):
    "A working directory with no data, no `../shared/data` and no $RLHF_SUMM_DATA: a clone outside this workspace."
    from rlhf_summ.data import DATA_ENV, SHARED_DATA_ENV
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / 'no-shared-data'))
    monkeypatch.delenv(DATA_ENV, raising=False)
    (tmp_path / 'work').mkdir()
    monkeypatch.chdir(tmp_path / 'work')
    return tmp_path


def test_resolution_order(no_shared, monkeypatch):
    from rlhf_summ.data import DATA_ENV, DEMO_DATA, SHARED_DATA_ENV, resolve_data
    name = 'scitldr/dev.jsonl'
    assert (resolve_data(name).origin, resolve_data(name).path) == ('demo', DEMO_DATA / name)          # last: the shipped sample
    for folder in ('shared', 'mine', 'work'):
        (no_shared / folder / 'scitldr').mkdir(parents=True, exist_ok=True)
        write_jsonl(no_shared / folder / name, [{**SCITLDR_ROW, 'paper_id': folder}])
        if folder == 'shared':
            monkeypatch.setenv(SHARED_DATA_ENV, str(no_shared / 'shared'))
            assert resolve_data(name).origin == 'shared'                                                # ../shared/data before the sample
        if folder == 'mine':
            monkeypatch.setenv(DATA_ENV, str(no_shared / 'mine'))
            assert resolve_data(name).origin == 'env'                                                   # $RLHF_SUMM_DATA before ../shared/data
    pairs = load_summary_pairs(name)                                                                    # first: the path as given
    assert pairs.origin == 'path' and pairs[0].document.id == 'work'
    monkeypatch.chdir(no_shared)
    assert load_summary_pairs(name)[0].document.id == 'mine'
    assert load_summary_pairs('scitldr', split='dev').origin == 'env'


def test_demo_sample_is_small_licensed_and_loads(no_shared):
    from rlhf_summ.data import DEMO_DATA
    files = [p for p in DEMO_DATA.rglob('*') if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 2_000_000
    assert {'README.md', 'scitldr/LICENSE', 'comparisons/LICENSE'} <= {p.relative_to(DEMO_DATA).as_posix() for p in files}
    assert 'Apache License' in (DEMO_DATA / 'scitldr/LICENSE').read_text() and 'Attribution 4.0' in (DEMO_DATA / 'comparisons/LICENSE').read_text()
    train, dev = load_summary_pairs('scitldr/train.jsonl'), load_summary_pairs('scitldr/dev.jsonl')
    assert (train.origin, len(train) + sum(train.dropped.values()), len(dev) + sum(dev.dropped.values())) == ('demo', 300, 150)
    assert not {p.document.id for p in train} & {p.document.id for p in dev}
    comparisons = load_comparison_files('comparisons/tldr_batch13.json,comparisons/cnndm_batch0.json,comparisons/edit_b2_eval_test.json')
    assert comparisons.origin == 'demo' and 250 <= len(comparisons) <= 300


def test_unresolved_source_fails_in_one_line(no_shared):
    from rlhf_summ.data import resolve_data
    for source in (str(no_shared / 'missing' / 'pairs.jsonl'), 'sumpubmed', 'mine/train.jsonl'):
        with pytest.raises(FileNotFoundError) as info:
            resolve_data(source)
        message = str(info.value)
        assert '\n' not in message and message.startswith(f"No data {source!r}") and 'RLHF_SUMM_DATA' in message
    with pytest.raises(FileNotFoundError, match='RLHF_SUMM_DATA is unset'):
        resolve_data('sumpubmed')


def test_hub_branch_offline(no_shared):
    "The Hub is tried through `datasets.load_dataset`; offline (as every test is) its error is named in the one line, or the sample is used."
    import datasets
    from rlhf_summ.data import resolve_data
    if not (datasets.config.HF_HUB_OFFLINE or datasets.config.HF_DATASETS_OFFLINE):
        pytest.skip('this test must not reach the network: set HF_HUB_OFFLINE=1')
    with pytest.raises(FileNotFoundError) as info:
        resolve_data('allenai/scitldr')                             # an explicit Hub id
    assert "the Hub's allenai/scitldr (" in str(info.value) and 'offline' in str(info.value).lower() and '\n' not in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"the Hub's allenai/scitldr \("):
        resolve_data('scitldr/test.jsonl')                          # a name the Hub holds but the sample does not
    assert resolve_data('comparisons/tldr_batch13.json').origin == 'demo'   # the Hub unreachable: the sample


def test_fresh_clone_cli(no_shared, tiny_pdf):
    "A clone outside this workspace: `summarize paper.pdf` with the shipped policy; a missing explicit data path fails in one line."
    import os, subprocess, sys
    env = {**os.environ, 'RLHF_SUMM_CACHE': str(no_shared / 'empty-cache')}
    script = 'import sys; from rlhf_summ.cli import main; sys.exit(main())'
    run = lambda *argv: subprocess.run([sys.executable, '-c', script, *argv], capture_output=True, text=True, env=env, timeout=300)
    done = run('summarize', str(tiny_pdf))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(l) for l in done.stdout.splitlines()]                                           # piped: JSON lines
    assert [r['heading'] for r in rows] == ['1 Introduction', '2 Method'] and all(r['summary'] for r in rows)
    missing = run('train-extractive', '--data', str(no_shared / 'nowhere.jsonl'), '--progress', 'false')
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1, missing.stderr
    assert 'nowhere.jsonl' in missing.stderr and 'RLHF_SUMM_DATA' in missing.stderr
