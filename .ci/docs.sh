#!/usr/bin/env bash
# Build the documentation site from the notebooks into _docs/ (nbdev's processing + MkDocs Material; see docs_site/build_site.py).
# Needs the dev extras (mkdocs, mkdocs-material) in the active environment. Quarto users can run `nbdev_docs` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_MKDOCS_2_WARNING=1
python docs_site/build_site.py "$@"
test -f _docs/index.html && test -f _docs/policies/seq2seq.html
echo "docs site: $(find _docs -name '*.html' | wc -l) pages in _docs/"
