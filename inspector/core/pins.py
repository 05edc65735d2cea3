"""PIN hashing: scrypt (memory-hard, in the standard library) with a 16-byte salt.

Stored as ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``. PINs hashed by earlier stations
(``<salt>$<hash>``, PBKDF2-SHA256 with 120,000 iterations) still verify, and are re-hashed with
scrypt at the next successful log-in (:func:`needs_rehash`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: scrypt cost, one of OWASP's equivalent minimum settings (N=2**17, r=8, p=1 ... N=2**14, r=8, p=5):
#: 16 MiB per try, ~0.2 s on an idle 2-core station (1 s measured while the machine was loaded).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 5
SALT_BYTES = 16
#: For automation (``inspector run`` / ``gui --operator NAME``): the PIN from this environment variable.
PIN_ENV = "INSPECTOR_PIN"
_LEGACY_ITERATIONS = 120_000


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str | None) -> bool:
    """Whether ``pin`` matches ``stored`` (constant-time comparison; False for anything malformed)."""
    if not stored:
        return False
    try:
        if stored.startswith("scrypt$"):
            _, n, r, p, salt, digest = stored.split("$")
            candidate = _scrypt(pin, bytes.fromhex(salt), int(n), int(r), int(p))
        else:  # the settings file of earlier stations: PBKDF2-SHA256
            salt, digest = stored.split("$", 1)
            candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), _LEGACY_ITERATIONS)
        return hmac.compare_digest(candidate, bytes.fromhex(digest))
    except ValueError:
        return False


def needs_rehash(stored: str | None) -> bool:
    return stored is not None and stored != "" and not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


def pin_problem(pin: str, min_length: int) -> str | None:
    """Why ``pin`` cannot be chosen (None when it can): digits only, at least ``min_length``."""
    if not pin.isdigit():
        return "A PIN is made of digits only."
    if len(pin) < min_length:
        return f"A PIN needs at least {min_length} digits."
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        return "Choose a PIN that is not one repeated digit or a run like 123456."
    return None


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
