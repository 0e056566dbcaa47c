"""The docs site (built by .ci/docs.sh from the notebooks) renders in headless Chromium, API signatures included."""
import os, re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('RLHF_SUMM_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']


def _site_is_fresh(site: Path) -> bool:
    "The site was built after the last change to any notebook or to the docs builder."
    if not (site / 'index.html').exists(): return False
    sources = list((REPO / 'nbs').rglob('*.ipynb')) + [p for p in (REPO / 'docs_site').iterdir() if p.suffix in ('.py', '.yml')]
    return (site / 'index.html').stat().st_mtime >= max(p.stat().st_mtime for p in sources)


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    "The site `.ci/docs.sh` built into _docs/ when it is up to date, else a fresh build in a temporary folder."
    if _site_is_fresh(REPO / '_docs'): return REPO / '_docs'
    import sys
    sys.path.insert(0, str(REPO / 'docs_site'))
    from build_site import build
    return build(tmp_path_factory.mktemp('site'))


@pytest.fixture(scope='module')
def browser():
    if not Path(CHROMIUM).exists(): pytest.skip(f'no Chromium at {CHROMIUM} (apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_page_names_follow_nbdev():
    import sys
    sys.path.insert(0, str(REPO / 'docs_site'))
    from build_site import page_name
    assert page_name(Path('policies/07a_seq2seq.ipynb')) == Path('policies/seq2seq.md')
    assert page_name(Path('jobs/pipeline.ipynb')) == Path('jobs/pipeline.md')
    assert page_name(Path('index.ipynb')) == Path('index.md')


def test_index_renders_with_navigation(site, browser):
    page = browser.new_page()
    page.goto((site / 'index.html').as_uri())
    assert 'rlhf_summ' in page.title()
    assert page.locator('article h1').first.inner_text().startswith('rlhf_summ')
    assert page.locator('article h2', has_text='Install').count() == 1
    link = page.locator('nav.md-nav--primary a[href$="policies/seq2seq.html"]')
    assert link.count() >= 1, 'no link to the policy page in the navigation'
    link.first.click()
    page.wait_for_load_state()
    assert page.url.endswith('policies/seq2seq.html')
    page.close()


def test_policy_api_page_shows_signatures(site, browser):
    page = browser.new_page()
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto((site / 'policies' / 'seq2seq.html').as_uri())
    heading = page.locator('article h3#train_sft')
    assert heading.count() == 1, 'no API entry for train_sft'
    text = page.locator('article').inner_text()
    assert re.search(r'train_sft \(config:[\w.]*SFTConfig,\s+train_pairs:', text), 'train_sft signature not rendered'
    assert re.search(r'build_tiny_policy \(kind:str=.bart., texts:', text), 'build_tiny_policy signature not rendered'
    signature = page.locator('article blockquote pre', has_text='train_sft (')
    assert signature.count() >= 1 and signature.first.is_visible()
    assert not errors, errors
    page.close()


def test_math_renders_offline(site, browser):
    "MathJax, copied into the site from a pip package, typesets the notebooks' math with no CDN (no raw `\\(k\\)`)."
    assert (site / 'assets' / 'mathjax' / 'tex-chtml.js').is_file()
    page = browser.new_page()
    requests = []
    page.on('request', lambda r: requests.append(r.url))
    page.goto((site / 'reports.html').as_uri())
    page.wait_for_selector('mjx-container', timeout=30_000)
    assert page.locator('article mjx-container').count() >= 3
    assert '\\(' not in page.locator('article').inner_text()
    assert not [u for u in requests if 'mathjax' in u.lower() and not u.startswith('file:')], 'MathJax came from the network'
    page.close()


def test_broken_link_or_anchor_fails_the_build(tmp_path):
    "The site's MkDocs settings turn a link to a missing page or anchor into a failed `mkdocs build --strict`."
    import subprocess, sys, yaml
    base = yaml.safe_load((REPO / 'docs_site' / 'mkdocs.yml').read_text())
    docs = tmp_path / 'docs'; docs.mkdir()
    (docs / 'index.md').write_text('# Home\n\n## Here\n\nSee [here](#here).\n')
    for name, link in (('page', 'missing.md'), ('anchor', 'index.md#nowhere'), ('fine', 'index.md#here')):
        (docs / 'other.md').write_text(f'# Other\n\nSee [that]({link}).\n')
        config = {'site_name': 'x', **base, 'docs_dir': str(docs), 'site_dir': str(tmp_path / 'site'),
                  'nav': [{'Home': 'index.md'}, {'Other': 'other.md'}]}
        (tmp_path / 'mkdocs.yml').write_text(yaml.safe_dump(config))
        built = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f', str(tmp_path / 'mkdocs.yml')],
                               capture_output=True, text=True, env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'}, timeout=120)
        assert (built.returncode == 0) == (name == 'fine'), (name, built.stderr[-1500:])


def test_readme_says_what_the_default_does_and_names_the_docs_site():
    readme = (REPO / 'README.md').read_text()
    first = readme.split('\n\n')[2]                                        # title, tagline, then the first paragraph
    assert 'extractive' in first and 'MiniLM' in first and 'shipped with the package' in first
    assert 'docs site' in readme and 'https://rlhf-summ.github.io/rlhf_summ' in readme


def test_serve_page_shows_the_app_screenshots(site, browser):
    "The picking, stats and progress pages' screenshots (nbs/images, made by docs_site/screenshots.py) load on the serve page."
    page = browser.new_page()
    page.goto((site / 'feedback' / 'serve.html').as_uri())
    for alt in ('The picking page', 'The stats page', 'What your picks did'):
        img = page.locator(f'article img[alt="{alt}"]')
        assert img.count() == 1, f'no {alt!r} screenshot on the serve page'
        img.scroll_into_view_if_needed()
        assert img.evaluate('i => i.complete && i.naturalWidth') > 400, f'{alt!r} screenshot did not load'
    page.close()
