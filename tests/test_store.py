"""Feedback store: SQLite settings, many writers, non-overlapping update rounds, counts, and the export read
back by `rlhf_summ.data.load_comparisons`. Every test taking `database_url` runs on SQLite and on a throwaway
PostgreSQL server (tests/conftest.py)."""
import threading

import pytest
from sqlalchemy import text

from rlhf_summ.data import Document, Section, load_comparisons
from rlhf_summ.feedback.store import DuplicatePick, PairCount, Store, document_key, split_for


def make_store(database_url, n_docs=3, sections=4, valid_fraction=0.0):
    store = Store(database_url)
    pairs = []
    for d in range(n_docs):
        doc = Document(f'd{d}', f'document {d}', title=f'Paper {d}',
                       sections=[Section(f'{s + 1} Part', f'Text of section {s} of paper {d}.') for s in range(sections)])
        doc_id, _ = store.add_document(doc, valid_fraction=valid_fraction)
        pairs += [store.add_pair(sid, (f'new {d}.{i}', 'policy/v2'), (f'old {d}.{i}', 'policy/v1'))
                  for i, (sid, _) in enumerate(store.sections(doc_id))]
    return store, pairs


def test_sqlite_is_wal_and_durable(tmp_path):
    store = Store.sqlite(tmp_path/'f.sqlite')
    with store.engine.connect() as c:
        assert c.execute(text('PRAGMA journal_mode')).scalar() == 'wal'
        assert c.execute(text('PRAGMA synchronous')).scalar() == 2   # FULL
        assert c.execute(text('PRAGMA foreign_keys')).scalar() == 1
    store.close()


def test_many_writers_lose_nothing(database_url, tmp_path):
    store, pairs = make_store(database_url, n_docs=5, sections=10)
    errors = []
    def annotate(w):
        try:
            for p in pairs: store.add_comparison(p, f'w{w}', 'ab'[(p + w) % 2])
        except Exception as e: errors.append(e)
    threads = [threading.Thread(target=annotate, args=(w,)) for w in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert errors == [] and store.num_comparisons() == 400
    with pytest.raises(DuplicatePick): store.add_comparison(pairs[0], 'w0', 'a')
    assert store.num_comparisons() == 400
    store.close()


def test_update_rounds_claim_disjoint_picks(database_url, tmp_path):
    store, pairs = make_store(database_url)
    for p in pairs: store.add_comparison(p, 'alice', 'a')
    store.add_comparison(pairs[0], 'bob', 'tie')   # not decisive: never claimed
    claimed, barrier = [], threading.Barrier(2)
    def claim():
        barrier.wait(); claimed.append(store.start_update('reward/v1'))
    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    sizes = sorted(len(new) for _, new in claimed)
    assert sizes == [0, len(pairs)] and store.num_new() == 0
    first = min(u for u, new in claimed if new)
    later, _ = store.start_update('reward/v2')
    assert len(store.replay(later)) == len(pairs) and len(store.replay(first)) == 0
    store.close()


def test_counts_fold_sides_and_same_version(database_url, tmp_path):
    store, pairs = make_store(database_url, n_docs=1, sections=4)
    views = [store.pair(p) for p in pairs]
    for v in views:   # alice always prefers v2, wherever it was shown
        store.add_comparison(v.id, 'alice', 'a' if v.policy_a == 'policy/v2' else 'b')
    store.add_comparison(pairs[0], 'bob', 'both_bad'); store.add_comparison(pairs[1], 'bob', 'skip')
    doc_id, _ = store.add_document(Document('s', 'same version', sections=[Section('1', 'same version text')]))
    same = store.add_pair(store.sections(doc_id)[0][0], ('x', 'policy/v1'), ('y', 'policy/v1'))
    store.add_comparison(same, 'alice', 'b')
    assert store.counts() == [PairCount(('policy/v1', 'policy/v2'), (0, 4), both_bad=1, skip=1),
                              PairCount(('policy/v1', 'policy/v1'), (0, 1))]
    store.close()


def test_export_round_trip_through_load_comparisons(database_url, tmp_path):
    store, pairs = make_store(database_url, n_docs=4, sections=3, valid_fraction=0.5)
    for i, p in enumerate(pairs): store.add_comparison(p, 'alice', ['a', 'b', 'tie'][i % 3], confidence=1 + i % 9)
    n = store.export_jsonl(tmp_path/'comparisons.json')
    assert n == 8   # ties are not exported
    back = load_comparisons(str(tmp_path/'comparisons.json'))
    ours = store.comparisons()
    key = lambda c: (c.document.id, c.document.text, c.summary_a, c.summary_b, c.choice, c.annotator, c.confidence,
                     c.split, c.policy_a, c.policy_b, c.batch)
    assert [key(c) for c in back] == [key(c) for c in ours]
    splits = {c.document.id.split('/')[0]: c.split for c in back}
    assert all(split_for(k, 0.5) == s for k, s in splits.items())
    assert store.export_rows('valid') == [r for r in store.export_rows() if r['split'] == 'valid']
    store.close()


def test_documents_and_status(database_url):
    store = Store(database_url)
    doc_id, created = store.add_document(Document('x', 'Whole text, no sections.', title='Note'))
    assert created and store.add_document(Document('y', 'Whole text, no sections.'))[0] == doc_id
    assert [s.text for _, s in store.sections(doc_id)] == ['Whole text, no sections.']
    assert store.pending_documents() == [doc_id]
    store.set_status(doc_id, 'failed', 'boom')
    st = store.document_status(doc_id)
    assert (st.status, st.error, st.num_sections, st.num_pairs) == ('failed', 'boom', 1, 0)
    assert store.pending_documents() == [] and store.next_pair(doc_id, 'alice') is None
    with pytest.raises(LookupError): store.document_status(99)
    with pytest.raises(LookupError, match='No document'): store.document_status(99999999999999999999999)
    with pytest.raises(LookupError, match='No pair'): store.pair(2**63)
    with pytest.raises(LookupError, match='No pair'): store.add_comparison(10**30, 'alice', 'a')
    assert document_key('Whole text, no sections.').startswith('doc-')
    store.close()


def test_nul_characters_are_dropped_on_both_databases(database_url):
    store = Store(database_url)
    doc = Document('n', 'A text\x00 with NUL', title='Ti\x00tle',
                   sections=[Section('1 Intro\x00', 'First\x00 section.'), Section('2', 'Second.')])
    doc_id, created = store.add_document(doc, uploader='ali\x00ce', filename='x\x00.pdf')
    assert created and store.add_document(doc)[0] == doc_id
    assert [(s.heading, s.text) for _, s in store.sections(doc_id)] == [('1 Intro', 'First section.'), ('2', 'Second.')]
    assert store.document_status(doc_id).title == 'Title'
    sid = store.sections(doc_id)[0][0]
    pair = store.add_pair(sid, ('sum\x00mary', 'policy/v1'), ('other', 'policy/v\x002'))
    store.add_comparison(pair, 'bo\x00b', 'a')
    view = store.pair(pair)
    assert {view.summary_a, view.summary_b} == {'summary', 'other'} and {view.policy_a, view.policy_b} == {'policy/v1', 'policy/v2'}
    assert [r['worker'] for r in store.export_rows()] == ['bob']
    with pytest.raises(DuplicatePick): store.add_comparison(pair, 'bob', 'b')   # the NUL-free name is the same annotator
    store.close()


def test_database_from_before_changeable_picks_is_upgraded_with_nothing_lost(database_url):
    "A `comparisons` table with the old one-pick-per-annotator constraint gets `revision`/`replaced_by`; its rows, ids and counts stay."
    from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint, create_engine, insert
    from rlhf_summ.feedback.store import Base
    engine, old = create_engine(database_url), MetaData()
    for table in Base.metadata.sorted_tables:
        if table.name != 'comparisons': table.to_metadata(old)
    comparisons = Table('comparisons', old, Column('id', Integer, primary_key=True),
                        Column('pair_id', Integer, ForeignKey('pairs.id'), index=True), Column('annotator', String(128)),
                        Column('pick', String(16)), Column('policy_a', String(64)), Column('policy_b', String(64)),
                        Column('confidence', Integer, nullable=True), Column('created', Float),
                        Column('update_id', Integer, ForeignKey('reward_updates.id'), nullable=True, index=True),
                        UniqueConstraint('pair_id', 'annotator'))
    old.create_all(engine)
    t = old.tables
    with engine.begin() as c:
        c.execute(insert(t['documents']).values(id=1, key='doc-1', title='Old', source='upload', filename='', uploader='',
                                                split='train', status='ready', error='', created=0.0))
        for i in (1, 2):
            c.execute(insert(t['sections']).values(id=i, document_id=1, position=i - 1, heading='', text=f'Section {i}.', kind='body'))
            c.execute(insert(t['summaries']).values(id=2 * i - 1, section_id=i, policy='policy/v2', text=f'new {i}', created=0.0))
            c.execute(insert(t['summaries']).values(id=2 * i, section_id=i, policy='policy/v1', text=f'old {i}', created=0.0))
            c.execute(insert(t['pairs']).values(id=i, section_id=i, left_id=2 * i - 1, right_id=2 * i, created=0.0))
        for pair, who, pick in ((1, 'alice', 'a'), (2, 'alice', 'b'), (1, 'bob', 'tie')):
            c.execute(insert(comparisons).values(pair_id=pair, annotator=who, pick=pick, policy_a='policy/v2',
                                                 policy_b='policy/v1', created=1.0))
    engine.dispose()
    store = Store(database_url)
    assert store.upgraded and store.num_comparisons() == 3
    assert [r['choice'] for r in store.export_rows()] == [0, 1]
    new_id = store.change_comparison(1, 'alice', 'b')            # the old unique constraint is gone ...
    assert new_id == 4 and store.pick_of(1, 'alice').revision == 1   # ... and new ids follow the old ones
    with pytest.raises(DuplicatePick): store.add_comparison(1, 'bob', 'a')
    store.close()
    assert not Store(database_url).upgraded                      # once only
