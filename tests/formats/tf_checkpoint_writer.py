"""A TensorFlow 1.x checkpoint (tensor bundle V2) writer for tests, written from the format's
description (weights_tools/FORMAT.md, "TensorFlow checkpoints and frozen graphs"), independently of
lmtcnn's reader; and frozen GraphDefs (write_frozen_graph):

    PREFIX.index                  a LevelDB-layout table: data blocks of prefix-compressed entries with
                                  restart points, an empty metaindex block, an index block, a 48-byte footer
    PREFIX.data-0000K-of-0000N    the tensors' little-endian bytes, back to back

Keys: "" -> BundleHeaderProto, each variable name -> BundleEntryProto (protocol buffers written by hand).
Options make the damaged and unusual files the tests need (Snappy blocks, small blocks, keys out of order,
sliced entries, a big-endian header).
"""
import os
import struct

import numpy as np


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_varint(num, v):
    return varint(num << 3) + varint(v)


def pb_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def pb_fixed32(num, v):
    return varint((num << 3) | 5) + struct.pack("<I", v)


DT_FLOAT, DT_INT64 = 1, 9


def entry_proto(dtype, dims, shard, offset, size, crc, sliced=False):
    shape = b"".join(pb_bytes(2, pb_varint(1, d)) for d in dims)
    e = pb_varint(1, dtype) + pb_bytes(2, shape)
    if shard:
        e += pb_varint(3, shard)
    if offset:
        e += pb_varint(4, offset)
    e += pb_varint(5, size) + pb_fixed32(6, crc)
    if sliced:  # one TensorSliceProto: extent {start 0 length 1}
        e += pb_bytes(7, pb_bytes(1, pb_varint(1, 0) + pb_varint(2, 1)))
    return e


def header_proto(num_shards, big_endian=False):
    return pb_varint(1, num_shards) + (pb_varint(2, 1) if big_endian else b"") + pb_bytes(3, pb_varint(1, 1))


def snappy(data):
    """Snappy's raw format: runs of 8 or more equal bytes as a literal byte and 2-byte-offset copies of
    offset 1, everything else as literals."""
    out = bytearray(varint(len(data)))
    lit = bytearray()

    def flush():
        i = 0
        while i < len(lit):
            chunk = lit[i:i + 65536]
            n = len(chunk) - 1
            out.extend(bytes([n << 2]) if n < 60 else bytes([61 << 2]) + struct.pack("<H", n))
            out.extend(chunk)
            i += len(chunk)
        lit.clear()

    i = 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 8:
            lit.append(data[i])
            flush()
            left = j - i - 1
            while left:
                n = min(left, 64)
                out.extend(bytes([((n - 1) << 2) | 2]) + struct.pack("<H", 1))
                left -= n
            i = j
        else:
            lit.extend(data[i:j])
            i = j
    flush()
    return bytes(out)


def block(entries, restart_interval=4):
    out = bytearray()
    restarts = []
    prev = b""
    for k, (key, value) in enumerate(entries):
        shared = 0
        if k % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        prev = key
    for r in restarts or [0]:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def write_table(path, kvs, block_bytes=4096, compress=False):
    f = bytearray()

    def put(contents):
        kind = 0
        if compress:
            contents, kind = snappy(contents), 1
        handle = varint(len(f)) + varint(len(contents))
        f.extend(contents + bytes([kind]) + struct.pack("<I", masked(crc32c(contents + bytes([kind])))))
        return handle

    index = []
    pending = []
    size = 0
    for key, value in kvs:
        pending.append((key, value))
        size += len(key) + len(value) + 8
        if size >= block_bytes:
            index.append((pending[-1][0], put(block(pending))))
            pending, size = [], 0
    if pending:
        index.append((pending[-1][0], put(block(pending))))
    meta = put(block([]))
    idx = put(block(index, restart_interval=1))
    footer = meta + idx
    footer += b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    f.extend(footer)
    with open(path, "wb") as out:
        out.write(f)


def write_checkpoint(prefix, variables, shards=1, block_bytes=4096, compress=False, shuffle_keys=False,
                     sliced=(), big_endian=False):
    """variables: {name: array} (float32 arrays as DT_FLOAT, int64 as DT_INT64). Variable k goes to
    shard k % shards. Returns {name: (shard file, offset, size)}."""
    datas = [bytearray() for _ in range(shards)]
    kvs = [(b"", header_proto(shards, big_endian))]
    where = {}
    for k, name in enumerate(sorted(variables)):
        a = np.asarray(variables[name])
        dtype = DT_INT64 if a.dtype == np.int64 else DT_FLOAT
        raw = a.astype("<i8" if dtype == DT_INT64 else "<f4").tobytes()
        s = k % shards
        off = len(datas[s])
        datas[s] += raw
        kvs.append((name.encode(), entry_proto(dtype, a.shape, s, off, len(raw), masked(crc32c(raw)), name in sliced)))
        where[name] = ("%s.data-%05d-of-%05d" % (prefix, s, shards), off, len(raw))
    if shuffle_keys:  # two neighbouring variables swapped
        kvs[1], kvs[2] = kvs[2], kvs[1]
    write_table(prefix + ".index", kvs, block_bytes, compress)
    for s in range(shards):
        with open("%s.data-%05d-of-%05d" % (prefix, s, shards), "wb") as out:
            out.write(datas[s])
    return where


def write_state_file(directory, name):
    """The `checkpoint` text file naming the latest checkpoint of a directory."""
    with open(os.path.join(directory, "checkpoint"), "w") as out:
        out.write('model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' % (name, name))


# ---- frozen GraphDef (.pb): GraphDef.node (1) = NodeDef {name 1, op 2, input 3, attr 5 (map: key 1,
# value 2)}; AttrValue {type 6, tensor 8}; TensorProto {dtype 1, tensor_shape 2, tensor_content 4,
# float_val 5 (packed), int_val 7}.

def _const_node(name, a, how="content"):
    a = np.asarray(a)
    if a.dtype == np.int32:
        dtype, body = 3, pb_bytes(7, b"".join(varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in a.ravel()))
    elif how == "content":
        dtype, body = DT_FLOAT, pb_bytes(4, a.astype("<f4").tobytes())
    elif how == "float_val":  # packed repeated float
        dtype, body = DT_FLOAT, pb_bytes(5, a.astype("<f4").tobytes())
    else:  # "splat": one float_val that fills the shape
        dtype, body = DT_FLOAT, pb_bytes(5, a.astype("<f4").ravel()[:1].tobytes())
    shape = b"".join(pb_bytes(2, pb_varint(1, d)) for d in a.shape)
    tensor = pb_varint(1, dtype) + pb_bytes(2, shape) + body
    attrs = pb_bytes(5, pb_bytes(1, b"dtype") + pb_bytes(2, pb_varint(6, dtype)))
    attrs += pb_bytes(5, pb_bytes(1, b"value") + pb_bytes(2, pb_bytes(8, tensor)))
    return pb_bytes(1, pb_bytes(1, name.encode()) + pb_bytes(2, b"Const") + attrs)


def _op_node(name, op, inputs):
    return pb_bytes(1, pb_bytes(1, name.encode()) + pb_bytes(2, op.encode()) + b"".join(pb_bytes(3, i.encode()) for i in inputs))


def write_frozen_graph(path, consts, how=None):
    """consts: {name: array}; how: {name: "content" | "float_val" | "splat"} (default content). Other
    nodes (a Placeholder, an Identity reading each constant, an int32 shape constant) stand beside them."""
    how = how or {}
    g = _op_node("input", "Placeholder", [])
    for name in sorted(consts):
        g += _const_node(name, consts[name], how.get(name, "content"))
        g += _op_node(name + "/read", "Identity", [name])
    g += _const_node("reshape/shape", np.array([-1, 9216], dtype=np.int32))
    g += pb_bytes(4, pb_varint(1, 26))  # versions { producer: 26 }
    with open(path, "wb") as out:
        out.write(g)
