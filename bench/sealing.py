"""The product's sealing of personal fields, for seeding rows the gateway then reads (stdlib only).

crates/kernel/src/crypto.rs seals every personal field with AES-256-GCM under the tenant's
data key, bound by its associated data to the tenant, table, column and row; the data key is
stored in the key store database wrapped (AES-256-GCM) by the key-encryption key HUB_KEK with
the context "dxh-key|<tenant>|data|<version>". The standard library has no AES, so this is a
plain AES-256 (FIPS-197) and GCM (SP 800-38D) for the benchmark's seeding only: about a
millisecond a field, checked against the standard's test vectors (`self_test`) and, where it
matters, by the gateway itself, which opens every seeded value when finance lists or exports
it (a wrong seal would fail authentication there). Nothing here is used by the product.
"""

from __future__ import annotations

import os
import struct
import uuid


def _tables():
    sbox = [0] * 256
    p = q = 1
    while True:
        p = (p ^ (p << 1) ^ (0x1B if p & 0x80 else 0)) & 0xFF
        q ^= (q << 1) & 0xFF
        q ^= (q << 2) & 0xFF
        q ^= (q << 4) & 0xFF
        if q & 0x80:
            q ^= 0x09
        rot = lambda x, s: ((x << s) | (x >> (8 - s))) & 0xFF
        sbox[p] = q ^ rot(q, 1) ^ rot(q, 2) ^ rot(q, 3) ^ rot(q, 4) ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    te0 = []
    for x in range(256):
        s = sbox[x]
        s2 = ((s << 1) ^ (0x1B if s & 0x80 else 0)) & 0xFF
        te0.append((s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s))
    ror = lambda w, n: ((w >> n) | (w << (32 - n))) & 0xFFFFFFFF
    return sbox, te0, [ror(w, 8) for w in te0], [ror(w, 16) for w in te0], [ror(w, 24) for w in te0]


SBOX, TE0, TE1, TE2, TE3 = _tables()


class Aes256:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("AES-256 takes a 32-byte key")
        w = list(struct.unpack(">8I", key))
        rcon = 1
        for i in range(8, 60):
            t = w[i - 1]
            if i % 8 == 0:
                t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
                t = (SBOX[t >> 24] << 24) | (SBOX[(t >> 16) & 255] << 16) | (SBOX[(t >> 8) & 255] << 8) | SBOX[t & 255]
                t ^= rcon << 24
                rcon = ((rcon << 1) ^ (0x1B if rcon & 0x80 else 0)) & 0xFF
            elif i % 8 == 4:
                t = (SBOX[t >> 24] << 24) | (SBOX[(t >> 16) & 255] << 16) | (SBOX[(t >> 8) & 255] << 8) | SBOX[t & 255]
            w.append(w[i - 8] ^ t)
        self.rk = w

    def block(self, data: bytes) -> bytes:
        rk, t0, t1, t2, t3, sb = self.rk, TE0, TE1, TE2, TE3, SBOX
        s0, s1, s2, s3 = struct.unpack(">4I", data)
        s0 ^= rk[0]
        s1 ^= rk[1]
        s2 ^= rk[2]
        s3 ^= rk[3]
        for r in range(1, 14):
            k = 4 * r
            s0, s1, s2, s3 = (
                t0[s0 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255] ^ rk[k],
                t0[s1 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255] ^ rk[k + 1],
                t0[s2 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255] ^ rk[k + 2],
                t0[s3 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255] ^ rk[k + 3],
            )

        def last(a, b, c, d, k):
            return ((sb[a >> 24] << 24) | (sb[(b >> 16) & 255] << 16) | (sb[(c >> 8) & 255] << 8) | sb[d & 255]) ^ k

        return struct.pack(">4I", last(s0, s1, s2, s3, rk[56]), last(s1, s2, s3, s0, rk[57]),
                           last(s2, s3, s0, s1, rk[58]), last(s3, s0, s1, s2, rk[59]))


_R = 0xE1 << 120


def _gmul(x: int, y: int) -> int:
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h: int, aad: bytes, ct: bytes) -> int:
    x = 0
    for data in (aad, ct):
        for i in range(0, len(data), 16):
            x = _gmul(x ^ int.from_bytes(data[i:i + 16].ljust(16, b"\0"), "big"), h)
    return _gmul(x ^ ((len(aad) * 8) << 64 | len(ct) * 8), h)


class Gcm:
    """AES-256-GCM with 96-bit nonces and 128-bit tags (what crypto.rs uses)."""

    def __init__(self, key: bytes):
        self.aes = Aes256(key)
        self.h = int.from_bytes(self.aes.block(b"\0" * 16), "big")

    def _ctr(self, nonce: bytes, data: bytes) -> bytes:
        out = bytearray()
        for n, i in enumerate(range(0, len(data), 16), start=2):
            stream = self.aes.block(nonce + n.to_bytes(4, "big"))
            out += bytes(a ^ b for a, b in zip(data[i:i + 16], stream))
        return bytes(out)

    def _tag(self, nonce: bytes, aad: bytes, ct: bytes) -> bytes:
        s = _ghash(self.h, aad, ct)
        return (s ^ int.from_bytes(self.aes.block(nonce + b"\0\0\0\1"), "big")).to_bytes(16, "big")

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Ciphertext then tag."""
        ct = self._ctr(nonce, plaintext)
        return ct + self._tag(nonce, aad, ct)

    def decrypt(self, nonce: bytes, body: bytes, aad: bytes) -> bytes:
        ct, tag = body[:-16], body[-16:]
        if self._tag(nonce, aad, ct) != tag:
            raise ValueError("GCM authentication failed (wrong key or context)")
        return self._ctr(nonce, ct)


def self_test() -> None:
    """FIPS-197 C.3 (AES-256) and SP 800-38D test cases 13 and 14 (AES-256-GCM)."""
    aes = Aes256(bytes(range(32)))
    assert aes.block(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == "8ea2b7ca516745bfeafc49904b496089"
    gcm = Gcm(b"\0" * 32)
    assert gcm.encrypt(b"\0" * 12, b"", b"").hex() == "530f8afbc74536b9a963b4f1c4cb738b"
    assert gcm.encrypt(b"\0" * 12, b"\0" * 16, b"").hex() == (
        "cea7403d4d606b6e074ec5d3baf39d18" "d0d1c8a799996bf0265b98b5d48ab919")
    assert gcm.decrypt(b"\0" * 12, bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"),
                       b"") == b"\0" * 16


# --- the product's formats (crates/kernel/src/crypto.rs, crates/tenant/src/keys.rs) ------------

FORMAT_V1 = 1


def unwrap_data_key(kek: bytes, tenant: uuid.UUID, version: int, wrapped: bytes) -> bytes:
    """A tenant's data key from its key-store row (LocalKek::unwrap)."""
    context = f"dxh-key|{tenant}|data|{version}".encode()
    return Gcm(kek).decrypt(wrapped[:12], wrapped[12:], context)


def field_aad(tenant: uuid.UUID, table: str, column: str, row: uuid.UUID) -> bytes:
    out = b"dxh1" + tenant.bytes + row.bytes
    for part in (table, column):
        out += struct.pack(">I", len(part)) + part.encode()
    return out


class Sealer:
    """Seals and opens one tenant's fields under one data-key version."""

    def __init__(self, tenant: uuid.UUID, version: int, data_key: bytes):
        self.tenant, self.version, self.gcm = tenant, version, Gcm(data_key)

    def seal(self, table: str, column: str, row: uuid.UUID, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        body = self.gcm.encrypt(nonce, plaintext, field_aad(self.tenant, table, column, row))
        return bytes([FORMAT_V1]) + struct.pack(">I", self.version) + nonce + body

    def open(self, table: str, column: str, row: uuid.UUID, sealed: bytes) -> bytes:
        if sealed[0] != FORMAT_V1:
            raise ValueError("not a v1 ciphertext")
        version = struct.unpack(">I", sealed[1:5])[0]
        if version != self.version:
            raise ValueError(f"sealed under key version {version}, not {self.version}")
        return self.gcm.decrypt(sealed[5:17], sealed[17:], field_aad(self.tenant, table, column, row))


if __name__ == "__main__":
    self_test()
    print("sealing: AES-256 and AES-256-GCM test vectors pass")
