"""A minimal reader of lmtcnn weight files (.lmt), written from weights_tools/FORMAT.md alone,
so tests can check the C++ writer against the specification."""
import struct

import numpy as np

P1, P2 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F
M64 = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def hash64(data):
    lanes = [P1, P2, ~P1 & M64, ~P2 & M64]
    n = len(data)
    padded = data + b"\0" * ((-n) % 32)
    words = np.frombuffer(padded, dtype="<u8") if padded else np.zeros(0, dtype="<u8")
    for b in range(0, len(words), 4):
        for i in range(4):
            lanes[i] = (_rotl(lanes[i] ^ ((int(words[b + i]) * P2) & M64), 31) * P1) & M64
    h = lanes[0] ^ _rotl(lanes[1], 7) ^ _rotl(lanes[2], 12) ^ _rotl(lanes[3], 18) ^ n
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def read_tensors(path, verify_small_checksums=True):
    """Returns {name: float32 array} after checking magic, version, sizes and (for tensors up to
    64 KiB, as pure Python is slow) checksums."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"LMTCNNWF", "bad magic"
    bom, version, header_bytes, count, file_bytes, table = struct.unpack_from("<IIIIQQ", b, 8)
    assert bom == 0x01020304 and version == 1 and header_bytes == 64 and file_bytes == len(b)
    assert struct.unpack_from("<Q", b, 56)[0] == hash64(b[:56]), "header checksum"
    sections = {}
    for i in range(count):
        kind, _, off, size, _ = struct.unpack_from("<IIQQQ", b, table + 32 * i)
        sections[kind] = (off, size)
    toff, _ = sections[2]
    doff, _ = sections[4]
    pos = toff
    (n,) = struct.unpack_from("<I", b, pos)
    pos += 4
    out = {}
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", b, pos)
        name = b[pos + 4:pos + 4 + ln].decode()
        pos += 4 + ln
        dtype, rank = struct.unpack_from("<II", b, pos)
        pos += 8
        dims = struct.unpack_from("<%dQ" % rank, b, pos)
        pos += 8 * rank
        off, size, checksum = struct.unpack_from("<QQQ", b, pos)
        pos += 24
        assert dtype == 1
        raw = b[doff + off:doff + off + size]
        if verify_small_checksums and size <= 65536:
            assert hash64(raw) == checksum, "checksum of " + name
        out[name] = np.frombuffer(raw, dtype="<f4").reshape(dims)
    return out
