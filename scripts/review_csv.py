"""A product-review CSV to try `sftbench compare` on: 3,708 Amazon review snippets with their mean human
sentiment rating (Hutto & Gilbert 2014, shipped in PyPI's vaderSentiment==3.3.2 sdist, fetched once like the
built-in tasks' data), labelled negative (<= -0.5), positive (>= 0.5) or neutral.

    python scripts/review_csv.py reviews.csv
    sftbench compare csv:reviews.csv task_options.text_column=Text task_options.label_column=Sentiment
"""

import argparse
import csv
import io
from pathlib import Path

from prompts.sources import PackageFile
from sftbench_common.fileio import atomic_write_text

REVIEWS = PackageFile(
    "vaderSentiment==3.3.2",
    "vaderSentiment-3.3.2.tar.gz",
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz!"
    "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
    sdist=True,
)


def sentiment(score: float) -> str:
    return "positive" if score >= 0.5 else "negative" if score <= -0.5 else "neutral"


def review_rows() -> list[dict]:
    rows = []
    for line in REVIEWS.read().decode("utf-8").splitlines():
        snippet_id, score, text = line.split("\t", 2)
        product = snippet_id.split("_")[0]
        rows.append(
            {"Id": snippet_id, "ProductId": product, "Score": score, "Text": text, "Sentiment": sentiment(float(score))}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the CSV to write")
    out = parser.parse_args().out
    rows = review_rows()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, text.getvalue())
    print(f"wrote {out}: {len(rows)} reviews")


if __name__ == "__main__":
    main()
