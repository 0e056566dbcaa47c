"""PDF ingestion on the real papers in ../shared/data/pdfs (parsed once per session) and on generated bad inputs."""
import io, json, re, time
from pathlib import Path

import numpy as np
import pypdf
import pytest

from rlhf_summ.data import Document
from rlhf_summ.text.denoise import is_page_number, is_caption_start, repeat_key
from rlhf_summ.text import split_sentences
from rlhf_summ.text.pdf import (PDFError, NotPDFError, EncryptedPDFError, CorruptPDFError, NoTextError, read_paper,
                           render_test_pdf, top_headings, heading_match, sections_to_summarize, to_document, open_pdf, page_lines,
                           caption_lines, figure_lines, score_paper, glyph_char)

FIXTURE = json.loads((Path(__file__).parent / 'fixtures' / 'pdf_gold.json').read_text())
GOLD = {name: [h for h, level in g['headings'] if level == 1] for name, g in FIXTURE['pdfs'].items()}
OLD_GOLD = {name: [h for h, level in g['headings'] if level == 1] for name, g in FIXTURE['pdfs_old'].items()}
CAPTIONS = json.loads((Path(__file__).parent / 'fixtures' / 'pdf_captions.json').read_text())['pdfs_old']
LEAK_LABELS = json.loads((Path(__file__).parent / 'fixtures' / 'pdf_leak_labels.json').read_text())

# First words of each abstract, read off page 1 of each PDF.
ABSTRACT_STARTS = {
    '1703.00317.pdf': 'Linguistic relations in oral conversations',
    '2020.acl-main.207.pdf': 'Representation learning is a critical ingredient for natural language processing',
    '2020.acl-main.447.pdf': 'We introduce S2ORC',
    '2206.10883v3.pdf': 'With the advent of large language models',
    'C16-1060.pdf': 'Current methods for word alignment require',
    'C16-1296.pdf': 'We present a new Bayesian HMM word alignment model',
    'N18-3011.pdf': 'We describe a deployed scalable system',
    'edo_arxiv.pdf': 'In this paper we propose a novel method',
    'papermage.pdf': 'Despite growing interest in applying natural language processing',
}
# Page numbers printed on the pages (first-last), read off the PDFs.
PRINTED_PAGES = {'2020.acl-main.207.pdf': (2270, 2282), '2020.acl-main.447.pdf': (4969, 4983),
                 'C16-1060.pdf': (620, 629), 'C16-1296.pdf': (3146, 3155)}


@pytest.fixture(scope='module')
def pdf_dir(shared_data) -> Path:
    return shared_data / 'pdfs'


@pytest.fixture(scope='module')
def papers(pdf_dir):
    "Every real PDF parsed once for the whole module."
    return {path.name: read_paper(path) for path in sorted(pdf_dir.glob('*.pdf'))}


@pytest.fixture(scope='module')
def old_papers(shared_data):
    "The thirteen 1989-2003 papers of ../shared/data/pdfs_old, parsed once."
    return {path.name: read_paper(path) for path in sorted((shared_data / 'pdfs_old').glob('*.pdf'))}


@pytest.fixture(scope='module')
def scores(papers, old_papers):
    "Every shared PDF against its hand-read gold (tests/fixtures/pdf_gold.json)."
    return {name: score_paper(paper, FIXTURE[folder][name], CAPTIONS.get(name, []), LEAK_LABELS[folder][name])
            for folder, parsed in (('pdfs', papers), ('pdfs_old', old_papers)) for name, paper in parsed.items()}


def all_text(paper) -> str:
    return '\n\n'.join(s.text for s in paper.sections)


def test_fixture_pdfs_exist(papers):
    assert set(GOLD) <= set(papers) and len(GOLD) == 9


def test_heading_recall_and_precision(papers):
    matched = found = wanted = 0
    for name, gold in GOLD.items():
        m, f, g = heading_match(top_headings(papers[name]), gold)
        matched, found, wanted = matched + m, found + f, wanted + g
    assert matched / wanted >= 0.9, (matched, wanted)
    assert matched / found >= 0.9, (matched, found)


def test_abstract_found_in_every_paper(papers):
    for name, start in ABSTRACT_STARTS.items():
        paper = papers[name]
        assert paper.abstract.startswith(start), (name, paper.abstract[:80])
        assert 400 < len(paper.abstract) < 3000, (name, len(paper.abstract))
        assert not re.search(r'\b1 Introduction\b', paper.abstract)


def test_titles(papers):
    assert papers['2020.acl-main.447.pdf'].title == 'S2ORC: The Semantic Scholar Open Research Corpus'
    assert papers['N18-3011.pdf'].title == 'Construction of the Literature Graph in Semantic Scholar'


def test_no_page_number_or_running_line_survives(papers, pdf_dir):
    for name, paper in papers.items():
        assert not [ln.text for ln in paper.lines if is_page_number(ln.text)], name
        # lines repeated in the page margins of the raw file (digits folded) must not be kept
        doc, _ = open_pdf(pdf_dir / name)
        margin_keys = {}
        for i in range(len(doc)):
            page = doc[i]; h = page.get_height()
            for ln in page_lines(page, i + 1):
                if ln.top < 0.09 * h or ln.bottom > 0.91 * h: margin_keys.setdefault(repeat_key(ln.text), set()).add(i)
        doc.close()
        running = {k for k, pages in margin_keys.items() if len(pages) >= 3}
        assert not [ln.text for ln in paper.lines if repeat_key(ln.text) in running], name
        text = '\n\n'.join(s.text for s in paper.sections if s.kind != 'references')   # references cite 'Proceedings of ...'
        assert 'Proceedings of' not in text and 'Under review' not in text, name
    for name, (first, last) in PRINTED_PAGES.items():
        text = all_text(papers[name])
        assert not [n for n in range(first, last + 1) if re.search(rf'\b{n}\b', text)], name


def test_two_column_reading_order_and_joins(papers):
    specter = papers['2020.acl-main.207.pdf']
    intro = next(s for s in specter.sections if s.heading == '1 Introduction').text
    # the left column ends '... representing individual words', the right one goes on 'or sentences, extensions'
    assert 'used for representing individual words or sentences, extensions to whole-document embeddings' in intro
    assert 'Equal contribution' not in intro                      # footnote
    assert 'a critical ingredient for natural language processing systems' in specter.abstract   # hyphen repaired
    assert 'state-of-the-art' in all_text(specter)                # compound hyphen kept
    # captions as printed on pages 2, 7 and 8 are gone; the sentence that cites Table 1 stays
    for caption in ['Overview of SPECTER', 'Results on the SCIDOCS evaluation suite', 't-SNE visualization of paper embeddings and',
                    'Comparison with task-specific fine-tuning.']:
        assert caption not in all_text(specter), caption
    assert 'Table 1 presents the main results' in all_text(specter)
    for paper in papers.values():
        text = all_text(paper)
        assert not re.search('[\ufb00-\ufb06\u00ad]', text)        # ligatures and soft hyphens gone
        assert not [p for s in paper.sections for p in s.text.split('\n\n') if is_caption_start(p)]


def test_section_kinds_and_summarized_sections(papers):
    paper = papers['2020.acl-main.447.pdf']
    kinds = {s.heading: s.kind for s in paper.sections if s.level == 1}
    assert kinds['Abstract'] == 'abstract' and kinds['References'] == 'references'
    assert kinds['Acknowledgements'] == 'acknowledgments' and kinds['B PDF filters'] == 'appendix'
    assert kinds['4 Evaluation'] == 'body'
    summarized = [s.heading for s in sections_to_summarize(paper)]
    assert '1 Introduction' in summarized and 'References' not in summarized and 'B PDF filters' not in summarized
    assert '2.1 Processing PDFs' in summarized     # subsections are summarized with their parent
    doc = to_document(paper)
    assert isinstance(doc, Document) and doc.id == '2020.acl-main.447' and doc.title.startswith('S2ORC')
    assert doc.text.startswith('Abstract\n\nWe introduce S2ORC') and '8 Conclusion\n\n' in doc.text
    assert 'References\n\n' not in doc.text and 'B PDF filters' not in doc.text


def test_page_limit_bounds_large_files(pdf_dir):
    reader = pypdf.PdfReader(pdf_dir / '2020.acl-main.207.pdf')
    writer = pypdf.PdfWriter()
    for _ in range(150):
        for page in reader.pages[:4]: writer.add_page(page)
    buf = io.BytesIO(); writer.write(buf)
    start = time.perf_counter()
    paper = read_paper(buf.getvalue(), max_pages=8)
    assert time.perf_counter() - start < 20
    assert (paper.num_pages, paper.pages_read, paper.truncated) == (600, 8, True)
    assert max(p for s in paper.sections for p in s.pages) == 8


def test_not_a_pdf(tmp_path):
    path = tmp_path / 'notes.pdf'
    path.write_text('These are my notes, not a PDF.\n')
    with pytest.raises(NotPDFError, match='not a PDF'): read_paper(path)


def test_truncated_pdf(tmp_path, pdf_dir):
    data = (pdf_dir / 'N18-3011.pdf').read_bytes()
    path = tmp_path / 'cut.pdf'
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptPDFError, match='truncated'): read_paper(path)


def test_corrupt_pdf(tmp_path):
    path = tmp_path / 'garbage.pdf'
    path.write_bytes(b'%PDF-1.7\n' + np.random.default_rng(0).bytes(4000) + b'\n%%EOF\n')
    with pytest.raises(CorruptPDFError, match='corrupt'): read_paper(path)


def test_encrypted_pdf(tmp_path):
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(render_test_pdf([[(72, 72, 'Secret results of a secret paper.', 10, False)]])))
    writer.encrypt(user_password='secret', owner_password='owner')
    path = tmp_path / 'locked.pdf'
    with path.open('wb') as f: writer.write(f)
    with pytest.raises(EncryptedPDFError, match='password'): read_paper(path)
    assert read_paper(path, password='secret').sections[0].text == 'Secret results of a secret paper.'


def test_scanned_pdf_without_text(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8.27, 11.69))
    fig.figimage(np.random.default_rng(0).random((400, 300)))   # an image of a page, no text layer
    path = tmp_path / 'scan.pdf'
    fig.savefig(path, format='pdf')
    with pytest.raises(NoTextError, match='OCR'): read_paper(path)


def test_all_bad_inputs_are_value_errors():
    for cls in (NotPDFError, EncryptedPDFError, CorruptPDFError, NoTextError):
        assert issubclass(cls, PDFError) and issubclass(cls, ValueError)


def test_running_header_on_generated_pages():
    pages = []
    for k in range(1, 5):
        items = [(150, 30, f'Journal of Tests, Vol. 3, page {k}', 9, False), (290, 810, str(k), 10, False)]
        items += [(72, 100 + 14 * j, f'Line {j} of page {k} has ordinary body text in it.', 10, False) for j in range(12)]
        pages.append(items)
    paper = read_paper(render_test_pdf(pages))
    text = all_text(paper)
    assert 'Journal of Tests' not in text and 'Line 11 of page 4' in text
    assert not [ln for ln in paper.lines if is_page_number(ln.text)]


def test_concurrent_reads_match_sequential(papers, pdf_dir):
    "The web app parses uploads in a thread pool: parallel reads must give exactly the sequential result."
    from concurrent.futures import ThreadPoolExecutor
    names = ['N18-3011.pdf', '1703.00317.pdf', 'C16-1060.pdf', 'N18-3011.pdf']
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda n: read_paper(pdf_dir / n), names))
    for name, paper in zip(names, parallel):
        assert [(s.heading, s.text) for s in paper.sections] == [(s.heading, s.text) for s in papers[name].sections]


@pytest.mark.filterwarnings('ignore:Glyph')     # DejaVu Sans has no glyph for it; the text layer still carries the character
def test_characters_outside_the_bmp_reach_the_tokenizer_whole():
    "pdfium gives a math italic beta (U+1D6FD) as a UTF-16 surrogate pair: it must become one character, never lone surrogates the tokenizer refuses."
    from transformers import AutoTokenizer
    from rlhf_summ.reward import minilm_path
    text = all_text(read_paper(render_test_pdf([[(72, 72, 'The weight \U0001d6fd of the KL term is 0.05.', 10, False)]])))
    assert text == 'The weight \U0001d6fd of the KL term is 0.05.'
    assert not re.search('[\ud800-\udfff]', text)
    ids = AutoTokenizer.from_pretrained(minilm_path())(text)['input_ids']
    assert len(ids) > 5


def test_old_paper_headings(old_papers):
    "Scanned-era papers set headings in the body font (sizes drift from page to page): each must still reach 0.9 recall and precision."
    assert set(OLD_GOLD) == set(old_papers) and len(OLD_GOLD) == 13
    for name, gold in OLD_GOLD.items():
        m, f, g = heading_match(top_headings(old_papers[name]), gold)
        assert m / g >= 0.9 and m / f >= 0.9, (name, top_headings(old_papers[name]))
    j98 = [(s.heading, s.level) for s in old_papers['J98-1006.pdf'].sections if s.level == 2]
    assert [h for h, _ in j98] == ['2.1 Some Recent Work', '2.2 Topical/Local Classifier (TLC)', '2.3 Results',
                                   '2.4 Improving the Precision of Sense Identification', '3.1 WordNet: A Lexical Database for English',
                                   "3.2 Training on WordNet's Monosemous Relatives"]


def test_journal_abstract_without_heading(old_papers):
    "J98-1006 prints its abstract as an indented block with no 'Abstract' heading: it is the abstract, not title block or body."
    paper = old_papers['J98-1006.pdf']
    assert paper.title == 'Using Corpus Statistics and WordNet Relations for Sense Identification'
    assert paper.abstract.startswith('Corpus-based approaches to word sense identification have flexibility')
    assert paper.abstract.endswith('compared with those from manually tagged training examples.')
    assert to_document(paper).text.startswith('Corpus-based approaches') and '1. Introduction\n\nAn impressive array' in to_document(paper).text


def test_old_paper_captions_and_tables_left_out(old_papers):
    "Of the 20 hand-copied captions (J98's set as 'Table 1' on a line of its own) no line is left but 3 body sentences that share their wording."
    left = {name: caption_lines(paper, CAPTIONS[name]) for name, paper in old_papers.items() if name in CAPTIONS}
    assert sum(map(len, left.values())) <= 3, left
    assert not [t for t in left['J98-1006.pdf'] if 'Classifier performance on' in t or 'Table' in t]
    text = {name: all_text(paper) for name, paper in old_papers.items()}
    for name, cell in [('J98-1006.pdf', 'conga line'), ('J98-1006.pdf', 'mooring line'), ('J98-1006.pdf', 'Sense and Priors'),
                       ('P96-1010.pdf', 'Most freq'), ('A97-1025.pdf', 'Confusion Set')]:      # table cells
        assert cell not in text[name], (name, cell)
    assert sum(len(figure_lines(old_papers[name])) for name in CAPTIONS) <= 5
    assert 'except for rivet line and trap line' in text['J98-1006.pdf']       # the sentence that names table words stays


def acm_page(front_matter):
    "A CHI-style first page: ABSTRACT, then `front_matter` (CCS concepts, keywords, reference format), then two sections."
    def col(top, lines, size=9, bold=False): return [(72, top + 11 * k, t, size, bold) for k, t in enumerate(lines)]
    body = 'and this line of the introduction is long enough to be body text'
    return ([(72, 70, 'A Reader for Papers', 16, True), (72, 150, 'ABSTRACT', 10, True)]
            + col(170, ['Readers of scientific papers meet many citations and cannot', 'tell which ones they have read. We build a reader that marks',
                        'them in context, and a study shows it helps people find papers.'])
            + front_matter + [(72, 340, '1 INTRODUCTION', 10, True)] + col(356, [f'Line {k} {body}' for k in range(6)])
            + [(72, 430, '2 STUDY', 10, True)] + col(446, [f'Study {k} {body}' for k in range(4)]))


def test_acm_front_matter_is_not_abstract_or_body():
    reference = [(72, 300, 'ACM Reference Format:', 9, True), (72, 311, 'Ann Author and Bo Author. 2023. A Reader for Papers. In CHI 2023. ACM, 15 pages.', 9, False)]
    run_in = [(72, 210, 'CCS Concepts: • Human-centered computing → Empirical studies in HCI.', 9, False),
              (72, 221, 'Keywords: scientific papers, citations, reading interfaces', 9, False)] + reference
    headed = [(72, 210, 'CCS CONCEPTS', 10, True), (72, 224, '• Human-centered computing → Empirical studies in HCI.', 9, False),
              (72, 250, 'KEYWORDS', 10, True), (72, 264, 'scientific papers, citations, reading interfaces', 9, False)] + reference
    for front_matter in (run_in, headed):
        paper = read_paper(render_test_pdf([acm_page(front_matter)]))
        assert paper.abstract == ('Readers of scientific papers meet many citations and cannot tell which ones they have read. '
                                  'We build a reader that marks them in context, and a study shows it helps people find papers.')
        assert [s.heading for s in paper.sections] == ['ABSTRACT', '1 INTRODUCTION', '2 STUDY']
        assert not re.search('CCS|Keywords|ACM Reference|Human-centered', to_document(paper).text)


def test_every_paper_against_the_gold(scores):
    "All 22 shared PDFs: headings at every level with precision and recall >= 0.9 each and >= 0.95 pooled; title and abstract found (or rightly none); never zero sections; caption and table lines under 2% of the section text, by the proxy and by the hand-checked lines (a kept line the detector flags that no label covers counts as leaked)."
    assert len(scores) == 22
    for name, s in scores.items():
        assert s['matched'] >= 0.9 * s['found'] and s['matched'] >= 0.9 * s['gold'], (name, s['missing'], s['extra'])
        assert s['title_ok'] and s['abstract_ok'] and s['sections'] > 0, name
        assert s['leak_chars'] < 0.02 * s['chars'], name
        assert s['hand_leak_chars'] + s['unchecked_chars'] < 0.02 * s['chars'], (name, s['unchecked'])   # hand-checked lines: the direct figure
    matched, found, gold = (sum(s[k] for s in scores.values()) for k in ('matched', 'found', 'gold'))
    assert matched >= 0.95 * found and matched >= 0.95 * gold, (matched, found, gold)


def test_unheaded_abstracts_rubrics_and_affiliations(old_papers):
    "J98-2005 prints 'Squibs and Discussions' above its title and an abstract without a heading; J00-3003's is followed by '1. Introduction' on page 2; X96-1048 has no abstract; C90-2039 sets its authors in the title's font."
    squib = old_papers['J98-2005.pdf']
    assert squib.title.startswith('Estimation of Probabilistic Context-Free Grammars')
    assert squib.abstract.startswith('The assignment of probabilities to the productions') and squib.abstract.endswith('distributions.')
    assert old_papers['J00-3003.pdf'].abstract.startswith('We describe a statistical approach for modeling dialogue acts')
    assert old_papers['X96-1048.pdf'].abstract == ''
    assert old_papers['C90-2039.pdf'].title == 'Strategic Lazy Incremental Copy Graph Unification'


def test_words_drawn_out_of_order_with_fonts_sized_by_their_matrix(old_papers):
    "N01-1011's Type 3 fonts report size 1 and draw words out of order: lines are rebuilt from glyph boxes, and TeX's ligature codes read 'fi', 'ffi'."
    paper = old_papers['N01-1011.pdf']
    assert paper.title == 'A Decision Tree of Bigrams is an Accurate Predictor of Word Sense'
    assert [s.heading for s in paper.sections[:3]] == ['Abstract', '1 Introduction', '2 Building a Feature Set of Bigrams']
    text = all_text(paper)
    assert 'faces a difficult problem' in text and 'benefit' in text and '\x0e' not in text


def test_run_in_headings_split_off(papers):
    "A bold run-in heading opening a paragraph ('Paper Topic Classification This task ...') is its own paragraph, so it never merges into the first sentence."
    text = all_text(papers['2020.acl-main.207.pdf'])
    for lead, first in [('Paper Topic Classification', 'This task is predicting'), ('Training Data', 'To train our model')]:
        assert f'{lead}\n\n{first}' in text and f'{lead} {first}' not in text
        assert lead in split_sentences(text) and not [s for s in split_sentences(text) if s.startswith(f'{lead} {first}')]


def test_arrows_read_as_arrows(papers):
    "SPECTER's 'P1 −−→ P2 ... P1 6−−→ P3' (a long arrow, and one struck through) reads as arrows inside one sentence."
    text = all_text(papers['2020.acl-main.207.pdf'])
    assert 'P → P and P → P but P ↛ P' in text and '−−→' not in text
    sentence = next(s for s in split_sentences(text, max_words=200) if 'P ↛ P' in s)
    assert 'i.e. if P → P and P → P but P ↛ P, then P is a candidate hard negative' in sentence


def test_bullets_and_tex_glyphs_are_characters():
    "A Symbol-font bullet (Private Use Area U+F0B7) and TeX's control codes become the characters they draw, never a missing-glyph box or a control code."
    assert glyph_char(0xf0b7, 'Symbol') == '•' and glyph_char(0xf0e0, 'Wingdings') == '→'
    assert [glyph_char(u, f) for u, f in [(0x0c, 'CMR10'), (0x0e, 'T3Font_2'), (0x02, 'ABCDEF+CMSY10'), (0x01, 'CMEX10'), (0x0b, 'CMMI10'), (0xe123, 'X')]] == \
        ['fi', 'ffi', '×', ')', 'α', ' ']
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')           # DejaVu Sans has no glyph for U+F0B7; the text layer still carries it
        paper = read_paper(render_test_pdf([[(72, 72, '\uf0b7 First item of the list, set with a Symbol bullet.', 10, False)]]))
    assert paper.sections[0].text == '• First item of the list, set with a Symbol bullet.'


def test_no_sentence_ends_inside_a_citation(papers, pdf_dir):
    "'... search engines (Etzioni,' wraps so that '2011).' is a line of its own: it stays in the sentence, which does not end inside the brackets (whether citations are stripped or kept)."
    kept = read_paper(pdf_dir / 'N18-3011.pdf', remove_citations=False)
    for paper, whole in [(papers['N18-3011.pdf'], 'in a step towards more intelligent academic search engines.'),
                         (kept, 'in a step towards more intelligent academic search engines (Etzioni, 2011).'),
                         (papers['2020.acl-main.207.pdf'], 'We used the 768-dimensional pretrained ELMo model in AllenNLP.')]:
        sentences = [s for sec in paper.sections for s in split_sentences(sec.text, max_words=200)]
        assert [s for s in sentences if s.endswith(whole)], whole
        assert not [s for s in sentences if re.search(r'\((?:Etzioni|Gardner et al\.),$', s)]


def test_no_headings_means_page_groups_not_nothing():
    "A paper with a text layer and no headings at all becomes sections of two pages each, with a warning, never zero sections."
    pages = [[(72, 100 + 14 * j, f'Line {j} of page {k} has ordinary body text in it.', 10, False) for j in range(20)] for k in range(1, 4)]
    with pytest.warns(UserWarning, match='no section headings'):
        paper = read_paper(render_test_pdf(pages))
    assert [(s.heading, s.pages) for s in paper.sections] == [('Pages 1-2', (1, 2)), ('Page 3', (3,))]
    assert 'Line 19 of page 3' in paper.sections[1].text


def test_table_label_cells_and_broken_captions_left_out(papers, old_papers):
    "The label cells of a table whose numbers are left out go with them; a caption goes on past a glyph set apart and a line set in a drifting size; a 'Table 4. On average' sentence at the body size is prose, and so is the paragraph after it."
    text = {**{n: all_text(p) for n, p in papers.items()}, **{n: all_text(p) for n, p in old_papers.items()}}
    for name, junk in [('C16-1060.pdf', 'English-Hindi (|S|'), ('N18-3011.pdf', 'bibliography titles'), ('2206.10883v3.pdf', 'K-fold'),
                       ('2020.acl-main.447.pdf', 'links to CiteSeerX (which contained'), ('P98-1046.pdf', 'but participate in all the alternations')]:
        assert junk not in text[name], (name, junk)
    assert 'On average, LATEX parses contain many more “paragraphs” of body text' in text['2020.acl-main.447.pdf']
    assert 'The distribution of academic disciplines in S2ORC is given in Figure 2' in text['2020.acl-main.447.pdf']
    assert 'The intersection between the push/pull verbs' in text['P98-1046.pdf']
    assert 'can be defined as follows:' in text['N01-1011.pdf']


def test_headings_found_by_font_without_the_bookmarks(pdf_dir, monkeypatch):
    "1703.00317 sets unnumbered headings in a larger bold type and has a numbered list in its body; without its PDF bookmarks the font rules still read its headings, and the list is no fallback (leave-papers-out showed it needed the bookmarks)."
    import rlhf_summ.text.pdf as pdf
    monkeypatch.setattr(pdf, 'pdf_outline', lambda doc: {})
    paper = pdf.read_paper(pdf_dir / '1703.00317.pdf')
    assert [s.heading for s in paper.sections] == ['Abstract', 'Introduction', 'Supreme Court Data', 'Linguistic Relation Extraction',
                                                  'Pointwise Mutual Information', 'Results', 'Conclusion', 'Acknowledgments', 'References']
