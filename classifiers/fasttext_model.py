"""fastText supervised-model inference over Arrow batches, read from the model file itself.

fasttext-predict reads one line per call, character by character, building a string and a hash-table
lookup per n-gram: about 0.22 us a character for `lid.176.ftz`. That cost is the same work again for
every word the model has seen before. Here a batch of lines is split into tokens in Arrow, each distinct
token's input vector (its vocabulary row plus its character n-gram rows, summed) is computed once with
numpy and kept (up to `remembered_tokens`, then the table starts again), and a line's hidden vector is
the sum of its tokens' vectors over their row count, exactly fastText's average of rows. The output
layer (softmax or fastText's Huffman-coded hierarchical softmax) is evaluated for the whole batch at
once.

It implements fastText 0.9's format and prediction rules for the models a language identifier uses
(version 12, `wordNgrams` 1, input matrix dense or product-quantized, output matrix dense, loss `hs` or
`softmax`); anything else is refused at load. Sums run in a different order than fastText's, so
probabilities can differ in the 7th digit; tests/test_fasttext_model.py holds it to fasttext-predict.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAGIC, VERSION = 793712314, 12
EOS = "</s>"
LABEL_PREFIX = "__label__"
SEPARATORS = r"[\t\n\v\f\r\x00]"  # fastText splits words at these and at spaces (not at other whitespace)
HIERARCHICAL_SOFTMAX, SOFTMAX = 1, 3  # fastText's loss_name values
FNV_OFFSET, FNV_PRIME = np.uint32(2166136261), np.uint32(16777619)
OUTPUT_CHUNK = 2048  # lines per output-layer step: its intermediate arrays stay in cache
KSUB = 256  # centroids per product-quantizer subspace (8 bits per code)


class UnsupportedModel(ValueError):
    """The file is not a fastText model this reader implements."""


class _Bytes:
    """Sequential little-endian reads from the model file; a read past its end is `UnsupportedModel`."""

    def __init__(self, path: Path) -> None:
        self.path, self.data, self.offset = path, path.read_bytes(), 0

    def scalars(self, layout: str) -> tuple:
        size = self._take(struct.calcsize("<" + layout))
        return struct.unpack_from("<" + layout, self.data, self.offset - size)

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = self._take(np.dtype(dtype).itemsize * count)
        return np.frombuffer(self.data, dtype, count, self.offset - size)

    def cstring(self) -> str:
        start, end = self.offset, self.data.find(b"\0", self.offset)
        self._take(end + 1 - start if end >= 0 else len(self.data) + 1)  # no terminator: past the end
        try:
            return self.data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            raise UnsupportedModel(f"{self.path}: a dictionary word is not UTF-8") from None

    def _take(self, size: int) -> int:
        if size < 0 or self.offset + size > len(self.data):
            raise UnsupportedModel(f"{self.path}: the file ends early (truncated or not a fastText model)")
        self.offset += size
        return size


def _matrix(data: _Bytes) -> np.ndarray:
    """A dense or product-quantized fastText matrix, decoded to float32 rows."""
    [quantized] = data.scalars("?")
    if not quantized:
        rows, dim = data.scalars("qq")
        return data.array("<f4", rows * dim).reshape(rows, dim).astype(np.float32)
    [has_norms] = data.scalars("?")
    rows, dim = data.scalars("qq")
    [code_size] = data.scalars("i")
    codes = data.array("u1", code_size)
    centroids, subspaces, sub_dim, last_sub_dim = _quantizer(data)
    decoded = np.empty((rows, dim), np.float32)
    codes = codes.reshape(rows, subspaces)
    for subspace in range(subspaces):
        width = last_sub_dim if subspace == subspaces - 1 else sub_dim
        table = centroids[subspace * KSUB * sub_dim :][: KSUB * width].reshape(KSUB, width)
        decoded[:, subspace * sub_dim : subspace * sub_dim + width] = table[codes[:, subspace]]
    if has_norms:
        norm_codes = data.array("u1", rows)
        norm_centroids = _quantizer(data)[0]
        decoded *= norm_centroids[norm_codes][:, None]
    return decoded


def _quantizer(data: _Bytes) -> tuple[np.ndarray, int, int, int]:
    dim, subspaces, sub_dim, last_sub_dim = data.scalars("iiii")
    return data.array("<f4", dim * KSUB), subspaces, sub_dim, last_sub_dim


@dataclass(frozen=True)
class _HuffmanTree:
    """fastText's hierarchical-softmax tree over labels sorted by count: leaves 0..L-1, root 2L-2."""

    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per depth from the root: nodes, parents, branch rows

    @classmethod
    def build(cls, counts: list[int]) -> _HuffmanTree:
        labels = len(counts)
        count = counts + [10**15] * (labels - 1)
        parent, right = [-1] * (2 * labels - 1), [False] * (2 * labels - 1)
        leaf, node = labels - 1, labels
        for inner in range(labels, 2 * labels - 1):
            children = []
            for _ in range(2):
                if leaf >= 0 and count[leaf] < count[node]:
                    children.append(leaf)
                    leaf -= 1
                else:
                    children.append(node)
                    node += 1
            count[inner] = count[children[0]] + count[children[1]]
            parent[children[0]] = parent[children[1]] = inner
            right[children[1]] = True
        depth = [0] * (2 * labels - 1)
        for node in range(2 * labels - 3, -1, -1):  # parents are numbered above their children
            depth[node] = depth[parent[node]] + 1
        levels = []
        for level in range(1, max(depth) + 1):
            nodes = np.array([node for node in range(2 * labels - 2) if depth[node] == level])
            # branch row: the parent's left-branch row (parent - L), or its right-branch row (+ L-1)
            branches = np.array([parent[node] - labels + (labels - 1) * right[node] for node in nodes])
            levels.append((nodes, np.array([parent[node] for node in nodes]), branches))
        return cls(levels)

    def leaf_scores(self, branch_log_probabilities: np.ndarray) -> np.ndarray:
        """Each leaf's path sum, from [left; right] branch log-probabilities of the inner nodes (2(L-1) x N)."""
        labels = branch_log_probabilities.shape[0] // 2 + 1
        scores = np.zeros((2 * labels - 1, branch_log_probabilities.shape[1]), branch_log_probabilities.dtype)
        for nodes, parents, branches in self.levels:  # the root's score is 0
            scores[nodes] = scores[parents] + branch_log_probabilities[branches]
        return scores[:labels]


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray  # index into FastTextModel.labels, per line
    probabilities: np.ndarray  # float64, as fastText reports them (a hair above the model's own)


class FastTextModel:
    """A loaded model; `predict` gives each line's most likely label, as fastText's predict(k=1) does."""

    def __init__(self, path: Path, remembered_tokens: int = 500_000) -> None:
        """`remembered_tokens` bounds the per-token vectors kept across calls (about 250 bytes each)."""
        data = _Bytes(Path(path))
        magic, version = data.scalars("ii")
        if (magic, version) != (MAGIC, VERSION):
            raise UnsupportedModel(f"{path} is not a fastText version-{VERSION} model")
        dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, _model, bucket, minn, maxn, _lr, _t = data.scalars(
            "12id"
        )
        if word_ngrams != 1 or loss not in (HIERARCHICAL_SOFTMAX, SOFTMAX):
            raise UnsupportedModel(f"{path}: wordNgrams={word_ngrams}, loss={loss}; only 1 and hs/softmax are read")
        size, words, _labels = data.scalars("iii")
        _tokens, pruned_size = data.scalars("qq")
        entries = [(data.cstring(), *data.scalars("qb")) for _ in range(size)]
        self.vocabulary = {word: index for index, (word, _, kind) in enumerate(entries) if kind == 0}
        self.labels = [word for word, _, kind in entries if kind == 1]
        self.bucket, self.minn, self.maxn = bucket, minn, maxn
        # bucket -> input row of an n-gram; -1 where pruning dropped the bucket (fastText skips those n-grams)
        self.ngram_rows = np.arange(words, words + bucket, dtype=np.int32)
        if pruned_size >= 0:
            pairs = data.array("<i4", 2 * pruned_size).reshape(-1, 2)
            self.ngram_rows = np.full(bucket, -1, np.int32)
            self.ngram_rows[pairs[:, 0]] = words + pairs[:, 1]
        self.input = _matrix(data)
        [output_quantized] = data.scalars("?")
        if output_quantized:
            raise UnsupportedModel(f"{path}: a quantized output matrix is not read")
        rows, out_dim = data.scalars("qq")
        self.output = data.array("<f4", rows * out_dim).reshape(rows, out_dim)
        if dim != out_dim or self.input.shape[1] != dim or data.offset != len(data.data):
            raise UnsupportedModel(f"{path}: matrix shapes do not match the header")
        label_counts = [count for _, count, kind in entries if kind == 1]
        self._tree = _HuffmanTree.build(label_counts) if loss == HIERARCHICAL_SOFTMAX else None
        self.remembered_tokens = remembered_tokens
        self._forget_tokens()

    def predict(self, lines: pa.Array) -> Predictions:
        """Top label per line (a string array; each line is read as fastText reads one line of input)."""
        split = pc.split_pattern(pc.replace_substring_regex(lines, SEPARATORS, " "), " ")
        tokens = pc.list_flatten(split)
        words = pc.greater(pc.binary_length(tokens), 0)  # runs of separators leave empty strings
        tokens = tokens.filter(words)
        line_of_token = np.asarray(pc.list_parent_indices(split).filter(words))
        tokens, line_of_token = _before_end_of_sentence(tokens, line_of_token, len(lines))
        encoded = pc.dictionary_encode(tokens)
        distinct = encoded.dictionary.to_pylist()
        new = [token for token in distinct if token not in self._token_index]
        if len(self._token_index) + len(new) > self.remembered_tokens:
            self._forget_tokens()
            new = [token for token in distinct if token not in self._token_index]
        self._remember_tokens(new)
        index = np.array([self._token_index[token] for token in distinct], np.int64)[np.asarray(encoded.indices)]
        # a line's rows: its tokens' rows and those of fastText's end-of-sentence word (token 0)
        rows = np.bincount(line_of_token, self._token_rows[index], len(lines)) + self._token_rows[0]
        sums = _sum_by(line_of_token, (token_sums[index] for token_sums in self._token_sums), len(lines))
        hidden = ((sums + self._token_sums[:, [0]]) / rows).astype(np.float32)  # one column per line
        labels, probabilities = [np.zeros(0, np.int64)], [np.zeros(0)]
        for start in range(0, len(lines), OUTPUT_CHUNK):
            label, probability = self._top(hidden[:, start : start + OUTPUT_CHUNK])
            labels.append(label)
            probabilities.append(probability)
        return Predictions(np.concatenate(labels), np.concatenate(probabilities))

    def _top(self, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best label and its probability for each column of hidden vectors."""
        # dimension by dimension, not one matrix product: a BLAS kernel may round a column differently by
        # where it falls in the block, and an answer must not depend on which lines share its batch
        scores = sum(self.output[:, [dimension]] * hidden[dimension] for dimension in range(hidden.shape[0]))
        if self._tree is None:
            scores = np.exp(scores - scores.max(axis=0))
            log_probabilities = np.log(scores / scores.sum(axis=0) + np.float32(1e-5))
        else:  # hierarchical softmax: a label's log-probability sums its path's branches
            right = 1 / (1 + np.exp(-scores[:-1]))
            log_probabilities = self._tree.leaf_scores(np.log(np.vstack([1 - right, right]) + np.float32(1e-5)))
        best = log_probabilities.argmax(axis=0)
        return best, np.exp(log_probabilities[best, np.arange(len(best))].astype(np.float64))

    def _forget_tokens(self) -> None:
        """Start the token table again, holding only the end-of-sentence word (token 0)."""
        self._token_index: dict[str, int] = {}  # token -> column of _token_sums, entry of _token_rows
        self._token_sums = np.zeros((self.input.shape[1], 1024), np.float64)
        self._token_rows = np.zeros(1024, np.int64)
        self._remember_tokens([EOS])

    def _remember_tokens(self, tokens: list[str]) -> None:
        """Input vector sum and row count of each new token: its vocabulary row and n-gram rows."""
        if not tokens:
            return
        ngram_rows, token_of_ngram = self._ngram_rows(tokens)
        known = ngram_rows >= 0
        ngram_rows, token_of_ngram = ngram_rows[known], token_of_ngram[known]
        word_rows = np.array([self.vocabulary.get(token, -1) for token in tokens], np.int64)
        in_vocabulary = np.flatnonzero(word_rows >= 0)
        rows = np.concatenate([ngram_rows, word_rows[in_vocabulary]])
        owner = np.concatenate([token_of_ngram, in_vocabulary])
        is_label = np.array([token.startswith(LABEL_PREFIX) for token in tokens])
        keep = ~is_label[owner]  # label-like tokens are not words to fastText: they add no rows
        sums = _sum_by(owner[keep], self.input[rows[keep]].T.astype(np.float64), len(tokens))
        counts = np.bincount(owner[keep], minlength=len(tokens))
        start, end = len(self._token_index), len(self._token_index) + len(tokens)
        if end > len(self._token_rows):  # grow by doubling, so adding tokens costs amortized O(1) each
            capacity = max(end, 2 * len(self._token_rows))
            self._token_sums = np.pad(self._token_sums, ((0, 0), (0, capacity - len(self._token_rows))))
            self._token_rows = np.pad(self._token_rows, (0, capacity - len(self._token_rows)))
        self._token_sums[:, start:end] = sums
        self._token_rows[start:end] = counts
        self._token_index.update(zip(tokens, range(start, end), strict=True))

    def _ngram_rows(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """fastText's character n-grams of "<token>" (minn..maxn characters, UTF-8 hashed with FNV-1a).

        Returns each n-gram's input row (-1 where pruning dropped its bucket) and the index of its token.
        """
        words = [b"" if token == EOS else f"<{token}>".encode() for token in tokens]  # EOS has no n-grams
        data = np.frombuffer(b"".join(words), np.uint8)
        word_end = np.cumsum(np.fromiter(map(len, words), np.int64, len(words)))
        starts = np.flatnonzero((data & 0xC0) != 0x80)  # first byte of each character
        char_word = np.searchsorted(word_end, starts, side="right")
        char_end = word_end[char_word]
        # character c + k starts at byte after[c + k] and takes size[c + k] bytes; the n characters from c make
        # an n-gram when they all lie in c's word
        after = np.append(starts, len(data))
        size = np.diff(after)
        total = len(starts)
        signed = data.astype(np.int8).astype(np.uint32)  # fastText hashes each byte as a signed char
        hashes = np.full(total, FNV_OFFSET, np.uint32)
        ngram_hashes, present = {}, {}
        with np.errstate(over="ignore"):
            for n in range(1, self.maxn + 1):
                char = np.minimum(np.arange(n - 1, total + n - 1), total - 1)  # the n-th character from c
                first, width = after[char], size[char]
                inside = (np.arange(total) + n <= total) & (first + width <= char_end)
                hashes = np.where(inside, (hashes ^ signed[first]) * FNV_PRIME, hashes)  # a new array for each n
                for byte in range(1, int(width[inside].max(initial=1))):  # the rest of multi-byte characters
                    more = np.flatnonzero(inside & (width > byte))
                    hashes[more] = (hashes[more] ^ signed[first[more] + byte]) * FNV_PRIME
                if n >= self.minn:
                    ngram_hashes[n], present[n] = hashes, np.flatnonzero(inside)
        rows, owner = [], []
        for n, hashed in ngram_hashes.items():
            rows.append(self.ngram_rows[hashed[present[n]] % np.uint32(self.bucket)].astype(np.int64))
            owner.append(char_word[present[n]])
        return np.concatenate(rows), np.concatenate(owner)


def _before_end_of_sentence(tokens: pa.Array, line_of_token: np.ndarray, lines: int) -> tuple[pa.Array, np.ndarray]:
    """fastText stops reading a line at a literal "</s>" word: drop it and the words after it."""
    literal = np.asarray(pc.equal(tokens, EOS))
    if not literal.any():
        return tokens, line_of_token
    position = np.arange(len(line_of_token))
    first = np.full(lines, len(line_of_token))
    np.minimum.at(first, line_of_token[literal], position[literal])
    keep = position < first[line_of_token]
    return tokens.filter(pa.array(keep)), line_of_token[keep]


def _sum_by(groups: np.ndarray, columns: Iterable[np.ndarray], count: int) -> np.ndarray:
    """Per column, its values summed by group (0..count-1): one row per column. Each group is summed in
    order, so a sum never depends on what else is in the batch."""
    return np.stack([np.bincount(groups, column, count) for column in columns])
