#!/usr/bin/env python3
"""Recompute format v1's primitive test vectors with independent implementations
(pip install blake3 argon2-cffi pycryptodome cryptography), to show they follow the published algorithms
and not just cellar's code."""
import blake3
import argon2.low_level as a
from Crypto.Cipher import ChaCha20_Poly1305

print("blob id ", blake3.blake3(b"cellar format v1", key=bytes(range(32))).hexdigest())
print("kek     ", a.hash_secret_raw(b"password", b"saltsaltsaltsalt", time_cost=1, memory_cost=256,
                                    parallelism=1, hash_len=32, type=a.Type.ID, version=19).hex())
c = ChaCha20_Poly1305.new(key=bytes([0x42] * 32), nonce=bytes([0x24] * 24))
ct, tag = c.encrypt_and_digest(b"cellar")
print("sealed  ", (bytes([0x24] * 24) + ct + tag).hex())

# Version 4 (format-spec §16): repository key pair, a session and its key.
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
r = X25519PrivateKey.from_private_bytes(bytes([0x11] * 32))
P = r.public_key().public_bytes_raw()
e = X25519PrivateKey.from_private_bytes(bytes([0x22] * 32))
E = e.public_key().public_bytes_raw()
S = blake3.blake3(e.exchange(X25519PublicKey.from_public_bytes(P)) + E + P,
                  derive_key_context="cellar 2026-12 session key v1").hexdigest()
print("repo pub", P.hex())
print("session ", E.hex())
print("sess key", S)
