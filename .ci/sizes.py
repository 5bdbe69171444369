#!/usr/bin/env python3
"""Lines of code per Rust file (no blank lines, no comments or doc comments, no unit-test
module), largest first; fails if any is over the limit.

    python3 .ci/sizes.py 400 mfa-core/src mfa-store-sql/src
"""
import sys
from pathlib import Path

limit = int(sys.argv[1])
rows = []
for root in sys.argv[2:]:
    for path in Path(root).rglob("*.rs"):
        text = path.read_text().split("\n#[cfg(test)]\nmod tests")[0]
        code = [l for l in text.splitlines() if l.strip() and not l.strip().startswith("//")]
        rows.append((len(code), str(path)))
rows.sort(reverse=True)
for n, path in rows:
    print(f"{n:5} {path}")
over = [r for r in rows if r[0] > limit]
if over:
    print(f"over {limit} lines of code: " + ", ".join(p for _, p in over))
    sys.exit(1)
print(f"{len(rows)} files, none over {limit} lines of code")
