"""Loading word vectors: GloVe text (.txt, .txt.gz, .zip), word2vec binary, the packaged glove.6B.50d, names."""

import gzip
import os
import zipfile

import gensim.downloader
import numpy as np
import pytest
from gensim.models import KeyedVectors

import modeling.embeddings as embeddings
from modeling.embeddings import WordVectors, embedding_matrix, load_word_vectors
from textcls_errors import TextclsError

# words a careless parser turns into missing values, comments or quotes
WORDS = ["the", "null", "nan", "NA", "#", '"', "café", "true"]
VECTORS = np.arange(len(WORDS) * 3, dtype=np.float32).reshape(len(WORDS), 3) / 8 - 1


def glove_lines(header: bool = False, trailing_space: bool = False) -> str:
    lines = [f"{len(WORDS)} 3"] if header else []
    for word, vector in zip(WORDS, VECTORS, strict=True):
        lines.append(f"{word} " + " ".join(f"{value:.6g}" for value in vector) + (" " if trailing_space else ""))
    return "\n".join(lines) + "\n"


def assert_loaded(vectors: WordVectors) -> None:
    assert vectors.words == WORDS
    assert vectors.vectors.dtype == np.float32 and vectors.dim == 3 and len(vectors) == len(WORDS)
    np.testing.assert_allclose(vectors.vectors, VECTORS, rtol=1e-6)
    assert vectors.index["nan"] == 2 and "null" in vectors and "missing" not in vectors
    np.testing.assert_allclose(vectors["#"], VECTORS[4], rtol=1e-6)


def test_glove_text_file(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text(glove_lines(), encoding="utf-8")
    assert_loaded(load_word_vectors(path))


def test_gzipped_word2vec_text_with_header_and_trailing_spaces(tmp_path):
    path = tmp_path / "vectors.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(glove_lines(header=True, trailing_space=True).replace("\n", "\r\n"))
    assert_loaded(load_word_vectors(str(path)))


def test_zip_member_by_name_by_dimension_or_alone(tmp_path):
    archive = tmp_path / "glove.test.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("glove.test.3d.txt", glove_lines())
        handle.writestr("glove.test.30d.txt", "word " + " ".join(["0.5"] * 30) + "\n")
    assert_loaded(load_word_vectors(f"{archive}:glove.test.3d.txt"))
    assert_loaded(load_word_vectors(f"{archive}:3d"))
    assert load_word_vectors(f"{archive}:30").dim == 30
    with pytest.raises(TextclsError, match=r"holds 2 files.*glove\.test\.3d\.txt.*:100d"):
        load_word_vectors(archive)
    with pytest.raises(TextclsError, match="no files matching '7d'"):
        load_word_vectors(f"{archive}:7d")
    single = tmp_path / "single.zip"
    with zipfile.ZipFile(single, "w") as handle:
        handle.writestr("vectors.txt", glove_lines())
    assert_loaded(load_word_vectors(single))


def test_word2vec_binary(tmp_path):
    keyed = KeyedVectors(3)
    keyed.add_vectors(WORDS, VECTORS)
    keyed.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    assert_loaded(load_word_vectors(tmp_path / "vectors.bin"))
    (tmp_path / "broken.bin").write_bytes(b"\x00\x01 not word2vec")
    with pytest.raises(TextclsError, match="not a readable word2vec binary file"):
        load_word_vectors(tmp_path / "broken.bin")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["the 1 2 3", "cat 1 2"], "line 2 has 2 values after the word 'cat', expected 3"),
        (["the 1 2 3", "cat 1 2 3", "dog 1 2 3 4"], "line 3 has 4 values after the word 'dog', expected 3"),
        (["the 1 2 3", "cat 1 two 3"], "line 2: 'two' is not a number"),
        (["the 1 2 3", "cat 1 2 3", "dog nan 2 3"], "line 3: 'nan' is not a finite number"),
        (["the 1 2 3", "cat  1 2 3"], "line 2 has 4 values"),  # a doubled space is an empty field
        (["the"], "line 1: expected 'word v1 v2 ... vD'"),
    ],
)
def test_corrupt_text_files_name_the_line(tmp_path, lines, message):
    path = tmp_path / "corrupt.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TextclsError, match=message):
        load_word_vectors(path)


def test_non_utf8_and_empty_files(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("the 1 2 3\ncaf\xe9 1 2 3\n".encode("latin-1"))
    with pytest.raises(TextclsError, match="line 2 is not UTF-8"):
        load_word_vectors(path)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TextclsError, match="empty"):
        load_word_vectors(tmp_path / "empty.txt")


def test_parsed_vectors_are_cached_next_to_the_file_and_refreshed_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "vectors.txt"
    path.write_text(glove_lines(), encoding="utf-8")
    load_word_vectors(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "vectors.txt",
        "vectors.txt.textcls-cache.npy",
        "vectors.txt.textcls-cache.words",
    ]

    def no_parsing(*args):
        raise AssertionError("parsed again instead of reading the cache")

    with monkeypatch.context() as patch:
        patch.setattr(embeddings, "_read_text_vectors", no_parsing)
        assert_loaded(load_word_vectors(path))

    path.write_text(glove_lines().replace("the ", "then "), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the file system's resolution
    assert load_word_vectors(path).words[0] == "then"


def test_cache_goes_to_cache_dir_when_the_files_folder_refuses_it(tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir()
    path = folder / "vectors.txt"
    path.write_text(glove_lines(), encoding="utf-8")
    (folder / "vectors.txt.textcls-cache.npy").mkdir()  # a folder in the way: the cache cannot be written there
    load_word_vectors(path, cache_dir=tmp_path / "cache")
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and cached[0].startswith("vectors.txt-") and cached[0].endswith(".textcls-cache.npy")
    assert_loaded(load_word_vectors(path, cache_dir=tmp_path / "cache"))


def test_packaged_glove_6b_50d():
    vectors = load_word_vectors("glove.6B.50d")
    assert len(vectors) == 400_000 and vectors.dim == 50 and vectors.vectors.dtype == np.float32
    assert vectors.words[0] == "the"
    np.testing.assert_allclose(vectors["the"][:4], [0.418, 0.24968, -0.41242, 0.1217], rtol=1e-5)

    def cosine(a: str, b: str) -> float:
        u, v = vectors[a], vectors[b]
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    assert cosine("king", "queen") > 0.7 > cosine("king", "banana")
    assert {"null", "nan", "#"} <= set(vectors.index)


def test_missing_files_and_unknown_names_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(gensim.downloader, "BASE_DIR", str(tmp_path / "gensim-data"))
    with pytest.raises(TextclsError, match="word vectors file not found"):
        load_word_vectors(tmp_path / "nowhere.txt")
    with pytest.raises(TextclsError) as error:
        load_word_vectors("glove.6B.100d")
    message = str(error.value)
    assert "HF_HUB_OFFLINE" in message
    assert str(tmp_path / "gensim-data" / "glove-wiki-gigaword-100" / "glove-wiki-gigaword-100.gz") in message
    assert "glove-wiki-gigaword-100.gz" in message and "glove.6B.zip:glove.6B.100d.txt" in message


def test_a_gensim_data_copy_on_disk_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(gensim.downloader, "BASE_DIR", str(tmp_path))
    (tmp_path / "glove-wiki-gigaword-3").mkdir()
    with gzip.open(tmp_path / "glove-wiki-gigaword-3" / "glove-wiki-gigaword-3.gz", "wt", encoding="utf-8") as handle:
        handle.write(glove_lines(header=True))
    assert_loaded(load_word_vectors("glove-wiki-gigaword-3"))


def test_a_failed_download_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(gensim.downloader, "BASE_DIR", str(tmp_path))
    monkeypatch.setattr(embeddings, "hub_is_offline", lambda: False)

    def no_network(name, return_path=False):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(gensim.downloader, "load", no_network)
    with pytest.raises(TextclsError, match="the download failed: Temporary failure"):
        load_word_vectors("glove-twitter-25")


def test_embedding_matrix_rows_follow_the_tokenizer_ids():
    vectors = WordVectors(WORDS, VECTORS)
    vocab = {"[PAD]": 0, "[UNK]": 1, "café": 2, "unseen": 3, "the": 4, "other": 5}
    matrix = embedding_matrix(vocab, vectors, seed=3)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_allclose(matrix[1], VECTORS.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(matrix[2], VECTORS[6])
    np.testing.assert_array_equal(matrix[4], VECTORS[0])
    random_rows = matrix[[3, 5]]
    assert 0 < np.abs(random_rows).max() < VECTORS.std()  # small, and distinct
    assert not np.allclose(random_rows[0], random_rows[1])
    np.testing.assert_array_equal(embedding_matrix(vocab, vectors, seed=3), matrix)
    assert not np.array_equal(embedding_matrix(vocab, vectors, seed=4)[3], matrix[3])
    with pytest.raises(ValueError, match="ids must be 0"):
        embedding_matrix({"[PAD]": 0, "the": 2}, vectors)
