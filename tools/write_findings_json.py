"""Write imageforensics/findings.json, the catalogue of finding codes, from imageforensics/catalogue.py.

    python3 tools/write_findings_json.py

tests/test_catalogue.py checks that the shipped file equals what the code declares.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imageforensics.catalogue import catalogue_document  # noqa: E402


def main() -> int:
    """Write the file; prints its path."""
    path = ROOT / "imageforensics" / "findings.json"
    path.write_text(catalogue_document(), encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
