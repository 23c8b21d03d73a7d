"""Hub-backed tasks, offline: the `datasets` path on a local fixture in the Hub's layout, and the offline error."""

from collections import Counter
from pathlib import Path

import datasets
import pytest

from prompts.build import build_task, load_split
from prompts.tasks import get_task
from sftbench_common.errors import UserError


def test_hub_task_reads_hub_layout(monkeypatch, isolated_outputs):
    """The Hub path (datasets.load_dataset) on a local fixture in AG News' own column layout."""
    monkeypatch.setenv("SFTBENCH_HUB_MIRROR", str(Path(__file__).parent / "fixtures" / "hub"))
    task = get_task("ag_news")
    examples, _ = task.load()
    assert task.labels == ("world", "sports", "business", "sci/tech")
    assert Counter(e.label for e in examples) == {"world": 5, "sports": 5, "business": 5, "sci/tech": 5}
    meta = build_task(task)
    assert all(meta["counts"][s] for s in ("train", "val", "test"))


def test_hub_task_offline_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SFTBENCH_HUB_MIRROR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError, match="Hugging Face Hub"):
        get_task("imdb").load()


def save_dataset(folder, splits: dict, class_names=None):
    """A dataset as `datasets` would download it, written to a local folder (save_to_disk)."""
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=class_names) if class_names else datasets.Value("string"),
        }
    )
    datasets.DatasetDict(
        {name: datasets.Dataset.from_list(rows, features=features) for name, rows in splits.items()}
    ).save_to_disk(str(folder))
    return folder


def rows(prefix, labels, n):
    return [{"text": f"{prefix} text {i} about {label}", "label": label} for label in labels for i in range(n)]


def test_hub_dataset_with_classlabel_and_validation_keeps_its_splits(tmp_path):
    folder = save_dataset(
        tmp_path / "emotionish",
        {
            "train": rows("train", [0, 1, 2], 10),
            "validation": rows("val", [0, 1, 2], 3),
            "test": rows("test", [0, 1, 2], 4),
        },
        class_names=["sadness", "joy", "anger"],
    )
    task = get_task(f"hub:{folder}")
    assert task.name == "emotionish" and task.labels == ("sadness", "joy", "anger")  # ClassLabel order
    meta = build_task(task)
    assert {s: sum(c.values()) for s, c in meta["counts"].items()} == {"train": 30, "val": 9, "test": 12}
    assert meta["split_origin"].startswith(f"the official test split of {folder} (12 records)")
    assert "validation: its own validation split" in meta["split_origin"]
    test = load_split("emotionish", "test")
    assert {r["id"].split("-")[1] for r in test} == {"test"} and test[0]["output"] in task.labels


def test_hub_dataset_with_string_labels_and_no_validation(tmp_path):
    train = rows("train", ["pos", "neg"], 20) + [{"text": "test text 0 about pos", "label": "pos"}]  # also in test
    folder = save_dataset(tmp_path / "reviews", {"train": train, "test": rows("test", ["pos", "neg"], 5)})
    task = get_task(f"hub:{folder}", question="Is this review positive?")
    assert task.labels == ("neg", "pos")  # sorted string labels
    meta = build_task(task)
    assert meta["overlap_dropped"] == {"train": 1, "val": 0}  # counted and dropped from train, not kept
    assert meta["counts"]["test"] == {"neg": 5, "pos": 5}
    assert meta["counts"]["val"] == {"neg": 2, "pos": 2}  # a seeded 10% slice of train, per label
    assert "a seeded 10% stratified slice of train (seed 42)" in meta["split_origin"]
    test_texts = {r["input"] for r in load_split("reviews", "test")}
    assert not test_texts & {r["input"] for r in load_split("reviews", "train")}


def test_hub_dataset_bad_columns_name_the_field(tmp_path):
    folder = save_dataset(tmp_path / "plain", {"train": rows("t", ["a", "b"], 4), "test": rows("s", ["a", "b"], 2)})
    with pytest.raises(UserError, match=r"field 'sentence' missing \(present: text, label\)"):
        build_task(get_task(f"hub:{folder}", text_column="sentence"))
    with pytest.raises(UserError, match=r"field 'stars' missing"):
        get_task(f"hub:{folder}", label_column="stars")
    with pytest.raises(UserError, match="unknown option"):
        get_task(f"hub:{folder}", text_colum="text")
