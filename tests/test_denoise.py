"""Unit tests for the text rules of rlhf_summ.denoise, on hand-made strings."""
from rlhf_summ.denoise import (SOFT_HYPHEN, fix_ligatures, fix_accents, join_lines, word_vocab, english_lexicon, strip_citations,
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
