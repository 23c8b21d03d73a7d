"""The results page (bench/page.py) in a real browser: Debian's Chromium driven by Playwright, the page opened from
disk. Its table's numbers are results.csv's, a confusion cell lists its records, model vs model shows the
discordant counts McNemar used, the record browser's filters narrow it, a record holding markup stays text and runs
nothing, and the page logs no error."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.statistics import mcnemar_p
from tests.helpers import REPO, notes_experiment, run_sftbench

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]  # fmt: skip
# records that would run code if the page parsed them as HTML
MARKUP = [
    "<script>window.__xss = 1</script> a great note number 100",
    '<img src=x onerror="window.__xss = 2"> an awful note number 101',
    "</script><script>window.__xss = 3</script> a lovely note number 102",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        "no Chromium: `make install` installs Debian's (as root), or apt-get install chromium; "
        "`make test ARGS='-m \"not browser\"'` leaves these tests out"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("table.results")
    return page, errors


@pytest.fixture(scope="module")
def notes_results(tmp_path_factory):
    """A small CSV task with markup in some texts, MiniLM trained on it, benchmarked, reported: a results folder."""
    folder = tmp_path_factory.mktemp("page")
    _, experiment = notes_experiment(folder, "epochs: 1, batch_size: 8, max_length: 32, save_steps: 100")
    test = folder / "test.csv"  # the task's own test split: the markup records are sure to be scored and shown
    rows = [(text, "pos" if "great" in text or "lovely" in text else "neg") for text in MARKUP]
    rows += [
        (f"a {word} note to test {i}", label) for i, (word, label) in enumerate([("fine", "pos"), ("dull", "neg")] * 6)
    ]
    test.write_text("text,label\n" + "".join('"' + t.replace('"', '""') + f'",{label}\n' for t, label in rows))
    experiment.write_text(
        experiment.read_text().replace("text_column: text}", f"text_column: text, test_file: '{test}'}}")
    )
    results = folder / "results"
    env = {"SFTBENCH_RESULTS": str(results), "SFTBENCH_DATA": str(folder / "data")}
    for command in ("train-all", "bench"):
        done = run_sftbench(command, "--experiment", str(experiment), env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    assert (results / "index.html").is_file()
    return results


def rows_of(results: Path, task: str) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (results / task / "rows").glob("*.json")}


def test_the_table_holds_results_csv_numbers(browser, notes_results):
    page, errors = open_page(browser, notes_results / "index.html")
    expected = sorted(round(float(r["accuracy"]), 6) for r in csv.DictReader((notes_results / "results.csv").open()))
    shown = sorted(round(float(v), 6) for v in page.eval_on_selector_all(
        "table.results td[data-key=accuracy]", "cells => cells.map(c => c.dataset.value)"))  # fmt: skip
    assert shown == expected
    texts = page.eval_on_selector_all("table.results td[data-key=accuracy]", "cells => cells.map(c => c.textContent)")
    assert all(text.split(" ")[0] in {f"{a:.3f}" for a in expected} for text in texts)
    page.click("table.results th[data-key=accuracy]")  # sorting by a column orders the lines by it
    ascending = page.eval_on_selector_all("table.results td[data-key=accuracy]", "c => c.map(x => +x.dataset.value)")
    assert ascending == sorted(ascending)
    assert not errors, errors


def test_a_confusion_cell_lists_its_records(browser, notes_results):
    rows = rows_of(notes_results, "notes")
    tuned_id, tuned = next((k, r) for k, r in rows.items() if r["state"] == "fine-tuned")
    records = [json.loads(line) for line in (notes_results / "notes" / "records.jsonl").read_text().splitlines()]
    page, errors = open_page(browser, notes_results / "index.html")
    page.click(f"table.results tr[data-row='{tuned_id}']")
    labels = tuned["labels"]
    for gold in range(len(labels)):
        for answer in range(len(labels)):
            page.click(f".confusion button[data-gold='{gold}'][data-answer='{answer}']")
            listed = page.eval_on_selector_all(
                ".cell-records table.records tr[data-id]", "r => r.map(x => x.dataset.id)"
            )
            wanted = [
                r["id"]
                for r, p in zip(records, tuned["predicted"])
                if r["output"] == labels[gold] and p == labels[answer]
            ]
            assert listed == wanted and len(wanted) == tuned["metrics"]["confusion"][gold][answer]
    assert not errors, errors


def test_model_vs_model_shows_the_discordant_counts_mcnemar_used(browser, notes_results):
    rows = rows_of(notes_results, "notes")
    a = next(k for k, r in rows.items() if r["state"] == "fine-tuned")
    b = next(k for k, r in rows.items() if r["state"] == "baseline")
    page, errors = open_page(browser, notes_results / "index.html")
    page.click("button[data-view=versus]")
    page.select_option("select[data-versus=a]", a)
    page.select_option("select[data-versus=b]", b)
    only_a = sum(x == "1" and y == "0" for x, y in zip(rows[a]["correct"], rows[b]["correct"]))
    only_b = sum(x == "0" and y == "1" for x, y in zip(rows[a]["correct"], rows[b]["correct"]))
    assert page.text_content("[data-count=only-a]") == str(only_a)
    assert page.text_content("[data-count=only-b]") == str(only_b)
    p = mcnemar_p(rows[a]["correct"], rows[b]["correct"])
    assert page.text_content("[data-stat=p]") == ("p<0.001" if p < 0.001 else f"p={p:.3f}")
    assert not errors, errors


def test_filters_narrow_the_record_browser_and_markup_stays_text(browser, notes_results):
    page, errors = open_page(browser, notes_results / "index.html")
    page.click("button[data-view=records]")
    total = len((notes_results / "notes" / "records.jsonl").read_text().splitlines())
    assert page.text_content("p.count").startswith(f"{total} of {total} records")
    page.select_option("select[data-filter=gold]", "0")
    narrowed = int(page.text_content("p.count").split(" ")[0])
    assert 0 < narrowed < total
    page.fill("input[data-filter=search]", "note number 1")
    searched = page.eval_on_selector_all("table.records td.text", "cells => cells.map(c => c.textContent)")
    assert searched and all("note number 1" in text for text in searched)
    page.select_option("select[data-filter=gold]", "")
    page.fill("input[data-filter=search]", "window.__xss")
    shown = page.eval_on_selector_all("table.records td.text", "cells => cells.map(c => c.textContent)")
    assert sorted(shown) == sorted(MARKUP)  # shown as the text they are
    assert page.evaluate("window.__xss") is None and page.locator("img[src=x]").count() == 0  # and nothing ran
    assert not errors, errors


def test_the_committed_results_page_agrees_with_results_csv(browser, tmp_path):
    """The page committed beside results.md, as a reader opens it; its screenshot is the README's."""
    for folder in (REPO / "results", REPO / "results" / "study"):
        if not (folder / "index.html").is_file():
            continue
        page, errors = open_page(browser, folder / "index.html")
        for task in page.eval_on_selector_all("nav button", "b => b.map(x => x.dataset.task)"):
            page.click(f"nav button[data-task='{task}']")
            if page.is_visible("input[data-filter=each]") and not page.is_checked("input[data-filter=each]"):
                page.check("input[data-filter=each]")  # each seed's line beside their mean, as results.csv has them
            expected = sorted(
                round(float(r["accuracy"]), 6)
                for r in csv.DictReader((folder / "results.csv").open())
                if r["task"] == task
            )
            shown = sorted(round(float(v), 6) for v in page.eval_on_selector_all(
                "table.results td[data-key=accuracy]", "cells => cells.map(c => c.dataset.value)"))  # fmt: skip
            assert shown == expected, task
        assert not errors, errors


def test_the_readme_screenshot_is_made_by_the_test_run():
    """docs/assets/results-page.png, the README's picture of the committed results page, is drawn again by every
    test run (scripts/results_page_screenshot.py, the tweets tab's model vs model view), so it is never stale."""
    out = REPO / "docs" / "assets" / "results-page.png"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "results_page_screenshot.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
