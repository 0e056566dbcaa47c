"""Exit 0 when the active environment already holds this clone's package as settings.ini describes it, else 1 with why.

`make` runs it with the virtual environment's python and installs only on exit 1: the installed package's metadata
(name, version, requirements with the dev extras, an editable install of this very folder, torch present) is
compared with settings.ini, so an up-to-date environment is never reinstalled because a file is newer than a marker.
"""
import json, shlex, sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def why_install() -> str:
    "'' when nothing needs installing, else the reason."
    try:
        from importlib.metadata import PackageNotFoundError, distribution
        from packaging.requirements import Requirement
    except ImportError as e: return f"the environment lacks {e.name}"
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8'); cfg = cfg['DEFAULT']
    try: dist = distribution(cfg['lib_name'])
    except PackageNotFoundError: return f"{cfg['lib_name']} is not installed"
    try: distribution('torch')
    except PackageNotFoundError: return 'torch is not installed'
    if dist.version != cfg['version']: return f"installed version {dist.version}, settings.ini says {cfg['version']}"
    url = json.loads(dist.read_text('direct_url.json') or '{}')
    if url.get('url') != ROOT.as_uri() or not url.get('dir_info', {}).get('editable'):
        return f"not an editable install of {ROOT} (installed from {url.get('url', 'an index')})"
    def norm(r: Requirement) -> str: return f"{r.name.lower().replace('_', '-')}{r.specifier}|{r.marker or ''}"
    wanted = {norm(Requirement(r)) for r in shlex.split(cfg.get('requirements', ''))}
    wanted |= {norm(Requirement(f'{r}; extra == "dev"')) for r in shlex.split(cfg.get('dev_requirements', ''))}
    have = {norm(Requirement(r)) for r in dist.requires or []}
    if wanted != have: return f"requirements differ: {sorted(wanted ^ have)}"
    return ''


if __name__ == '__main__':
    reason = why_install()
    if reason: print(f"install needed: {reason}")
    sys.exit(1 if reason else 0)
