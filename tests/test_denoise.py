"""Unit tests for the text rules of rlhf_summ.text.denoise, on hand-made strings."""
from rlhf_summ.text.denoise import (SOFT_HYPHEN, fix_ligatures, fix_accents, join_lines, word_vocab, english_lexicon, strip_citations,
                               is_page_number, repeat_key, is_caption_start, is_numeric_row, clean_text)


def test_ligatures_and_accents():
    assert fix_ligatures('\ufb01rst \ufb02oor, o\ufb00er, e\ufb03cient, ba\ufb04e') == 'first floor, offer, efficient, baffle'
    assert fix_accents('Mermer and Sarac¸lar') == 'Mermer and Saraçlar'
    assert fix_accents('¨Ostling and M¨uller') == 'Östling and Müller'
    assert fix_accents('plain text') == 'plain text'


def test_join_lines_hyphenation():
    assert join_lines(['Representation learning is a critical ingre' + SOFT_HYPHEN, 'dient for NLP']) == \
        'Representation learning is a critical ingredient for NLP'
    assert join_lines(['yet to incorporate state' + SOFT_HYPHEN, 'of-the-art LMs']) == 'yet to incorporate state-of-the-art LMs'
    assert join_lines(['the token-', 'and sentence-level']) == 'the token- and sentence-level'
    assert join_lines(['a BERT-', 'Base model']) == 'a BERT-Base model'
    assert join_lines(['document' + SOFT_HYPHEN, 'level'], vocab=word_vocab('we learn document-level vectors')) == 'document-level'
    assert join_lines(['sentence' + SOFT_HYPHEN, 'split'], lexicon={'sentence', 'split'}) == 'sentence-split'
    assert join_lines(['scien' + SOFT_HYPHEN, 'tific'], lexicon={'scientific'}) == 'scientific'
    assert join_lines(['one', '', '  two  ', 'three']) == 'one two three'
    assert join_lines([]) == ''


def test_word_vocab_and_lexicon():
    assert word_vocab('Document-level and SciBERT, state-of-the-art.') == {'document-level', 'and', 'scibert', 'state-of-the-art'}
    lex = english_lexicon()
    assert len(lex) > 10_000 and 'representation' in lex and 'ingredient' in lex
    assert all(w.islower() and w.isalpha() for w in list(lex)[:500])


def test_strip_citations():
    assert strip_citations('as in prior work [12] and [3, 5-7].') == 'as in prior work and.'
    assert strip_citations('LMs (Radford et al., 2018; Devlin et al., 2019) help.') == 'LMs help.'
    assert strip_citations('graphs (Wu et al., 2019a) and (Arora and Liang, 2017).') == 'graphs and.'
    assert strip_citations('as shown by Devlin et al. (2019), masking works') == 'as shown by Devlin et al., masking works'
    assert strip_citations('models of Brown et al. (1993).') == 'models of Brown et al.'
    unchanged = 'we use 3 layers (see Section 2) and (n = 12) samples in 2019.'
    assert strip_citations(unchanged) == unchanged


def test_page_numbers_and_running_headers():
    assert all(is_page_number(s) for s in ['7', '2275', ' 12 ', '- 4 -', 'Page 9', 'xii', '3 of 12', '3/12'])
    assert not any(is_page_number(s) for s in ['7 Conclusion', 'Table 2', '2019 was', '', 'page'])
    assert repeat_key('Published at ICLR 2024   page 3') == repeat_key('published at iclr 2024 page 17') == 'published at iclr # page #'
    assert repeat_key('Running Title') != repeat_key('Other Title')


def test_captions_and_table_rows():
    for s in ['Figure 1: Overview.', 'Fig. 2. Results', 'Table 3: Scores', 'TABLE 4. Data', 'Figure A1: appendix', 'Algorithm 1 Gibbs sampling']:
        assert is_caption_start(s), s
    for s in ['Table 1 presents the results', 'Figures are shown', 'Figure 2 shows', 'Algorithm 1 is slow', 'In Table 1: no']:
        assert not is_caption_start(s), s
    assert is_numeric_row('SciBERT 79.7 80.7 50.7 73.1') and is_numeric_row('12.3 ± 0.4 45.6 ± 1.2')
    assert not is_numeric_row('We obtain 86.4 F1 on MeSH and 82.0 on MAG') and not is_numeric_row('42')


def test_clean_text():
    assert clean_text('  two   spaces ,  and ( brackets ) .\n next ') == 'two spaces, and (brackets). next'


# ---- the learned denoiser: noise injection, scoring, the model's mechanics, the real-line fixture ----
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from rlhf_summ.text.pdf import real_line_decisions

from rlhf_summ.text.denoise import (LINE_LABELS, NOISE_LINE_KINDS, Denoiser, DenoiserConfig, caption_noise, citation_noise, collate_examples,
                               deleted_mask, deletion_scores, denoise, encode_example, figure_debris_noise, footnote_noise,
                               inject_noise, load_labelled_lines, noisy_examples, page_number_noise, real_line_comparison,
                               rule_clean, running_header_noise, train_denoiser, unit_flags)

FIXTURE = Path(__file__).parent / 'fixtures' / 'denoise_lines.jsonl'
CLEAN = ('The classifier was tested on disambiguating the homographs that result from accent removal in Spanish and French. '
         'In tests with the number of training examples ranging from a few hundred to several thousand, overall accuracy was high.')


def test_noise_generators_are_seeded_and_shaped():
    words = CLEAN.split()
    for gen in (page_number_noise, citation_noise):
        assert [gen(random.Random(s)) for s in range(20)] == [gen(random.Random(s)) for s in range(20)]
    assert all(is_page_number(page_number_noise(random.Random(s))) for s in range(100))
    assert all(re.fullmatch(r'\[.*\]|\(.*\d{4}[ab]?\)', citation_noise(random.Random(s))) for s in range(100))
    caps = [caption_noise(random.Random(s), words) for s in range(50)]
    assert all(re.match(r'(Figure|Table|Fig\.|TABLE) \d', c[0]) and 1 <= len(c) <= 2 for c in caps)
    assert all(1 <= len(figure_debris_noise(random.Random(s), words)) <= 6 for s in range(50))
    assert all(re.match(r'(\d+|\*|†|‡) ', footnote_noise(random.Random(s), words)[0]) for s in range(50))
    assert len({running_header_noise(random.Random(s), words) for s in range(50)}) > 20


def test_inject_noise_labels_exactly_what_was_added():
    for seed in range(30):
        noisy, mask = inject_noise(CLEAN, seed=seed, other='Another paper about parsing with neural networks and trees.', rate=0.6)
        assert len(noisy) == len(mask)
        kept = ''.join(c for c, m in zip(noisy, mask) if not m)
        assert re.sub(r'\s', '', kept) == re.sub(r'\s', '', CLEAN), seed      # removing the junk gives the clean text back
        assert inject_noise(CLEAN, seed=seed, rate=0.6) == inject_noise(CLEAN, seed=seed, rate=0.6)
    masks = [inject_noise(CLEAN, seed=s, rate=0.6)[1] for s in range(30)]
    assert sum(any(m) for m in masks) >= 25
    quiet, quiet_mask = inject_noise(CLEAN, seed=0, rate=0.0)                              # no noise: only line breaks
    assert quiet.replace('\n', ' ') == CLEAN and not any(quiet_mask) and quiet.count('\n') >= 2
    hyphenated = [t for t, _ in (inject_noise(CLEAN, seed=s, rate=1.0) for s in range(30)) if re.search(r'[a-z]-\n[a-z]', t)]
    assert hyphenated, 'no word was broken at a line end'


def test_deletion_scoring_and_rules_on_noise():
    text = 'We saw [12] it\n148\nworks'
    junk = unit_flags(text, [c in '[12]' and i < 11 or i in (15, 16, 17) for i, c in enumerate(text)])
    assert junk == [False, False, True, True, True, False, True, False]
    ruled = rule_clean(text)
    assert ruled == 'We saw it works'
    s = deletion_scores(junk, unit_flags(text, deleted_mask(text, ruled)))
    assert (s['precision'], s['recall'], s['real_deleted']) == (1.0, 1.0, 0.0)
    s = deletion_scores([True, False, False, False], [True, True, False, False])
    assert (s['precision'], s['recall'], s['real_deleted']) == (0.5, 1.0, 1 / 3)


@pytest.fixture(scope='module')
def tok():
    from transformers import AutoTokenizer
    from rlhf_summ.reward import minilm_path
    return AutoTokenizer.from_pretrained(minilm_path())


def _tiny(tok, **kw):
    from rlhf_summ.reward import tiny_backbone_config
    return Denoiser.from_config(tiny_backbone_config(len(tok)), tok, **kw)


class _DeleteMatching(Denoiser):
    "A denoiser whose token probabilities come from a regex (1.0 on matching tokens): the deletion mechanics without a model."
    def __init__(self, tokenizer, pattern):
        super().__init__(None, tokenizer); self.pattern = re.compile(pattern)
    def token_probs(self, text, batch_size=32):
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        return [(s, e, float(bool(self.pattern.fullmatch(text[s:e])))) for s, e in enc['offset_mapping']]


def test_deletion_mechanics(tok):
    d = _DeleteMatching(tok, r'\[|\]|\d+|-')
    assert d('as shown [12] before') == 'as shown before'
    assert d('as shown [12].') == 'as shown.'
    assert d('the repre-\nsentation and the re- sult') == 'the representation and the result'   # a broken word is joined
    assert d('no junk here') == 'no junk here' and denoise('keep [1] this') == 'keep [1] this'
    assert d('Line one 12\nline two') == 'Line one\nline two'                                          # line breaks survive


def test_denoiser_save_load_and_windows(tok, tmp_path):
    den = _tiny(tok, max_length=16, threshold=0.5, seed=3)
    den.metadata = {'note': 'tiny'}
    text = ' '.join(f'word{i} [ {i} ]' for i in range(40))
    probs = den.token_probs(text)
    assert len(probs) == len(tok(text, add_special_tokens=False)['input_ids'])          # windows cover every token
    assert len(den.windows(text)['input_ids']) > 1
    folder = den.save(tmp_path / 'den')
    assert {'config.json', 'model.safetensors', 'denoiser_config.json', 'tokenizer.json'} <= {p.name for p in folder.iterdir()}
    back = Denoiser.from_pretrained(folder)
    assert (back.max_length, back.threshold, back.metadata) == (16, 0.5, {'note': 'tiny'})
    assert [p for _, _, p in back.token_probs(text)] == pytest.approx([p for _, _, p in probs], abs=1e-5)
    assert back.deletion_mask(text) == den.deletion_mask(text)
    back.threshold = 0.0
    assert back('a b c') == ''


def test_training_changes_the_model_and_saves_scores(tok, tmp_path):
    import torch
    _tiny(tok, max_length=32).save(tmp_path / 'tiny')
    passages = [f'Passage {i} says that method {i} was trained on corpus {i} and tested on held out documents with care.' for i in range(6)]
    before = {k: v.clone() for k, v in Denoiser.from_pretrained(tmp_path / 'tiny').model.state_dict().items()}
    run = train_denoiser(DenoiserConfig(model=str(tmp_path / 'tiny'), train_examples=8, val_examples=4, batch_size=4, max_length=32,
                                        lr=1e-3, log_every=1, output_dir=str(tmp_path / 'run'), num_threads=1), passages[:4], passages[4:])
    after = Denoiser.from_pretrained(run / 'model')
    changed = [k for k, v in after.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any('classifier' in k for k in changed) and any('encoder' in k for k in changed)
    assert not any('word_embeddings' in k for k in changed)                                    # frozen by default
    ev = json.loads((run / 'eval.json').read_text())
    assert set(ev['synthetic']) == {'rules', 'model', 'rules+model'} and after.metadata['heldout_synthetic'] == ev['synthetic']
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == 2 + 1



def test_denoiser_resumes_exactly(tok, tmp_path):
    "Stopped after step 3 of 5 and resumed from its checkpoint: the same final weights (dropout's RNG, AdamW, the schedule restored)."
    import torch
    from safetensors.torch import load_file
    from rlhf_summ.train import read_metrics
    _tiny(tok, max_length=32).save(tmp_path / 'tiny')
    passages = [f'Passage {i} says that method {i} was trained on corpus {i} and tested on held out documents with care.' for i in range(6)]
    def run(name, **kw):
        config = DenoiserConfig(model=str(tmp_path / 'tiny'), train_examples=20, val_examples=4, batch_size=4, max_length=32, lr=1e-3,
                                log_every=1, save_every=2, output_dir=str(tmp_path / name), num_threads=1, progress=False, **kw)
        return train_denoiser(config, passages[:4], passages[4:])
    straight = run('straight')
    first = run('resumed', stop_at_step=3)
    assert (first / 'checkpoints' / 'last').read_text() == 'step_000003' and not (first / 'model').exists()
    resumed = run('resumed', resume_from=str(first))
    assert resumed == first
    a, b = load_file(straight / 'model' / 'model.safetensors'), load_file(resumed / 'model' / 'model.safetensors')
    init = load_file(tmp_path / 'tiny' / 'model.safetensors')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], init[k]) for k in init)
    assert read_metrics(straight) == read_metrics(resumed) and [r['step'] for r in read_metrics(resumed)] == [1, 2, 3, 4, 5, 5]

def test_collate_pads_labels(tok):
    a = encode_example(tok, 'we saw [12] it', [False] * 7 + [True] * 4 + [False] * 3, max_length=16)
    assert a['labels'] == [-100, 0, 0, 1, 1, 1, 0, -100]
    b = collate_examples(tok, [a, encode_example(tok, 'x', [False], 16)])
    assert b['input_ids'].shape == b['labels'].shape == (2, 8) and b['labels'][1].tolist() == [-100, 0] + [-100] * 6


def test_distractors_are_kept_text():
    from rlhf_summ.text.denoise import add_distractors
    out = add_distractors(CLEAN, random.Random(1), rate=0.5)
    assert len(out.split()) > len(CLEAN.split()) and re.search(r'Table \d|Figure \d|\d', out)
    words = iter(out.split())
    assert all(w in words for w in CLEAN.split())                                        # the clean words, in order
    assert add_distractors(CLEAN, random.Random(1), rate=0.0) == CLEAN
    noisy, mask = noisy_examples([CLEAN, CLEAN.lower()], 1, seed=0, rate=0.0, distractor_rate=0.5)[0]
    assert not any(mask) and len(noisy.split()) > 0                                         # distractors are never labelled junk


def test_noisy_examples_split_free_and_seeded():
    ps = [CLEAN, CLEAN.upper(), CLEAN.lower()]
    assert noisy_examples(ps, 5, seed=2) == noisy_examples(ps, 5, seed=2) != noisy_examples(ps, 5, seed=3)
    with pytest.raises(ValueError, match='at least 2 passages'): noisy_examples(ps[:1], 1)


def test_fixture_schema():
    rows = load_labelled_lines(FIXTURE)
    assert len(rows) >= 300
    assert all(r['label'] in LINE_LABELS and isinstance(r['page'], int) and isinstance(r['index'], int) for r in rows)
    by_source = Counter(r['source'].split('/')[0] for r in rows)
    assert by_source['pdfs_old'] >= 200 and by_source['pdfs'] >= 50
    assert len({(r['source'], r['page'], r['index']) for r in rows}) == len(rows)
    labels = Counter(r['label'] for r in rows)
    assert labels['junk'] >= 100 and labels['keep'] >= 100
    for (source, page) in {(r['source'], r['page']) for r in rows}:       # whole pages, in reading order
        idx = [r['index'] for r in rows if (r['source'], r['page']) == (source, page)]
        assert idx == list(range(len(idx))), (source, page)


def test_fixture_validation(tmp_path):
    bad = tmp_path / 'bad.jsonl'
    bad.write_text(json.dumps(dict(source='x.pdf', page=1, index=0, text='a', label='maybe')) + '\n')
    with pytest.raises(ValueError, match=r'bad.jsonl:1: label'): load_labelled_lines(bad)
    bad.write_text(json.dumps(dict(source='x.pdf', page=1, text='a', label='junk')) + '\n')
    with pytest.raises(ValueError, match="missing fields \\['index'\\]"): load_labelled_lines(bad)


def test_rules_real_line_numbers_are_computed(shared_data, tok):
    rows = [r for r in load_labelled_lines(FIXTURE) if r['source'].endswith(('P96-1010.pdf', 'C16-1060.pdf'))]
    removed = real_line_decisions(rows, shared_data)
    assert len(removed) == len(rows) and 0 < sum(removed) < len(rows)
    page_numbers = [k for k, r in enumerate(rows) if r['kind'] == 'page_number']
    assert page_numbers and all(removed[k] for k in page_numbers)                    # the reader drops page numbers
    scores = real_line_comparison(rows, removed)
    assert set(scores) == {'rules'}
    junk = [r for r in rows if r['label'] == 'junk']
    n_junk_words = sum(len(re.findall(r'\w+', r['text'])) for r in junk)
    assert scores['rules']['n_junk'] == n_junk_words
    assert scores['rules']['recall'] == pytest.approx(
        sum(len(re.findall(r'\w+', r['text'])) for r, gone in zip(rows, removed) if gone and r['label'] == 'junk') / n_junk_words)
    both = real_line_comparison(rows, removed, _DeleteMatching(tok, r'\d+'))                # a deleter of numbers
    assert both['rules+model']['recall'] >= both['rules']['recall']
    moved = dict(rows[3], text=rows[3]['text'] + ' changed')
    with pytest.raises(ValueError, match='relabel the fixture'): real_line_decisions([moved], shared_data)
