"""Set where this repository lives, in the one place that holds it and in every copy made from it.

    python scripts/set_repository.py https://github.com/you/sftbench     # `make repository URL=...`
    python scripts/set_repository.py --check                             # exit 1 if a copy disagrees

pyproject.toml's [project.urls] Repository is the setting. The copies: the Open-in-Colab badge in README.md,
docs/colab.md and the notebook (Colab opens notebooks by GitHub path), the notebook's REPO_URL (what it clones) and
mkdocs.yml's repo_url (the docs site's link).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
BADGE = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/main/notebooks/sftbench_colab\.ipynb"
)
CLONE = re.compile(r'(REPO_URL = \\")[^\\]*(\\")')
MKDOCS = re.compile(r"^repo_url: .*$", re.M)


def repository() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def copies(url: str) -> dict[Path, list[tuple[re.Pattern, str]]]:
    owner_name = url.removeprefix("https://github.com/").removesuffix(".git").strip("/")
    badge = f"https://colab.research.google.com/github/{owner_name}/blob/main/notebooks/sftbench_colab.ipynb"
    return {
        REPO / "README.md": [(BADGE, badge)],
        REPO / "docs" / "colab.md": [(BADGE, badge)],
        REPO / "notebooks" / "sftbench_colab.ipynb": [(BADGE, badge), (CLONE, rf"\g<1>{url}.git\g<2>")],
        REPO / "mkdocs.yml": [(MKDOCS, f"repo_url: {url}")],
    }


def main(argv: list[str]) -> int:
    if argv and argv[0] != "--check":
        url = argv[0].removesuffix(".git").rstrip("/")
        if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
            sys.exit(f"error: expected https://github.com/OWNER/NAME, got {argv[0]}")
        pyproject = REPO / "pyproject.toml"
        text = re.sub(r'^Repository = ".*"$', f'Repository = "{url}"', pyproject.read_text(), flags=re.M)
        pyproject.write_text(text)
    url, stale = repository(), []
    for path, rules in copies(url).items():
        text = path.read_text()
        new = text
        for pattern, replacement in rules:
            if not pattern.search(new):
                sys.exit(f"error: {path.relative_to(REPO)}: no repository address found to set")
            new = pattern.sub(replacement, new)
        if new != text:
            stale.append(str(path.relative_to(REPO)))
            if argv and argv[0] != "--check":
                path.write_text(new)
    if argv and argv[0] == "--check":
        if stale:
            print(f"repository address differs from pyproject.toml's ({url}) in: {', '.join(stale)}")
            return 1
        return 0
    print(f"repository: {url}" + (f" (updated {', '.join(stale)})" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
