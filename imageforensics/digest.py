"""Content digests (``sha256:5f70bf18…``) as values, validated once at the boundary.

Its own module so that the findings registry can declare digest evidence
without importing the model (which holds findings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A content digest such as ``sha256:5f70bf18…``, validated at the boundary."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: object) -> "Digest":
        """Parse ``alg:hex``; raises ValueError when it is not a well-formed digest."""
        # Any JSON value may arrive here (a descriptor's "digest"): non-strings are refused too.
        if not isinstance(text, str):
            raise ValueError(f"digest must be a string, not {type(text).__name__}")
        m = _DIGEST.fullmatch(text)
        if m is None:
            raise ValueError(f"not a digest: {text[:80]!r}")
        algorithm, encoded = m.group(1), m.group(2)
        want = _HEX.get(algorithm)
        if want is not None and (len(encoded) != want or not _is_lower_hex(encoded)):
            raise ValueError(f"not a {algorithm} digest: {text[:80]!r}")
        return cls(algorithm, encoded)

    @classmethod
    def sha256(cls, hexdigest: str) -> "Digest":
        """A sha256 digest from a hex string (already computed by hashlib)."""
        return cls("sha256", hexdigest)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The first 12 hex digits, as docker prints image IDs."""
        return self.hex[:12]


def _is_lower_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
