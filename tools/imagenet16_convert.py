#!/usr/bin/env python3
"""imagenet16_convert.py - converts the official ImageNet16-120 pickles into clnas's records.

Usage:
    tools/imagenet16_convert.py SRC_DIR OUT_DIR     -> OUT_DIR/train.bin (and OUT_DIR/val.bin)
    tools/imagenet16_convert.py --self-test         -> fabricates tiny pickles, converts, checks

SRC_DIR holds the downsampled-ImageNet 16x16 pickles (Chrabaszcz et al. 2017) as used by
NAS-Bench-201 / TE-NAS: train_data_batch_1 .. train_data_batch_10 and val_data. Each is a
pickled dict with 'data' (N x 768 uint8: planes R, G, B of 16x16, row-major) and 'labels'
(1-based class ids, 1..1000). ImageNet16-120 is the subset with labels 1..120 (151,700
training and 6,000 validation images).

Output records (what clnas --dataset imagenet16 reads): one byte label-1 (0..119), then the
768 pixel bytes unchanged. Training batches are written in numeric order 1..10.

Standard library only. The pickles hold numpy arrays; when numpy is importable it is used to
unpickle them, otherwise a small stand-in for numpy's pickle reconstructors is used (it
understands ndarray and dtype pickles of protocols 2..5, including Python 2 ones).
"""
import os
import pickle
import re
import struct
import sys
import tempfile

NUM_CLASSES = 120
IMG_BYTES = 3 * 16 * 16


# ---- numpy-free unpickling --------------------------------------------------------------

class _Dtype:
    """Stand-in for numpy.dtype: keeps the type string ('u1', 'i8', ...) and byte order."""

    def __init__(self, descr="u1", align=False, copy=True):
        self.descr = descr
        self.order = "<" if sys.byteorder == "little" else ">"

    def __setstate__(self, state):
        # (version, byteorder, subdescr, names, fields, elsize, alignment, flags[, ...])
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">"):
            self.order = state[1]

    def struct_format(self):
        kind, size = self.descr[0], int(self.descr[1:] or 1)
        table = {("u", 1): "B", ("i", 1): "b", ("b", 1): "?", ("u", 2): "H", ("i", 2): "h",
                 ("u", 4): "I", ("i", 4): "i", ("u", 8): "Q", ("i", 8): "q",
                 ("f", 4): "f", ("f", 8): "d"}
        if (kind, size) not in table:
            raise ValueError("unsupported numpy dtype %r in pickle" % self.descr)
        return self.order + table[(kind, size)], size


class _Array:
    """Stand-in for numpy.ndarray: shape, dtype and the raw bytes (C order)."""

    def __init__(self, *args):
        self.shape, self.dtype, self.fortran, self.raw = (0,), _Dtype(), False, b""

    def __setstate__(self, state):
        if len(state) == 5:
            _, shape, dtype, fortran, raw = state
        else:
            shape, dtype, fortran, raw = state
        if isinstance(raw, str):  # Python 2 str read with encoding='latin1'
            raw = raw.encode("latin1")
        if isinstance(raw, list):
            raise ValueError("object arrays are not supported")
        self.shape, self.dtype, self.fortran, self.raw = tuple(shape), dtype, bool(fortran), bytes(raw)
        if self.fortran and len(self.shape) > 1:
            raise ValueError("Fortran-ordered arrays are not supported")

    def values(self):
        fmt, size = self.dtype.struct_format()
        if fmt[1:] == "B":
            return list(self.raw)
        return [v for (v,) in struct.iter_unpack(fmt, self.raw)]


def _reconstruct(cls, shape, typecode):
    return _Array()


def _frombuffer(buf, dtype, shape, order):
    a = _Array()
    a.__setstate__((shape, dtype, order == "F", bytes(buf)))
    return a


def _scalar(dtype, raw):
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    fmt, _ = dtype.struct_format()
    return struct.unpack(fmt, raw)[0]


class _NoNumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] == "numpy":
            table = {"_reconstruct": _reconstruct, "ndarray": _Array, "dtype": _Dtype,
                     "scalar": _scalar, "_frombuffer": _frombuffer}
            if name in table:
                return table[name]
            raise pickle.UnpicklingError("unsupported numpy object %s.%s" % (module, name))
        return super().find_class(module, name)


def _load_pickle(path, use_numpy):
    with open(path, "rb") as f:
        if use_numpy:
            return pickle.load(f, encoding="latin1")
        return _NoNumpyUnpickler(f, encoding="latin1").load()


def _rows_and_labels(obj, path):
    """Returns (pixel bytes, row count, labels list) from an unpickled dict."""
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        raise ValueError("%s: not an ImageNet16 pickle (a dict with 'data' and 'labels')" % path)
    data, labels = obj["data"], obj["labels"]
    if isinstance(data, _Array):
        if data.dtype.descr != "u1":
            raise ValueError("%s: 'data' has dtype %s, expected uint8" % (path, data.dtype.descr))
        shape, raw = data.shape, data.raw
    else:  # numpy array
        import numpy as np
        data = np.ascontiguousarray(data)
        if data.dtype != np.uint8:
            raise ValueError("%s: 'data' has dtype %s, expected uint8" % (path, data.dtype))
        shape, raw = data.shape, data.tobytes()
    if len(shape) != 2 or shape[1] != IMG_BYTES:
        raise ValueError("%s: 'data' has shape %s, expected (N, %d)" % (path, shape, IMG_BYTES))
    if isinstance(labels, _Array):
        labels = labels.values()
    labels = [int(v) for v in labels]
    if len(labels) != shape[0]:
        raise ValueError("%s: %d labels for %d images" % (path, len(labels), shape[0]))
    return raw, shape[0], labels


def _have_numpy():
    try:
        import numpy  # noqa: F401
        return True
    except ImportError:
        return False


def convert_files(paths, out_path, use_numpy=None):
    """Writes the records with labels 1..120 of the pickles `paths` to out_path; returns the count."""
    if use_numpy is None:
        use_numpy = _have_numpy()
    kept = 0
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        for p in paths:
            raw, n, labels = _rows_and_labels(_load_pickle(p, use_numpy), p)
            for i, lab in enumerate(labels):
                if lab < 1 or lab > 1000:
                    raise ValueError("%s: image %d has label %d, expected 1..1000" % (p, i, lab))
                if lab <= NUM_CLASSES:
                    out.write(bytes((lab - 1,)))
                    out.write(raw[i * IMG_BYTES:(i + 1) * IMG_BYTES])
                    kept += 1
    os.replace(tmp, out_path)
    return kept


def train_files(src):
    names = [f for f in os.listdir(src) if re.fullmatch(r"train_data_batch_\d+", f)]
    names.sort(key=lambda f: int(f.rsplit("_", 1)[1]))
    return [os.path.join(src, f) for f in names]


def convert(src, dst, use_numpy=None, quiet=False):
    trains = train_files(src)
    if not trains:
        raise FileNotFoundError("%s: no train_data_batch_N pickles (the official ImageNet16 files)" % src)
    os.makedirs(dst, exist_ok=True)
    n = convert_files(trains, os.path.join(dst, "train.bin"), use_numpy)
    if not quiet:
        print("%s: %d images of classes 1..%d from %d batches" %
              (os.path.join(dst, "train.bin"), n, NUM_CLASSES, len(trains)))
    val = os.path.join(src, "val_data")
    if os.path.exists(val):
        m = convert_files([val], os.path.join(dst, "val.bin"), use_numpy)
        if not quiet:
            print("%s: %d images" % (os.path.join(dst, "val.bin"), m))
    return n


# ---- self-test --------------------------------------------------------------------------

def _numpy_like_pickle(rows, labels, py2=False):
    """Protocol-3 (py2: protocol-2, byte strings as Python 2 str) pickle bytes of {'data': uint8 array (N, 768), 'labels': list}, written
    opcode by opcode exactly as numpy pickles an ndarray (so no numpy is needed to make it)."""
    P = pickle

    def glob(mod, name):
        return P.GLOBAL + ("%s\n%s\n" % (mod, name)).encode()

    def binint(v):
        return P.BININT + struct.pack("<i", v)

    def uni(s):
        b = s.encode()
        return P.BINUNICODE + struct.pack("<I", len(b)) + b

    raw = b"".join(rows)
    bytes_op = P.BINSTRING if py2 else P.BINBYTES
    dtype = (glob("numpy", "dtype") + uni("u1") + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE +
             P.MARK + binint(3) + uni("|") + P.NONE + P.NONE + P.NONE + binint(-1) + binint(-1) +
             binint(0) + P.TUPLE + P.BUILD)
    arr = (glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") +
           binint(0) + P.TUPLE1 + bytes_op + struct.pack("<I", 1) + b"b" + P.TUPLE3 + P.REDUCE +
           P.MARK + binint(1) + binint(len(rows)) + binint(IMG_BYTES) + P.TUPLE2 + dtype +
           P.NEWFALSE + bytes_op + struct.pack("<I", len(raw)) + raw + P.TUPLE + P.BUILD)
    labs = P.EMPTY_LIST + P.MARK + b"".join(binint(v) for v in labels) + P.APPENDS
    return (P.PROTO + bytes((2 if py2 else 3,)) + P.EMPTY_DICT + P.MARK + uni("data") + arr + uni("labels") +
            labs + P.SETITEMS + P.STOP)


def self_test():
    def row(seed):
        return bytes((seed * 31 + k * 7) & 255 for k in range(IMG_BYTES))

    # batch 1: labels at the edges of the kept range and beyond; batch 2 sorts after 1 even
    # though "10" < "2" as text; val keeps 1 of 3.
    b1 = [(1, row(1)), (121, row(2)), (120, row(3)), (1000, row(4)), (57, row(5))]
    b2 = [(2, row(6)), (500, row(7))]
    b10 = [(119, row(8))]
    val = [(300, row(9)), (120, row(10)), (999, row(11))]
    ok = True
    with tempfile.TemporaryDirectory(prefix="clnas_in16_") as tmp:
        src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "out")
        os.makedirs(src)
        for name, recs in (("train_data_batch_1", b1), ("train_data_batch_2", b2),
                           ("train_data_batch_10", b10), ("val_data", val)):
            with open(os.path.join(src, name), "wb") as f:
                # batch 2 as a Python 2 pickle (the official files' pixels arrive as latin-1 str)
                f.write(_numpy_like_pickle([r for _, r in recs], [lab for lab, _ in recs],
                                           py2=(name == "train_data_batch_2")))

        def expect(recs):
            return b"".join(bytes((lab - 1,)) + r for lab, r in recs if lab <= NUM_CLASSES)

        want_train, want_val = expect(b1 + b2 + b10), expect(val)
        modes = [False] + ([True] if _have_numpy() else [])
        names = {False: "stand-in reader", True: "numpy reader"}
        for use_numpy in modes:
            n = convert(src, dst, use_numpy=use_numpy, quiet=True)
            got_train = open(os.path.join(dst, "train.bin"), "rb").read()
            got_val = open(os.path.join(dst, "val.bin"), "rb").read()
            tag = names[use_numpy]
            if n != 5 or got_train != want_train or got_val != want_val:
                print("FAIL (%s): train %d bytes (want %d), val %d bytes (want %d), kept %d" %
                      (tag, len(got_train), len(want_train), len(got_val), len(want_val), n))
                ok = False
            if len(got_train) % (1 + IMG_BYTES) or got_train[0] != 0 or got_train[1 + IMG_BYTES] != 119:
                print("FAIL (%s): record layout" % tag)
                ok = False
        if _have_numpy():
            # a pickle written by numpy itself (protocol 2, as the official files) through the
            # numpy-free reader
            import numpy as np
            real = os.path.join(tmp, "real")
            os.makedirs(real)
            d = np.frombuffer(b"".join(r for _, r in b1), dtype=np.uint8).reshape(len(b1), IMG_BYTES)
            with open(os.path.join(real, "train_data_batch_1"), "wb") as f:
                pickle.dump({"data": d, "labels": [lab for lab, _ in b1],
                             "mean": np.zeros(IMG_BYTES)}, f, protocol=2)
            convert(real, dst, use_numpy=False, quiet=True)
            if open(os.path.join(dst, "train.bin"), "rb").read() != expect(b1):
                print("FAIL: numpy-written pickle read without numpy")
                ok = False
            modes.append("numpy-written")
            names["numpy-written"] = "numpy-written pickle via stand-in"
    print("imagenet16_convert self-test: %s (%s)" % ("ok" if ok else "FAILED",
                                                     ", ".join(names[m] for m in modes)))
    return 0 if ok else 1


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 3 or argv[1].startswith("-"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    try:
        convert(argv[1], argv[2])
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        sys.stderr.write("imagenet16_convert: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
