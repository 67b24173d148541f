"""The sandbox's own WeChat signatures and safe-mode encryption of pushes.

Written from WeChat's description, with ``cryptography`` directly, and shared with nothing in
submsg: tests/unit/test_sandbox_crypto.py seals with one side and opens with the other, so a bug
that both sides made the same way (the mirror of a bug) cannot hide.

- A signature is the SHA-1 hex digest of its parts sorted and joined: ``[token, timestamp,
  nonce]`` for the URL, plus the ``Encrypt`` text for ``msg_signature``.
- Safe mode is AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV = the key's first
  16 bytes, PKCS#7 padding to 32-byte blocks, over 16 random bytes + the message's length in
  4 bytes big-endian + the message + the appid; the ``Encrypt`` text is its base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

PAD_BLOCK_BITS = 32 * 8  # WeChat pads to 32 bytes, twice AES's block


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key of a 43-character EncodingAESKey; ValueError for anything else."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise ValueError("an EncodingAESKey is 43 base64 characters")
    return key


def _cipher(encoding_aes_key: str) -> Cipher[modes.CBC]:
    key = aes_key(encoding_aes_key)
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def seal(message: bytes, encoding_aes_key: str, appid: str, random16: bytes | None = None) -> str:
    """The ``Encrypt`` text of ``message``; ``random16`` fixes the random prefix (for tests)."""
    prefix = secrets.token_bytes(16) if random16 is None else random16
    if len(prefix) != 16:
        raise ValueError("the random prefix is 16 bytes")
    plain = prefix + len(message).to_bytes(4, "big") + message + appid.encode("utf-8")
    padder = PKCS7(PAD_BLOCK_BITS).padder()
    encryptor = _cipher(encoding_aes_key).encryptor()
    padded = padder.update(plain) + padder.finalize()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def unseal(encrypted: str, encoding_aes_key: str, appid: str) -> bytes:
    """The message inside an ``Encrypt`` text; ValueError unless it was sealed for ``appid``."""
    decryptor = _cipher(encoding_aes_key).decryptor()
    unpadder = PKCS7(PAD_BLOCK_BITS).unpadder()
    ciphertext = base64.b64decode(encrypted, validate=True)
    plain = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize())
    plain += unpadder.finalize()
    length = int.from_bytes(plain[16:20], "big")
    if len(plain) < 20 or plain[20 + length :] != appid.encode("utf-8"):
        raise ValueError("not sealed for this appid")
    return plain[20 : 20 + length]
