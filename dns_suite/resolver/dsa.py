"""DSA signature verification for DNSSEC algorithms 3 and 6 (pure; RFC 2536, FIPS 186-2).

dnspython verifies through ``cryptography``, which refuses DSA keys shorter than 1,024 bits
(RFC 2536 allows 512); such keys, and signatures in ASN.1 DER form rather than RFC 2536's
``T | R | S`` (old ldns wrote them, and Unbound accepts both), are checked here with the
textbook arithmetic. Verification only handles public values, so no secret is exposed to
timing. RFC 8624 deprecates DSA; it is kept because signed zones still carry it.
"""

from __future__ import annotations

import hashlib

_Q_LEN = 20  # octets of Q, R and S (SHA-1 sized)


def signature_values(signature: bytes) -> tuple[int, int] | None:
    """(R, S) from an RFC 2536 signature (41 octets) or an ASN.1 DER SEQUENCE of two INTEGERs."""
    if len(signature) == 1 + 2 * _Q_LEN:
        return (int.from_bytes(signature[1:21], "big"), int.from_bytes(signature[21:41], "big"))
    if len(signature) < 8 or signature[0] != 0x30 or signature[1] != len(signature) - 2:
        return None
    values, pos = [], 2
    for _ in range(2):
        if pos + 2 > len(signature) or signature[pos] != 0x02:
            return None
        length = signature[pos + 1]
        values.append(int.from_bytes(signature[pos + 2:pos + 2 + length], "big"))
        pos += 2 + length
    return (values[0], values[1]) if pos == len(signature) else None


def verify(data: bytes, signature: bytes, key: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with the DNSKEY public key field ``key``
    (``T | Q | P | G | Y``, RFC 2536 §2), SHA-1 digest."""
    if not key:
        return False
    t = key[0]
    n = 64 + 8 * t
    if t > 8 or len(key) != 1 + _Q_LEN + 3 * n:
        return False
    q = int.from_bytes(key[1:21], "big")
    p = int.from_bytes(key[21:21 + n], "big")
    g = int.from_bytes(key[21 + n:21 + 2 * n], "big")
    y = int.from_bytes(key[21 + 2 * n:], "big")
    values = signature_values(signature)
    if values is None or q < 2 or p < 2:
        return False
    r, s = values
    if not (0 < r < q and 0 < s < q):
        return False
    h = int.from_bytes(hashlib.sha1(data).digest(), "big")
    w = pow(s, -1, q)
    v = pow(g, h * w % q, p) * pow(y, r * w % q, p) % p % q
    return v == r
