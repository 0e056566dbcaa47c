#!/usr/bin/env python
"""Build the documentation site from the notebooks with nbdev's own processing and MkDocs (Material).

Why not `nbdev_docs`: nbdev 2 renders with Quarto, whose PyPI package downloads a binary at install time,
which CI cannot do. `nbdev-mkdocs` (made for nbdev 2 + Material for MkDocs) pins `nbdev==2.3.12` and so
cannot coexist with this project's `nbdev 2.4.7 / execnb<0.2 / fastcore<1.9`. So the site is built from
the same notebooks the way `nbdev_docs` would, up to the renderer:

1. nbdev itself prepares the notebooks, exactly as `nbdev_docs` does before calling Quarto:
   `refresh_quarto_yml` (nbs/_quarto.yml, nbs/nbdev.yml), `nbdev_sidebar` (nbs/sidebar.yml, the page order)
   and `proc_nbs`, which runs nbdev's processors into `_proc/` (front matter from the title cell, hidden
   and exported cells dropped, a `show_doc` cell executed after every exported name, which renders its
   signature and docstring as markdown, links to the API added).
2. Each processed notebook becomes a markdown page here (`notebook_markdown`), honouring the Quarto cell
   options nbdev writes (`echo: false`, `output: asis`). Pages are named as nbdev names them for Quarto
   (`policies/07a_seq2seq.ipynb` -> `policies/seq2seq.html`), so the links in `rlhf_summ/_modidx.py` hold for both sites.
3. `mkdocs build --strict` with the Material theme (no web fonts, no CDN: the site works offline) writes the site
   to `_docs/` (settings.ini's `doc_path`, where Quarto would write it). A link to a missing page or anchor fails
   the build (mkdocs.yml's `validation`). Math (`$k$`, written by `pymdownx.arithmatex`) is typeset by MathJax 3,
   copied from the `django-static-mathjax` package (a pip package holding MathJax's files, no Django needed) into
   the site: no CDN at build or view time. Pictures the notebooks' markdown shows (`nbs/images/`) are copied too.

Users with Quarto can still run `nbdev_docs` / `nbdev_preview` on the same notebooks and config files.

Usage: python docs_site/build_site.py [--out DIR] [--n_workers N]
"""
from __future__ import annotations
import argparse, base64, json, os, re, shutil, subprocess, sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_number = re.compile(r'^\d+[a-z]?_')


def page_name(nb_rel: Path) -> Path:
    "Markdown path of a notebook, numbered prefix dropped as nbdev does for Quarto (`policies/07a_seq2seq.ipynb` -> `policies/seq2seq.md`)."
    return nb_rel.with_name(_re_number.sub('', nb_rel.stem) + '.md')


def _directives(source: str) -> tuple[dict[str, str], str]:
    "Split leading `#| key: value` lines from the code."
    lines, opts = source.splitlines(), {}
    while lines and _re_directive.match(lines[0]):
        k, v = _re_directive.match(lines[0]).groups()
        opts[k] = v
        lines.pop(0)
    return opts, '\n'.join(lines).strip('\n')


def _text(x) -> str:
    return ''.join(x) if isinstance(x, list) else (x or '')


def _fence(text: str, lang: str = '') -> str:
    ticks = '````' if '```' in text else '```'
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def api_link_targets(markdown: str, site_url: str) -> set[str]:
    "Pages (`policy.md`) that nbdev's API links in `markdown` point to."
    return {m + '.md' for m in re.findall(re.escape(site_url.rstrip('/')) + r'/([\w/.-]+?)\.html', markdown)}


def notebook_markdown(nb: dict, images_dir: Path, image_prefix: str, site_url: str = '', depth: int = 0) -> str:
    "Markdown for a notebook processed by nbdev (front matter, prose, code, outputs); images are written to `images_dir`."
    parts, front = [], {}
    cells = nb.get('cells', [])
    if cells and cells[0]['cell_type'] == 'raw' and _text(cells[0]['source']).startswith('---'):
        front = yaml.safe_load(_text(cells[0]['source']).strip().strip('-')) or {}
        cells = cells[1:]
    if front.get('description'): parts.append(f"*{front['description']}*")
    n_img = 0
    for cell in cells:
        src = _text(cell.get('source'))
        if cell['cell_type'] == 'markdown':
            # Quarto fenced divs (`:::`) have no MkDocs meaning; their content stays.
            parts.append('\n'.join(l for l in src.splitlines() if not l.strip().startswith(':::')))
            continue
        if cell['cell_type'] == 'raw':
            parts.append(src); continue
        opts, code = _directives(src)
        if opts.get('echo', 'true').lower() != 'false' and code: parts.append(_fence(code, 'python'))
        if opts.get('output', 'true').lower() == 'false': continue
        for out in cell.get('outputs', []):
            if out.get('output_type') == 'stream':
                parts.append(_fence(_text(out.get('text'))))
            elif out.get('output_type') == 'error':
                parts.append(_fence('\n'.join(out.get('traceback', []))))
            else:
                data = out.get('data', {})
                if 'image/png' in data:
                    n_img += 1
                    name = f"{image_prefix}_{n_img}.png"
                    images_dir.mkdir(parents=True, exist_ok=True)
                    (images_dir / name).write_bytes(base64.b64decode(_text(data['image/png'])))
                    parts.append(f"![]({images_dir.name}/{name})")
                elif 'text/markdown' in data: parts.append(_re_outside_link.sub(r'\1', _text(data['text/markdown'])))   # docstrings' own relative links (pydantic's) lead nowhere here
                elif 'text/html' in data: parts.append(_text(data['text/html']))
                elif 'text/plain' in data: parts.append(_fence(_text(data['text/plain'])))
    head = '---\n' + yaml.safe_dump({'title': front.get('title') or 'Untitled'}, allow_unicode=True) + '---\n\n'
    body = '\n\n'.join(p for p in parts if p.strip()) + '\n'
    body = _re_api_heading.sub(lambda m: f"{m.group(0)} {{#{m.group(1).lower()}}}", body)   # nbdev's anchor for `X.y`
    body = _re_outside_link.sub(lambda m: m.group(1) if m.group(2).count('../') > depth else m.group(0), body)
    # nbdev links API names to the published site; inside this site they become relative links.
    if site_url: body = localize_api_links(body, site_url, depth)
    return head + body


_re_api_heading = re.compile(r'^#{2,4} `?([A-Za-z_][\w]*\.[A-Za-z_][\w]*)`?[ \t]*$', re.M)
_re_outside_link = re.compile(r'\[([^\]\n]*)\]\(((?:\.\./)+[^)\s]*)\)')


def localize_api_links(body: str, site_url: str, depth: int, anchors: dict[str, set[str]] | None = None) -> str:
    "nbdev's API links to the published site as links between these pages; with `anchors` (page -> ids), a link to an anchor the page lacks (an undocumented method) points to the page."
    prefix = '../' * depth
    def local(m):
        page, anchor = m.group(1), m.group(2)
        if anchor and anchors is not None and anchor[1:] not in anchors.get(page + '.md', set()): anchor = ''
        return f"{prefix}{page}.md{anchor or ''}"
    return re.sub(re.escape(site_url.rstrip('/')) + r'/([\w/.-]+?)\.html(#[\w.-]+)?', local, body)


def page_anchors(markdown: str) -> set[str]:
    "The ids of a page's headings as MkDocs makes them (explicit `{#id}`, else the toc slug), code blocks skipped."
    import unicodedata
    ids, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith(('```', '~~~')): fenced = not fenced; continue
        m = None if fenced else re.match(r'^#{1,6}\s+(.*?)\s*$', line)
        if not m: continue
        explicit = re.search(r'\{#([^}\s]+)\}\s*$', m.group(1))
        if explicit: ids.add(explicit.group(1)); continue
        text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', m.group(1)).replace('`', '')
        text = unicodedata.normalize('NFKD', text).encode('ascii', 'ignore').decode('ascii')
        ids.add(re.sub(r'[-\s]+', '-', re.sub(r'[^\w\s-]', '', text).strip().lower()))
    return ids


MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
"""


def add_mathjax(docs_dir: Path) -> list[str]:
    "Copy MathJax 3 (tex-chtml and its woff fonts, from the `mathjax` package of `django-static-mathjax`) and its config under `docs_dir/assets/`; return the `extra_javascript` entries."
    import mathjax
    es5 = Path(mathjax.__file__).parent / 'static' / 'mathjax' / 'es5'
    dest = docs_dir / 'assets' / 'mathjax'
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / 'tex-chtml.js', dest / 'tex-chtml.js')
    shutil.copytree(es5 / 'output' / 'chtml' / 'fonts' / 'woff-v2', dest / 'output' / 'chtml' / 'fonts' / 'woff-v2', dirs_exist_ok=True)
    (docs_dir / 'assets' / 'mathjax-config.js').write_text(MATHJAX_CONFIG)
    return ['assets/mathjax-config.js', 'assets/mathjax/tex-chtml.js']


def _sidebar_pages(nbs: Path) -> list[Path]:
    "Notebook paths (relative to nbs/) in nbdev's sidebar order."
    side = yaml.safe_load((nbs / 'sidebar.yml').read_text())
    out = []
    def walk(items):
        for it in items:
            if isinstance(it, str): out.append(Path(it))
            elif isinstance(it, dict): walk(it.get('contents', []))
    walk(side['website']['sidebar']['contents'])
    return [p for p in out if p.suffix == '.ipynb']


def _nav(pages: list[tuple[Path, str]]) -> list:
    "MkDocs nav from (markdown path, title) in sidebar order, one section per sub-folder."
    nav, sections = [], {}
    for md, title in pages:
        if len(md.parts) == 1: nav.append({title: md.as_posix()})
        else:
            section = md.parts[0].replace('_', ' ').capitalize()
            if section not in sections:
                sections[section] = []
                nav.append({section: sections[section]})
            sections[section].append({title: md.as_posix()})
    return nav


def build(out: Path | None = None, n_workers: int = 1, force: bool = True) -> Path:
    "Process the notebooks with nbdev, write markdown pages and build the MkDocs site into `out` (default `_docs/`)."
    os.chdir(REPO)
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.doclinks import _build_modidx
    from nbdev.serve import proc_nbs
    cfg = get_config()
    out = Path(out or cfg.config_path / cfg.doc_path.name).resolve()
    refresh_quarto_yml()
    _build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    proc = proc_nbs(cfg.nbs_path, n_workers=n_workers, force=force)
    md_dir = proc / '_mkdocs'
    if md_dir.exists(): shutil.rmtree(md_dir)
    if (cfg.nbs_path / 'images').is_dir():   # pictures the notebooks' prose links to (`![...](images/x.png)`), e.g. screenshots
        shutil.copytree(cfg.nbs_path / 'images', md_dir / 'images')
    pages, targets = [], set()
    site_url = f"{cfg.doc_host}{cfg.doc_baseurl}"
    for nb_rel in _sidebar_pages(cfg.nbs_path):
        src = proc / nb_rel
        if not src.exists(): raise FileNotFoundError(f"nbdev did not process {nb_rel} (expected {src})")
        md_rel = page_name(nb_rel)
        dest = md_dir / md_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        nb = json.loads(src.read_text())
        targets |= api_link_targets(json.dumps(nb), site_url)
        text = notebook_markdown(nb, dest.parent / 'images', md_rel.stem, depth=len(md_rel.parts) - 1)
        dest.write_text(text)
        pages.append((md_rel, yaml.safe_load(text.split('---')[1])['title']))
    anchors = {md_rel.as_posix(): page_anchors((md_dir / md_rel).read_text()) for md_rel, _ in pages}
    for md_rel, _ in pages:
        (md_dir / md_rel).write_text(localize_api_links((md_dir / md_rel).read_text(), site_url, len(md_rel.parts) - 1, anchors))
    if (cfg.nbs_path / 'images').is_dir(): shutil.copytree(cfg.nbs_path / 'images', md_dir / 'images', dirs_exist_ok=True)
    missing = sorted(t for t in targets if not (md_dir / t).exists())
    if missing: raise FileNotFoundError(f"API links point to pages that were not built: {missing}")
    base = yaml.safe_load((HERE / 'mkdocs.yml').read_text())
    config = {'site_name': cfg.title, 'site_description': cfg.description, 'repo_url': cfg.git_url,
              **base, 'docs_dir': str(md_dir), 'site_dir': str(out), 'nav': _nav(pages), 'extra_javascript': add_mathjax(md_dir)}
    config_path = proc / 'mkdocs.yml'
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--clean', '-f', str(config_path)], check=True)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', help='site folder (default: settings.ini doc_path, `_docs`)')
    ap.add_argument('--n_workers', type=int, default=1, help='parallel notebook processors')
    args = ap.parse_args()
    print(f"site written to {build(args.out, args.n_workers)}")
