"""The guide: the docs site builds in strict mode (and a broken link or a page left out of the navigation fails
it), the README stays a short guide with no history in it, and the repository's address agrees everywhere."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

MKDOCS = Path(sys.executable).parent / "mkdocs"


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MKDOCS, "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_docs_site_builds_strictly_and_a_broken_link_fails_it(tmp_path):
    done = build(REPO, tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("index", "data", "training", "benchmark", "results", "report", "colab", "architecture"):
        assert (tmp_path / "site" / ("" if page == "index" else page) / "index.html").is_file(), page
    # the site shows its figures: images whose files are in the site, and never a "(figure: ...)" stand-in
    images = {}
    for html in (tmp_path / "site").rglob("*.html"):
        text = html.read_text()
        assert "(figure:" not in text, f"{html}: a figure shown as text"
        for source in re.findall(r'<img[^>]* src="([^"]+)"', text):
            images.setdefault(html.parent.relative_to(tmp_path / "site").as_posix(), []).append(source)
            if not source.startswith("http"):
                assert (html.parent / source).resolve().is_file(), f"{html}: {source} is not in the site"
    assert len([s for s in images["results"] if "learning_curve" in s]) == 2, images["results"]
    assert any("confusion_" in s for s in images["results"]) and any("loss_curves" in s for s in images["results"])
    assert any("colab-badge.svg" in s for s in images["colab"]) and any("results-page.png" in s for s in images["."])
    # the same build on a copy with a broken link, then with a page missing from the navigation: both fail
    for name, change in (
        ("broken link", lambda docs: (docs / "data.md").open("a").write("\nSee [the page](no-such-page.md).\n")),
        ("page not in nav", lambda docs: (docs / "orphan.md").write_text("# Orphan\n")),
        ("missing anchor", lambda docs: (docs / "data.md").open("a").write("\nSee [x](training.md#no-such-part).\n")),
    ):
        copy = tmp_path / name.replace(" ", "-")
        shutil.copytree(REPO / "docs", copy / "docs")
        shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
        for shared in ("scripts", "results", "configs"):  # the site's hook and the files its pages include
            (copy / shared).symlink_to(REPO / shared, target_is_directory=True)
        change(copy / "docs")
        failed = build(copy, copy / "site")
        assert failed.returncode != 0, name
        named = {"broken link": "no-such-page.md", "page not in nav": "orphan.md", "missing anchor": "no-such-part"}
        assert "WARNING" in failed.stderr and named[name] in failed.stderr, failed.stderr[-2000:]


def test_the_readme_is_a_short_guide_without_history():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert not re.findall(r"\b20\d\d-\d\d-\d\d\b", text), "dates belong in docs/experiment-log.md"
    assert not re.findall(r"\bissue \d+", text, flags=re.I)
    assert not re.findall(r"`[0-9a-f]{7,40}`", text), "commit hashes belong in docs/experiment-log.md"
    assert "python -m sft." not in text and "python -m bench." not in text and "python -m prompts." not in text
    # every relative link and image points at a file that exists
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target


def test_the_readmes_command_list_is_the_commands_own():
    shown = (REPO / "README.md").read_text().split("$ sftbench --help\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [sys.executable, "-m", "sftbench", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode == 0
    assert shown.strip() == done.stdout[done.stdout.index("Commands:") :].strip()


def test_the_repository_address_is_set_in_one_place():
    done = subprocess.run(
        [sys.executable, "scripts/set_repository.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
    # and the check can fail: a copy that disagrees is named
    copy = REPO / "mkdocs.yml"
    original = copy.read_text()
    try:
        copy.write_text(original.replace("repo_url: ", "repo_url: https://example.org/elsewhere#"))
        done = subprocess.run(
            [sys.executable, "scripts/set_repository.py", "--check"], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 1 and "mkdocs.yml" in done.stdout
    finally:
        copy.write_text(original)


HISTORY = "experiment-log.md"  # the one page that keeps superseded numbers, dated
QUOTED = [
    re.compile(r"\b\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"),  # an accuracy or F1 with its interval
    re.compile(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]"),  # a paired difference in points with its interval
    re.compile(r"\b\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]"),  # a perplexity with its interval
]
BARE = re.compile(r"(?<![\d.\[])\b[01]\.\d{3}\b(?![\d\]])")  # any other three-decimal score


def generated_text() -> str:
    """Every table and record the commands wrote under results/ (what the docs may quote)."""
    found = [p.read_text() for p in sorted((REPO / "results").rglob("*.md"))]
    found += [p.read_text() for p in sorted((REPO / "results").rglob("*.csv"))]
    return "\n".join(found)


def test_numbers_in_the_readme_and_docs_come_from_the_results_files():
    """A score the README or a docs page quotes (with its interval, or bare with three decimals) stands in a
    results file a command wrote; the history with superseded numbers lives in docs/experiment-log.md only.
    Code (fenced or `inline`) shows commands and formats, not findings, and is left out."""
    generated = generated_text()
    csv_numbers = {f"{float(x):.3f}" for x in re.findall(r"(?<=,)-?\d+\.\d{6}(?=,|$)", generated, flags=re.M)}
    pages = [REPO / "README.md"] + [p for p in sorted((REPO / "docs").glob("*.md")) if p.name != HISTORY]
    for page in pages:
        # commands, their output and `formats in code` aside: what a page quotes as a finding is prose or a table
        text = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", page.read_text(), flags=re.S))
        for pattern in QUOTED:
            for quoted in pattern.findall(text):
                assert quoted in generated, f"{page.name}: {quoted} is in no results file"
        for number in BARE.findall(text):
            assert number in generated or number in csv_numbers, f"{page.name}: {number} is in no results file"


def test_committed_run_folders_are_finished_runs_of_clean_code():
    """Every run folder under results/ finished, was trained from a clean tree, and names no temporary file."""
    for run_json in sorted((REPO / "results").rglob("runs/*/*/run.json")):
        info = json.loads(run_json.read_text())
        assert info["status"] == "finished", run_json
        assert info["git_commit"] and not info["git_commit"].endswith("+dirty"), run_json
        config = (run_json.parent / "config.yaml").read_text()
        assert "/tmp/" not in config and "pytest-" not in config, run_json


def test_the_experiment_file_reference_is_what_the_code_accepts(tmp_path):
    """docs/experiment-file.md is generated from the loader's schema and TrainConfig: it is current, it names
    every key the loader accepts with a meaning, and the check fails on a page that fell behind."""
    from sft.config import FIELDS
    from sft.experiment import EXPERIMENT_KEYS, RUN_KEYS

    done = subprocess.run(
        [sys.executable, "scripts/experiment_reference.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
    page = (REPO / "docs" / "experiment-file.md").read_text()
    sections = page.split("\n## ")
    for heading, keys in (("Experiment keys", EXPERIMENT_KEYS), ("Run entries", RUN_KEYS), ("Config keys", FIELDS)):
        section = next(s for s in sections if s.startswith(heading))
        rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]*) \|$", section, re.M)
        assert {key for key, *_ in rows} == set(keys), heading
        assert all(meaning.strip() for *_, meaning in rows), f"{heading}: a key without a meaning"
    # a page that fell behind the code fails the check
    stale = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", stale / "scripts")
    (stale / "docs").mkdir()
    (stale / "docs" / "experiment-file.md").write_text(page.replace("| `fewshot` |", "| `shots` |"))
    script = (REPO / "scripts" / "experiment_reference.py").read_text()
    (stale / "scripts" / "experiment_reference.py").write_text(
        script.replace('PAGE = REPO / "docs"', f'PAGE = Path("{stale}") / "docs"')
    )
    done = subprocess.run(
        [sys.executable, str(stale / "scripts" / "experiment_reference.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "experiment-file.md is not what the code says" in done.stdout
