"""Build a task's records and its fixed split: data/<task>/{train,val,test}.jsonl + meta.json.

    sftbench data mushroom
    sftbench data --all                       # every offline task
    sftbench data csv:my.csv task_options.text_column=review task_options.label_column=sentiment
    sftbench data django-docs        # domain text (documents, for perplexity; prompts/domain.py)

A split is keyed by everything that shapes it (the source's checksum, the task's options, labels and
question, the seed, the ratios, the record format): a task whose meta.json holds the same key is not
rebuilt; any change rebuilds it and says what changed (--force rebuilds anyway).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from prompts import near_duplicates
from prompts.domain import DOMAIN_FORMAT, DOMAIN_RATIOS, DomainTask, clean_corpus, shared_between, split_documents
from prompts.examples import Task
from prompts.split import SPLITS, stratified_slice, stratified_split
from prompts.tasks import get_task
from sftbench_common.errors import UserError, moved_to
from sftbench_common.fileio import atomic_write_json, atomic_write_jsonl, content_hash, read_jsonl
from sftbench_common.logs import get_logger
from sftbench_common.paths import data_dir

log = get_logger(__name__)

DEFAULT_SEED = 42
DEFAULT_RATIOS = {"classification": (0.8, 0.1, 0.1), "domain": DOMAIN_RATIOS}
RECORD_FORMAT = {"classification": 2, "domain": DOMAIN_FORMAT}  # bump when a record changes: data/ is rebuilt


def dedupe(examples):
    """Drop exact repeats of an input text (keeping the first) so no text is in both train and test."""
    seen, kept = set(), []
    for example in examples:
        if example.text not in seen:
            seen.add(example.text)
            kept.append(example)
    return kept, len(examples) - len(kept)


def provided_splits(task: Task, examples: list, seed: int, ratios) -> tuple[dict[str, list], dict]:
    """The source's own test split (and validation split, else a seeded stratified slice of train).

    A text in the test split is dropped from train and val, and one in val from train: counted and
    reported, never silently kept.
    """
    given, duplicates = {}, 0
    for name in SPLITS:
        given[name], dropped = dedupe([e for e in examples if e.split == name])
        duplicates += dropped
    for name in ("train", "test"):
        if not given[name]:
            raise UserError(f"{task.source}: no {name} records")
    val_origin = "its own validation split"
    if not given["val"]:
        given["train"], given["val"] = stratified_slice(given["train"], ratios[1], seed)
        val_origin = f"a seeded {ratios[1]:.0%} stratified slice of train (seed {seed})"
    test_texts = {e.text for e in given["test"]}
    val = [e for e in given["val"] if e.text not in test_texts]
    held_out = test_texts | {e.text for e in val}
    train = [e for e in given["train"] if e.text not in held_out]
    overlap = {"train": len(given["train"]) - len(train), "val": len(given["val"]) - len(val)}
    splits, dropped = near_duplicates.drop_copies_of_held_out({"train": train, "val": val, "test": given["test"]})
    origin = (
        f"{task.test_origin} ({len(splits['test'])} records); validation: {val_origin}; train: the rest of "
        f"the source's train split"
    )
    described = {"split_origin": origin, "duplicates_dropped": duplicates, "overlap_dropped": overlap}
    return splits, {**described, "near_duplicates": {"dropped": dropped}}


def classification_splits(task: Task, examples: list, seed: int, ratios) -> tuple[dict[str, list[dict]], dict]:
    """Deduplicated records per split, and the meta fields that describe them (split_origin says how)."""
    if any(e.split for e in examples):
        splits, described = provided_splits(task, examples, seed, ratios)
    else:
        examples, duplicates = dedupe(examples)
        splits, moved, near_only = near_duplicates.keep_groups_together(
            stratified_split(examples, seed=seed, ratios=ratios, source=task.source)
        )
        split_ratios = "/".join(f"{r * 100:g}" for r in ratios)
        described = {
            "split_origin": f"a seeded {split_ratios} stratified split of one source (seed {seed})",
            "duplicates_dropped": duplicates,
            "near_duplicates": {"moved_to_train": moved, "near_only_moved": near_only},
        }
    described["near_duplicates"] = {
        "rule": near_duplicates.RULE,
        **described["near_duplicates"],
        **near_duplicates.describe_groups(splits),
    }
    empty = [label for label in task.labels if not any(e.label == label for e in splits["train"])]
    if empty:
        raise UserError(
            f"{task.source}: label(s) {empty} have no training example; every declared label needs "
            f"examples (or leave it out of the declared labels)"
        )
    return (
        {name: [task.record(e) for e in splits[name]] for name in SPLITS},
        {
            "labels": list(task.labels),
            "instruction": task.instruction,
            **described,
            "counts": {name: dict(sorted(Counter(e.label for e in splits[name]).items())) for name in SPLITS},
        },
    )


def domain_splits(task: DomainTask, documents: list, seed: int, ratios) -> tuple[dict[str, list[dict]], dict]:
    """Cleaned, deduplicated documents, whole documents per split (prompts/domain.py)."""
    kept, stats = clean_corpus(documents)
    splits = split_documents(kept, seed, ratios)
    shared = shared_between(splits)
    if shared["documents"] or shared["paragraphs"]:  # cannot happen after dedupe; a regression guard
        raise RuntimeError(
            f"{task.name}: splits share {len(shared['documents'])} document(s) and "
            f"{len(shared['paragraphs'])} paragraph(s)"
        )
    return (
        {name: [{"id": d.id, "text": d.text} for d in docs] for name, docs in splits.items()},
        {
            **stats,
            "split_origin": f"whole documents, a seeded {'/'.join(f'{r * 100:g}' for r in ratios)} split by a hash "
            f"of each document's id (seed {seed})",
            "counts": {
                name: {
                    "documents": len(docs),
                    "lines": sum(d.text.count("\n") + 1 for d in docs),
                    "characters": sum(len(d.text) for d in docs),
                }
                for name, docs in splits.items()
            },
        },
    )


SPLITTERS = {"classification": classification_splits, "domain": domain_splits}


def split_key(task: Task | DomainTask, checksum: str, seed: int, ratios) -> dict:
    """Everything that shapes a task's split: any difference means the files on disk are stale."""
    key = {
        "source_sha256": checksum,
        "options": task.options,
        "seed": seed,
        "ratios": list(ratios),
        "record_format": RECORD_FORMAT[task.kind],
    }
    if task.kind == "classification":
        key.update(labels=list(task.labels), instruction=task.instruction)
    return key


def split_hash(key: dict) -> str:
    """A short name for a split key: runs and benchmark rows record it, so a stale one is never mixed in."""
    return content_hash(key)


def stale_fields(out: Path, key: dict, kind: str) -> list[str] | None:
    """None when the split on disk was built with `key` (and, for classification, today's near-duplicate rule);
    else what differs (every field if nothing is built)."""
    meta_path = out / "meta.json"
    if not meta_path.is_file() or not all((out / f"{s}.jsonl").is_file() for s in SPLITS):
        return list(key)
    meta = json.loads(meta_path.read_text())
    saved = meta.get("split_key") or {}
    changed = [name for name in key if saved.get(name) != key[name]]
    if kind == "classification" and meta.get("near_duplicates", {}).get("rule") != near_duplicates.RULE:
        changed.append("near-duplicate rule")
    return changed or None


def moved_by_near_duplicates(described: dict) -> bool:
    found = described.get("near_duplicates", {})
    return any(found.get("moved_to_train", {}).values()) or any(found.get("dropped", {}).values())


def build_task(
    task: Task | DomainTask,
    out_root: Path | None = None,
    seed: int = DEFAULT_SEED,
    ratios: tuple[float, float, float] | None = None,
    force: bool = False,
) -> dict:
    """Write the task's split files if they are missing or stale; return its meta.json content."""
    out = (out_root or data_dir()) / task.name
    ratios = tuple(ratios or DEFAULT_RATIOS[task.kind])
    loaded, checksum = task.load()
    key = split_key(task, checksum, seed, ratios)
    changed = stale_fields(out, key, task.kind)
    if not force and changed is None:
        meta = json.loads((out / "meta.json").read_text())
        if meta.get("source") == (task.published_source or task.source):
            return meta
        # the same split, described as this version describes it (no absolute path of the user's file)
    elif changed and (out / "meta.json").is_file():
        log.info(f"{task.name}: rebuilding the split ({', '.join(changed)} changed)")
    splits, described = SPLITTERS[task.kind](task, loaded, seed, ratios)
    if moved_by_near_duplicates(described):
        # the rule names the split only where it changed it: a task without cross-split copies keeps its
        # split_hash, and with it its trained runs and benchmark rows
        key["near_duplicates"] = near_duplicates.RULE
    for name in SPLITS:
        atomic_write_jsonl(out / f"{name}.jsonl", splits[name])
    meta = {
        "task": task.name,
        "kind": task.kind,
        "source": task.published_source or task.source,
        "source_sha256": checksum,
        "seed": seed,
        "ratios": list(ratios),
        "split_key": key,
        "split_hash": split_hash(key),
        **described,
        "total": sum(len(records) for records in splits.values()),
    }
    atomic_write_json(out / "meta.json", meta)  # written last: its presence marks a complete build
    return meta


def load_split(task_name: str, split: str, data_root: Path | None = None) -> list[dict]:
    """Records of one split of an already built task (`make data` / prompts.build builds them)."""
    path = (data_root or data_dir()) / task_name / f"{split}.jsonl"
    if not (path.parent / "meta.json").is_file():
        raise UserError(
            f"{path.parent}: task '{task_name}' is not built; run `sftbench data {task_name}` (or `make data`)"
        )
    return read_jsonl(path)


def load_meta(task_name: str, data_root: Path | None = None) -> dict:
    path = (data_root or data_dir()) / task_name / "meta.json"
    if not path.is_file():
        raise UserError(f"{path}: task '{task_name}' is not built; run `make data`")
    return json.loads(path.read_text())


def format_counts(meta: dict) -> str:
    if meta["kind"] == "domain":
        return "\n".join(
            f"  {name.ljust(7)}{c['documents']:>6} documents{c['lines']:>9} lines{c['characters']:>11} characters"
            for name, c in meta["counts"].items()
        )
    labels = meta["labels"]
    width = max(len(label) for label in labels + ["split"])
    lines = ["  " + "split".ljust(7) + "".join(label.rjust(width + 2) for label in labels) + "total".rjust(8)]
    for name in SPLITS:
        counts = meta["counts"][name]
        lines.append(
            "  "
            + name.ljust(7)
            + "".join(str(counts.get(label, 0)).rjust(width + 2) for label in labels)
            + str(sum(counts.values())).rjust(8)
        )
    return "\n".join(lines)


def summary_line(task_name: str, meta: dict, out: Path) -> str:
    if meta["kind"] == "domain":
        dropped = (
            f" ({meta['paragraphs_dropped']} repeated paragraphs and {meta['documents_dropped']} stub "
            f"documents dropped)"
        )
        return f"{task_name}: {meta['total']} documents -> {out}/{{train,val,test}}.jsonl{dropped}"
    notes = [f"{meta['duplicates_dropped']} duplicate texts dropped"] if meta.get("duplicates_dropped") else []
    notes += [
        f"{n} {name} texts also in a held-out split dropped from {name}"
        for name, n in meta.get("overlap_dropped", {}).items()
        if n
    ]
    dropped = f" ({'; '.join(notes)})" if notes else ""
    written = f"{task_name}: {meta['total']} records -> {out}/{{train,val,test}}.jsonl{dropped}"
    return f"{written}\n  split: {meta['split_origin']}\n  {near_duplicates.note(meta['near_duplicates'])}"


FILE_OPTIONS = (
    "label_column",
    "text_column",
    "feature_columns",
    "id_column",
    "labels",
    "question",
    "name",
    "test_file",
    "val_file",
)


def build_tasks(
    names: list[str],
    file_options: dict,
    out: Path | None = None,
    seed: int = DEFAULT_SEED,
    ratios: tuple[float, float, float] | None = None,
    force: bool = False,
) -> None:
    """Build each task's split (`sftbench data`), logging where it went and its counts. `file_options` (the
    task_options of a csv:/jsonl:/hub: task) apply to those tasks only."""
    unknown = set(file_options) - set(FILE_OPTIONS)
    if unknown:
        raise UserError(f"unknown task option(s) {sorted(unknown)}; valid: {', '.join(FILE_OPTIONS)}")
    for name in names:
        task = get_task(name, **(file_options if name.startswith(("csv:", "jsonl:", "hub:")) else {}))
        meta = build_task(task, out, seed=seed, ratios=ratios, force=force)
        log.info(summary_line(task.name, meta, (out or data_dir()) / task.name))
        log.info(format_counts(meta))


if __name__ == "__main__":
    moved_to("sftbench data")
