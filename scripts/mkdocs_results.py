"""An MkDocs hook (mkdocs.yml `hooks:`): the committed results' figures and results pages become part of the site,
so a page shows `results/study/tweets/figures/learning_curve.png` as an image and links `results/index.html`,
and the strict build checks those links like any other."""

from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parent.parent
SHOWN = ("*/figures/*.png", "*/*/figures/*.png", "index.html", "*/index.html")


def on_files(files, config):
    for pattern in SHOWN:
        for path in sorted((REPO / "results").glob(pattern)):
            relative = path.relative_to(REPO).as_posix()
            files.append(File(relative, str(REPO), config["site_dir"], config["use_directory_urls"]))
    return files
