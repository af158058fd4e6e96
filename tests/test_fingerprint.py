"""Row fingerprints and the multiset of trained rows."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from sklearn_unlearn._fingerprint import RowMultiset, fingerprint_rows

SEED = 0


def _rows(n=6, d=3):
    rng = np.random.default_rng(SEED)
    return rng.integers(-5, 5, (n, d)), rng.integers(0, 3, n)


def test_fingerprints_are_fixed_length_hex_and_deterministic():
    X, y = _rows()
    keys = fingerprint_rows(X, y)
    assert keys.shape == (len(y),)
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
    assert_array_equal(keys, fingerprint_rows(X.copy(), y.copy()))
    assert len(set(keys)) == len(keys)


def test_fingerprint_of_a_row_does_not_depend_on_its_batch():
    X, y = _rows()
    keys = fingerprint_rows(X, y)
    for i in range(len(y)):
        assert fingerprint_rows(X[i : i + 1], y[i : i + 1])[0] == keys[i]
    assert_array_equal(fingerprint_rows(X[::-1], y[::-1]), keys[::-1])


@pytest.mark.parametrize("x_dtype", [np.int8, np.int64, np.uint16, np.float32, bool])
@pytest.mark.parametrize("y_dtype", [np.int32, np.float64])
def test_int_and_float_inputs_of_the_same_values_agree(x_dtype, y_dtype):
    X, y = _rows()
    if x_dtype is bool or np.dtype(x_dtype).kind == "u":
        X = np.abs(X) % 2 if x_dtype is bool else np.abs(X)
    ref = fingerprint_rows(X.astype(np.float64), y.astype(np.float64))
    assert_array_equal(fingerprint_rows(X.astype(x_dtype), y.astype(y_dtype)), ref)


def test_negative_zero_equals_zero():
    X = np.array([[0.0, 1.0], [-0.0, 1.0]])
    keys = fingerprint_rows(X, np.zeros(2))
    assert keys[0] == keys[1]


def test_different_rows_or_targets_differ():
    X, y = _rows()
    keys = fingerprint_rows(X, y)
    X2 = X.astype(float)
    X2[0, 0] += 1e-12
    assert fingerprint_rows(X2, y)[0] != keys[0]
    assert fingerprint_rows(X, y + 1)[0] != keys[0]
    # the target is not confused with a feature
    Xa = np.array([[1.0, 2.0]])
    assert fingerprint_rows(Xa[:, :1], Xa[:, 1]) != fingerprint_rows(Xa, [0.0])


def test_two_dimensional_y_with_one_column_equals_flat_y():
    X, y = _rows()
    assert_array_equal(fingerprint_rows(X, y[:, None]), fingerprint_rows(X, y))


def test_sparse_rows_equal_dense_rows():
    X, y = _rows()
    assert_array_equal(
        fingerprint_rows(sp.csr_matrix(X.astype(float)), y), fingerprint_rows(X, y)
    )


def test_dataframe_rows_equal_array_rows():
    X, y = _rows()
    df = pd.DataFrame(X.astype(float), columns=["a", "b", "c"])
    assert_array_equal(fingerprint_rows(df, y), fingerprint_rows(X, y))
    assert_array_equal(
        fingerprint_rows(df, pd.Series(y)), fingerprint_rows(df.to_numpy(), y)
    )


def test_dataframe_int_and_float_columns_agree():
    X, y = _rows()
    df_int = pd.DataFrame(X, columns=["a", "b", "c"])
    assert_array_equal(
        fingerprint_rows(df_int, y), fingerprint_rows(df_int.astype(float), y)
    )


def test_dataframe_index_does_not_matter():
    X, y = _rows()
    df = pd.DataFrame(X.astype(float))
    shuffled = df.set_axis(np.arange(100, 100 + len(df)))
    assert_array_equal(fingerprint_rows(shuffled, y), fingerprint_rows(df, y))
    # a row taken out on its own keeps its fingerprint
    assert fingerprint_rows(df.iloc[[3]], y[3:4])[0] == fingerprint_rows(df, y)[3]


def test_string_targets_and_object_rows():
    X = np.array([["a", "b"], ["a", "c"], ["a", "b"]], dtype=object)
    y = np.array(["yes", "no", "yes"])
    keys = fingerprint_rows(X, y)
    assert keys[0] == keys[2] != keys[1]
    assert fingerprint_rows(X, np.array(["no", "no", "yes"]))[0] != keys[0]


# -------------------------------------------------------------- multiset
_NAMES = "abcdz"
_HEX = dict(
    zip(_NAMES, fingerprint_rows(np.arange(5.0)[:, None], np.zeros(5)), strict=True)
)


def K(names):
    """Fingerprints of named rows (a list of hex strings)."""
    return [_HEX[c] for c in names]


def C(**counts):
    """The counter() expected for named rows."""
    return {_HEX[c]: n for c, n in counts.items()}


def _multiset():
    ms = RowMultiset()
    ms.add(K("abaca"), [1.0, 2.0, 3.0, 1.0, 1.0])
    return ms


def test_copies_are_counted():
    ms = _multiset()
    assert len(ms) == 5
    assert ms.counter() == C(a=3, b=1, c=1)


def test_missing_reports_positions_asked_too_often():
    ms = _multiset()
    assert_array_equal(ms.missing(K("aaa")), [])
    assert_array_equal(ms.missing(K("aaaa")), [3])
    assert_array_equal(ms.missing(K("zbbc")), [0, 2])
    assert ms.missing(np.zeros((0, 2), dtype=np.uint64)).dtype.kind == "i"


def test_missing_with_weights_needs_a_copy_of_that_weight():
    ms = _multiset()
    assert_array_equal(ms.missing(K("aa"), [1.0, 3.0]), [])
    assert_array_equal(ms.missing(K("aa"), [3.0, 3.0]), [1])
    assert_array_equal(ms.missing(K("b"), [1.0]), [0])
    assert_array_equal(ms.missing(K("aaa"), [1.0, 1.0, 3.0]), [])


def test_remove_is_atomic():
    ms = _multiset()
    with pytest.raises(KeyError) as info:
        ms.remove(K("abb"))
    assert_array_equal(info.value.args[0], [2])
    assert len(ms) == 5
    assert ms.counter() == C(a=3, b=1, c=1)
    with pytest.raises(KeyError):
        ms.remove(K("ca"), [1.0, 2.0])
    assert ms.counter() == C(a=3, b=1, c=1)


def test_remove_with_weights_takes_that_copy():
    ms = _multiset()
    out = ms.remove(K("ab"), [3.0, 2.0])
    assert_array_equal(out, [3.0, 2.0])
    assert ms.counter() == C(a=2, c=1)
    assert _HEX["b"] not in ms.counter()
    # the weight-3 copy is gone
    assert_array_equal(ms.missing(K("a"), [3.0]), [0])
    assert_array_equal(ms.missing(K("aa"), [1.0, 1.0]), [])


def test_remove_without_weights_and_peek_agree():
    ms = _multiset()
    peek = ms.peek_weights(K("aac"))
    assert len(ms) == 5  # peeking removes nothing
    out = ms.remove(K("aac"))
    assert_array_equal(out, peek)
    assert_array_equal(np.sort(out), [1.0, 1.0, 3.0])  # the two latest copies of a
    assert ms.counter() == C(a=1, b=1)


def test_copy_is_independent():
    ms = _multiset()
    other = ms.copy()
    other.remove(K("a"))
    other.add(K("d"), [1.0])
    assert ms.counter() == C(a=3, b=1, c=1)
    assert other.counter() == C(a=2, b=1, c=1, d=1)


def test_add_requires_one_weight_per_key():
    ms = RowMultiset()
    with pytest.raises(ValueError):
        ms.add(K("ab"), [1.0])


def test_sparse_rows_hash_like_dense_rows_even_in_chunks():
    import scipy.sparse as sp

    from sklearn_unlearn import _fingerprint

    X = sp.random(_fingerprint._SPARSE_CHUNK + 7, 6, density=0.3, random_state=0)
    X = X.tocsr()
    y = np.arange(X.shape[0]) % 3
    np.testing.assert_array_equal(
        fingerprint_rows(X, y), fingerprint_rows(X.toarray(), y)
    )


def _words(*pairs):
    return np.array(pairs, dtype=np.uint64)


def test_fingerprints_sharing_their_first_word_stay_distinct():
    ms = RowMultiset()
    ms.add(_words((5, 2), (3, 9), (5, 1), (5, 2)), np.ones(4))
    assert len(ms) == 4
    assert_array_equal(ms.missing(_words((5, 1), (5, 2), (5, 2))), [])
    assert_array_equal(ms.missing(_words((5, 3), (5, 1), (5, 1))), [0, 2])
    ms.remove(_words((5, 2), (5, 1)))
    assert_array_equal(ms.missing(_words((5, 1))), [0])
    assert_array_equal(ms.missing(_words((5, 2), (3, 9))), [])
    ms.add(_words((5, 1), (4, 0)), np.ones(2))
    assert_array_equal(ms.keys(), _words((3, 9), (4, 0), (5, 1), (5, 2)))


def test_a_remembered_lookup_is_dropped_when_the_multiset_changes():
    ms = RowMultiset()
    keys = _words((1, 1), (2, 2))
    ms.add(keys, np.ones(2))
    assert_array_equal(ms.missing(keys), [])
    ms.remove(keys[:1])
    assert_array_equal(ms.missing(keys), [0])  # the same array object, asked again


def test_emptied_fingerprints_are_dropped_before_pickling():
    import pickle

    ms = RowMultiset()
    ms.add(_words(*[(i, i) for i in range(10)]), np.ones(10))
    ms.remove(_words((3, 3), (7, 7)))
    clone = pickle.loads(pickle.dumps(ms))
    assert len(clone._hi) == 8 and np.all(clone._count > 0)
    assert_array_equal(clone.missing(_words((3, 3), (4, 4))), [0])


def test_many_weighted_copies_keep_their_weights():
    ms = RowMultiset()
    keys = _words(*[(i % 50, 0) for i in range(200)])
    w = np.arange(200, dtype=float) + 1.0
    ms.add(keys, w)
    out = ms.remove(keys[[0, 50]])  # two copies of fingerprint (0, 0): the latest first
    assert_array_equal(out, [151.0, 101.0])
    assert len(ms) == 198


# ------------------------------------------------------- keyed fingerprints
KEY = b"0123456789abcdef0123456789abcdef"


def _keyed_words(X, y, key=KEY):
    from sklearn_unlearn._fingerprint import fingerprint_array

    return fingerprint_array(X, y, key)


def test_keyed_fingerprints_are_deterministic_and_depend_on_the_key():
    X, y = _rows()
    keys = _keyed_words(X, y)
    assert keys.shape == (len(y), 2) and keys.dtype == np.uint64
    assert_array_equal(keys, _keyed_words(X.copy(), y.copy()))
    other = _keyed_words(X, y, b"another key of 16+ bytes")
    assert not np.any(np.all(keys == other, axis=1))
    assert not np.any(np.all(keys == _keyed_words(X, y, key=None), axis=1))
    for i in range(len(y)):  # a row's fingerprint does not depend on its batch
        assert_array_equal(_keyed_words(X[i : i + 1], y[i : i + 1])[0], keys[i])


def test_keyed_fingerprints_of_many_random_rows_are_distinct():
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 4, (200_000, 3)).astype(float)  # small domain: near rows
    X[:, 0] = np.arange(len(X))
    keys = _keyed_words(X, np.zeros(len(X)))
    assert len(np.unique(keys, axis=0)) == len(X)
    # each half on its own is already distinct
    assert len(np.unique(keys[:, 0])) == len(np.unique(keys[:, 1])) == len(X)


def test_keyed_numeric_semantics_are_kept():
    X, y = _rows()
    ref = _keyed_words(X.astype(float), y.astype(float))
    assert_array_equal(_keyed_words(X.astype(np.int16), y), ref)
    assert_array_equal(_keyed_words(X.astype(np.float32), y.astype(np.int8)), ref)
    assert_array_equal(_keyed_words(np.asfortranarray(X.astype(float)), y), ref)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    assert_array_equal(_keyed_words(df, y), ref)
    assert_array_equal(_keyed_words(df.astype(float), pd.Series(y)), ref)
    assert_array_equal(_keyed_words(sp.csr_matrix(X.astype(float)), y), ref)
    Z = np.array([[0.0, -0.0, 1.0], [-0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    zk = _keyed_words(Z, np.array([-0.0, 0.0, 0.0]))
    assert (zk == zk[0]).all()
    # a denormal negative number is not -0.0
    tiny = np.array([[np.copysign(5e-324, -1.0), 1.0]])
    assert not np.array_equal(_keyed_words(tiny, [0]), zk[:1])


def test_keyed_rows_of_other_widths_or_targets_differ():
    zeros = [_keyed_words(np.zeros((1, d)), [0.0])[0] for d in range(4)]
    assert len({tuple(k) for k in zeros}) == 4
    X, y = _rows()
    keys = _keyed_words(X, y)
    assert not np.any(np.all(_keyed_words(X, y + 1) == keys, axis=1))
    X2 = X.astype(float)
    X2[0, 0] += 1e-12
    assert not np.array_equal(_keyed_words(X2, y)[0], keys[0])


def test_keyed_wide_rows_and_sparse_chunks_agree():
    from sklearn_unlearn import _fingerprint

    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((7, 700))  # several 256-word segments
    y = np.arange(7)
    keys = _keyed_words(X, y)
    for i in range(7):
        assert_array_equal(_keyed_words(X[i : i + 1], y[i : i + 1])[0], keys[i])
    S = sp.random(_fingerprint._SPARSE_CHUNK + 7, 6, density=0.3, random_state=0)
    S = S.tocsr()
    ys = np.arange(S.shape[0]) % 3
    assert_array_equal(_keyed_words(S, ys), _keyed_words(S.toarray(), ys))


def test_keyed_memmap_chunks_equal_in_memory(tmp_path, monkeypatch):
    from sklearn_unlearn.utils import _out_of_core

    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((500, 4)).astype(np.float32)
    y = rng.integers(0, 3, 500)
    path = tmp_path / "X.dat"
    M = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    M[:] = X
    M.flush()
    M = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    monkeypatch.setattr(_out_of_core, "DEFAULT_CHUNK_BYTES", 40 * 4 * 8)
    assert_array_equal(_keyed_words(M, y), _keyed_words(X, y))


def _reference_hash(row, K):
    """The universal hash of one row, in pure Python integers."""
    raw = np.asarray(row, dtype=np.float64).tobytes()
    words = [
        int.from_bytes(raw[4 * i : 4 * i + 4], "little") for i in range(len(raw) // 4)
    ]
    return [
        sum(int(K[i][c]) * m for i, m in enumerate(words)) % 2**64
        for c in range(len(K[0]))
    ]


def test_the_universal_hash_matches_a_plain_python_reference(monkeypatch):
    from sklearn_unlearn import _fingerprint

    seen = []
    monkeypatch.setattr(_fingerprint, "_prf", lambda words, keys: seen.append(words))
    rng = np.random.default_rng(SEED)
    for d in (1, 5, 300):  # 300 columns: three segments of 256 words
        X = rng.standard_normal((3, d)) * 10.0 ** rng.integers(-300, 300, (3, d))
        X[0, 0] = -0.0
        y = np.array([1.0, -2.5, 3e200])
        _fingerprint.fingerprint_array(X, y, KEY)
        K = _fingerprint._row_keys(KEY, d + 1)[0]
        assert K.shape == (2 * (d + 1), 5) and K.max() < 2**13
        for i in range(3):
            row = np.r_[X[i], y[i]] + 0.0
            assert seen[-1][i].tolist() == _reference_hash(row, K.tolist())


@pytest.mark.parametrize("width", [1, 7, 50, 130])  # 130 columns: two segments
def test_keyed_fingerprint_of_one_row_equals_the_batch_value(width):
    from sklearn_unlearn._fingerprint import fingerprint_array, keyed_row_fingerprint

    rng = np.random.default_rng(SEED)
    key = bytes(range(20))
    X = rng.normal(size=(6, width))
    X[1] = np.round(X[1])  # whole numbers: many zero bytes at the end
    X[2] = 0.0
    X[3, 0] = -0.0
    y = np.array([0, 1, 2, 1, 0, 1])
    batch = fingerprint_array(X, y, key)
    for i in range(len(y)):
        one = keyed_row_fingerprint(np.append(X[i], float(y[i])), key)
        assert_array_equal(one, batch[i : i + 1])
        assert_array_equal(fingerprint_array(X[i : i + 1], y[i : i + 1], key), one)


def test_small_batches_hash_as_the_blocked_loop_does(monkeypatch):
    """Up to a few rows skip the blocked loop: the values must not change."""
    from sklearn_unlearn import _fingerprint

    rng = np.random.default_rng(SEED)
    key = bytes(range(16))
    X = np.asfortranarray(rng.integers(-3, 3, (5, 9)).astype(np.float64))
    y = rng.integers(0, 2, 5)
    small = _fingerprint.fingerprint_array(X, y, key)
    monkeypatch.setattr(_fingerprint, "_FEW", 0)
    assert_array_equal(_fingerprint.fingerprint_array(X, y, key), small)


def test_siphash_equals_pandas_public_hash():
    from sklearn_unlearn._fingerprint import _siphash

    rng = np.random.default_rng(SEED)
    words = rng.integers(0, 2**63, size=(20, 5), dtype=np.uint64)
    obj = np.ascontiguousarray(words, dtype="<u8").view("S40").ravel().astype(object)
    for n in (1, 3, 20):  # Python integers below 9 values, NumPy above
        assert_array_equal(
            _siphash(obj[:n], "0123456789abcdef"),
            pd.util.hash_array(
                obj[:n],
                encoding="latin-1",
                hash_key="0123456789abcdef",
                categorize=False,
            ),
        )


def test_request_with_repeated_rows_counts_each_copy():
    """Distinct positions take fancy indexing; repeats take ``ufunc.at``."""
    from sklearn_unlearn._fingerprint import fingerprint_array

    X, y = _rows(n=5)
    keys = fingerprint_array(X, y)
    ms = RowMultiset()
    ms.add(keys[[0, 0, 1, 2, 3, 4]], np.ones(6))
    assert len(ms.missing(keys[[0, 0, 1]])) == 0
    assert ms.missing(keys[[1, 1]]).tolist() == [1]
    ms.remove(keys[[0, 0, 1]])
    assert ms.count(keys).tolist() == [0, 0, 1, 1, 1]
    ms.remove(keys[[2]])
    assert ms.count(keys[[2]]).tolist() == [0] and len(ms) == 2


def test_a_mixed_row_with_missing_values_hashes_alike_alone_and_in_a_batch():
    """pandas hashes missing values differently with ``categorize``: a row's
    fingerprint must not depend on the size of the request it comes in."""
    from sklearn_unlearn._fingerprint import fingerprint_array

    frame = pd.DataFrame(
        {
            "age": [25.0, np.nan, 40.0, 25.0] * 30,
            "city": ["a", None, "b", "a"] * 30,
            "kind": pd.Series(["x", "y", pd.NA, "x"] * 30, dtype="string"),
            "n": pd.array([1, None, 3, 1] * 30, dtype="Int64"),
            "cat": pd.Categorical(["u", "v", "u", "u"] * 30),
        }
    )
    y = np.array([0, 1, 0, 0] * 30)
    key = bytes(range(16))
    batch = fingerprint_array(frame, y, key)
    for i in range(4):
        assert_array_equal(fingerprint_array(frame.iloc[[i]], y[[i]], key), batch[[i]])
    assert_array_equal(batch[0], batch[3])  # equal rows, equal fingerprints


def test_numeric_frames_hash_their_values_as_float64_whatever_the_dtype():
    """Nullable, boolean, unsigned and float columns, NaN and NA, -0.0."""
    from sklearn_unlearn._fingerprint import fingerprint_array

    rng = np.random.default_rng(SEED)
    n = 30
    frame = pd.DataFrame(
        {
            "i": pd.array(
                np.where(rng.random(n) < 0.3, None, rng.integers(0, 9, n)),
                dtype="Int64",
            ),
            "b": pd.array(
                np.where(rng.random(n) < 0.3, None, rng.random(n) < 0.5),
                dtype="boolean",
            ),
            "u": rng.integers(0, 9, n).astype(np.uint8),
            "f": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
            "z": np.r_[-0.0, np.zeros(n - 1)],
        }
    )
    y = rng.integers(0, 2, n)
    key = bytes(range(16))
    as_float = frame.astype("float64")  # NA -> NaN, True -> 1.0
    assert_array_equal(
        fingerprint_array(frame, y, key), fingerprint_array(as_float, y, key)
    )
    assert_array_equal(
        fingerprint_array(frame, y, key)[:1],
        fingerprint_array(frame.iloc[[0]], y[:1], key),
    )
    with_text = frame.assign(s="x")  # a text column: pandas' value hash
    batch = fingerprint_array(with_text, y, key)
    for i in (0, 7):
        assert_array_equal(
            fingerprint_array(with_text.iloc[[i]], y[[i]], key), batch[[i]]
        )
