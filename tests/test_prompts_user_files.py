"""User files and bad input: each mistake gets one clear error naming file, line and field, exit code 2."""

import json

import pytest

from prompts.build import build_task
from prompts.tasks import get_task
from sftbench_common.errors import UserError
from tests.helpers import run_sftbench


def write(path, text, mode="w"):
    path.write_text(text) if mode == "w" else path.write_bytes(text)
    return path


def csv_rows(n_per_label=4, labels=("good", "bad")):
    lines = ["id,review,stars,label"]
    for label in labels:
        for i in range(n_per_label):
            lines.append(f"{label}{i},A {label} film number {i},{i},{label}")
    return "\n".join(lines) + "\n"


def test_user_csv_with_text_column(tmp_path):
    path = write(tmp_path / "reviews.csv", csv_rows())
    task = get_task(f"csv:{path}", text_column="review", id_column="id")
    assert task.labels == ("bad", "good")
    meta = build_task(task)
    assert meta["total"] == 8 and all(sum(c.values()) for c in meta["counts"].values())


def test_user_jsonl_with_feature_columns(tmp_path):
    rows = [{"colour": c, "size": s, "y": "yes" if c == "red" else "no"} for c in ("red", "blue") for s in range(4)]
    path = write(tmp_path / "things.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    task = get_task(f"jsonl:{path}", feature_columns=["colour", "size"], label_column="y")
    examples, _ = task.load()
    assert examples[0].text == "Colour: red. Size: 0."


@pytest.mark.parametrize(
    "content,options,message",
    [
        (
            csv_rows(),
            {"text_column": "review", "label_column": "sentiment"},
            r"reviews.csv:2: field 'sentiment': missing",
        ),
        (csv_rows(), {"text_column": "body"}, r"reviews.csv:2: field 'body': missing"),
        ("id,review,label\n1,fine,\n", {"text_column": "review"}, r"reviews.csv:2: field 'label': empty label"),
        (
            csv_rows(),
            {"text_column": "review", "labels": ["good", "meh"]},
            r"reviews.csv:6: field 'label': label 'bad' is not one of",
        ),
        (
            "id,review,label\n1,a,x\n1,b,y\n",
            {"text_column": "review", "id_column": "id"},
            r"reviews.csv:3: field 'id': duplicate id '1' \(first on line 2\)",
        ),
        ("", {"text_column": "review"}, r"reviews.csv:1: empty CSV file"),
        ("id,review,label\n1,a,x,extra\n", {"text_column": "review"}, r"reviews.csv:2: more values than the header"),
    ],
)
def test_bad_csv(tmp_path, content, options, message):
    path = write(tmp_path / "reviews.csv", content)
    with pytest.raises(UserError, match=message):
        get_task(f"csv:{path}", **options).load()


def test_broken_jsonl_line_names_the_line(tmp_path):
    path = write(tmp_path / "data.jsonl", '{"text": "ok", "label": "a"}\n{"text": "broken", "label": \n')
    with pytest.raises(UserError, match=r"data.jsonl:2: broken JSON line"):
        get_task(f"jsonl:{path}", text_column="text").load()


def test_jsonl_text_may_hold_unicode_line_separators(tmp_path):
    rows = [{"text": f"line\u2028separator\x85next {i}", "label": "ab"[i % 2]} for i in range(8)]
    path = write(tmp_path / "odd.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    examples, _ = get_task(f"jsonl:{path}", text_column="text").load()
    assert [e.text for e in examples] == [r["text"] for r in rows]


def test_non_utf8_file(tmp_path):
    path = write(tmp_path / "latin.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), mode="b")
    with pytest.raises(UserError, match=r"latin.csv:2: not valid UTF-8"):
        get_task(f"csv:{path}", text_column="text").load()


def test_class_too_small_for_a_split(tmp_path):
    path = write(tmp_path / "tiny.csv", "text,label\na,x\nb,x\nc,x\nd,y\n")
    with pytest.raises(UserError, match=r"label 'y' has 1 example"):
        build_task(get_task(f"csv:{path}", text_column="text"))


def test_unknown_task_suggests_a_name():
    with pytest.raises(UserError, match=r"unknown task 'mushrom'; did you mean 'mushroom'\?"):
        get_task("mushrom")


def test_cli_bad_input_exits_2_without_traceback(tmp_path):
    path = write(tmp_path / "reviews.csv", csv_rows())
    done = run_sftbench("data", f"csv:{path}", "task_options.text_column=review", "task_options.label_column=y")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}:2: field 'y': missing (present: id, label, review, stars)"
    assert "Traceback" not in done.stderr


def test_cli_prints_where_and_counts(tmp_path):
    done = run_sftbench("data", "mushroom", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"mushroom: 8124 records -> {tmp_path}/mushroom/" in done.stdout
    assert "train         3366       3132    6498" in done.stdout
    done = run_sftbench("data", "nope")
    assert done.returncode == 2 and done.stderr.startswith("error: unknown task 'nope'")


def test_your_own_test_and_val_files_are_kept(tmp_path, capsys):
    train = write(tmp_path / "train.csv", csv_rows(10) + "dup,A good film number 0,0,good\n")
    test = write(
        tmp_path / "test.csv",
        "review,label\n" + "".join(f"A {l} film number {i},{l}\n" for l in ("good", "bad") for i in range(3)),
    )
    val = write(tmp_path / "val.csv", "review,label\nA fine val film,good\nA dull val film,bad\n")
    task = get_task(f"csv:{train}", text_column="review", test_file=str(test), val_file=str(val))
    meta = build_task(task)
    assert {s: sum(c.values()) for s, c in meta["counts"].items()} == {"train": 14, "val": 2, "test": 6}
    # 6 train texts are also in the test file (good and bad 0-2): dropped from train and counted, as is the repeat
    assert meta["overlap_dropped"] == {"train": 6, "val": 0} and meta["duplicates_dropped"] == 1
    # the split's description is published (tables, model cards): the file's name, not its absolute path
    assert meta["split_origin"].startswith(
        f"your test file {test.name} (6 records); validation: its own validation split"
    )
    assert str(tmp_path) not in json.dumps(meta["split_origin"]) + meta["source"]
    assert (
        run_sftbench(
            "data",
            f"csv:{train}",
            "task_options.text_column=review",
            f"task_options.test_file={test}",
            f"task_options.val_file={val}",
        ).stdout.count("also in a held-out split dropped from train")
        == 1
    )
    with pytest.raises(UserError, match="val_file needs a test_file"):
        get_task(f"csv:{train}", text_column="review", val_file=str(val))
    with pytest.raises(UserError, match="nothere.csv: no such file"):
        get_task(f"csv:{train}", text_column="review", test_file=str(tmp_path / "nothere.csv"))
    bad = write(tmp_path / "bad_test.csv", "review,label\nA film,great\n")
    with pytest.raises(UserError, match=r"have no training example"):
        build_task(get_task(f"csv:{train}", text_column="review", test_file=str(bad)))


def test_a_changed_option_rebuilds_the_split_and_says_why(tmp_path, capsys):
    """The issue's case: a split built with two feature columns is not reused for all of them, nor its question."""
    rows = [{"a": str(i % 3), "b": str(i % 5), "c": str(i), "y": "yes" if i % 2 else "no"} for i in range(60)]
    path = write(tmp_path / "table.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    narrow = build_task(get_task(f"jsonl:{path}", feature_columns="a,b", label_column="y"))
    assert narrow["duplicates_dropped"] > 0
    wide = build_task(get_task(f"jsonl:{path}", feature_columns="a,b,c", label_column="y", question="Yes or no?"))
    assert "rebuilding the split (options, instruction changed)" in capsys.readouterr().out
    assert wide["duplicates_dropped"] == 0 and wide["total"] == 60 and wide["instruction"].startswith("Yes or no?")
    assert (
        build_task(get_task(f"jsonl:{path}", feature_columns="a,b,c", label_column="y", question="Yes or no?")) == wide
    )  # unchanged: not rebuilt
    assert "rebuilding" not in capsys.readouterr().out


def test_a_field_longer_than_the_csv_modules_limit_is_read(tmp_path):
    """A 340 KB review (the csv module's default field limit is 128 KB) builds like any other."""
    long_review = "A very long review. " * 17_000  # 340,000 characters
    rows = csv_rows().splitlines()
    rows[1] = f'good0,"{long_review}",0,good'
    path = write(tmp_path / "long.csv", "\n".join(rows) + "\n")
    meta = build_task(get_task(f"csv:{path}", text_column="review", id_column="id"))
    assert meta["total"] == 8
    examples, _ = get_task(f"csv:{path}", text_column="review", id_column="id").load()
    assert max(len(e.text) for e in examples) == len(long_review.strip())


def test_ambiguous_files_get_one_clear_error(tmp_path):
    cases = {
        "dupcol.csv": (
            "text,text,label\na,b,x\n",
            "csv",
            "dupcol.csv:1: the header names column(s) 'text' more than once",
        ),
        "listlabel.jsonl": (
            '{"text": "fine", "label": "pos"}\n{"text": "ok", "label": ["pos"]}\n',
            "jsonl",
            "listlabel.jsonl:2: field 'label': a label must be a string, number or boolean; got list [\"pos\"]",
        ),
        "mixed.csv": (
            "text;label\na|b;c\nd;e;f|g|h\n",
            "csv",
            "mixed.csv:1: the header has one column ('text;label') and no delimiter could be detected (tried comma",
        ),
    }
    for name, (text, kind, expected) in cases.items():
        path = write(tmp_path / name, text)
        with pytest.raises(UserError) as error:
            build_task(get_task(f"{kind}:{path}", text_column="text"))
        assert str(error.value).startswith(f"{tmp_path}/{expected}"), str(error.value)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(UserError, match=r"a-folder: is a directory; give one CSV or JSONL file"):
        get_task(f"csv:{folder}", text_column="text")


def test_the_delimiter_is_detected(tmp_path):
    for name, delimiter in (("semi.csv", ";"), ("tabs.tsv", "\t")):
        rows = csv_rows().replace(",", delimiter)
        path = write(tmp_path / name, rows)
        task = get_task(f"csv:{path}", text_column="review", id_column="id")
        examples, _ = task.load()
        assert task.labels == ("bad", "good") and examples[0].text == "A good film number 0", name
    # a comma in the header keeps the comma, even where a text holds semicolons
    path = write(tmp_path / "commas.csv", "text,label\nfirst; second,a\nthird; fourth,b\n")
    examples, _ = get_task(f"csv:{path}", text_column="text").load()
    assert [e.text for e in examples] == ["first; second", "third; fourth"]
