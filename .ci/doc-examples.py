#!/usr/bin/env python3
"""Fails unless every public trait of the library crates, and every public method of `Mfa`
(and of its builder), has a doc example (a ``` block in its doc comment).

    python3 .ci/doc-examples.py
"""
import re
import sys
from pathlib import Path

crates = ["mfa-core", "mfa-otp", "mfa-webauthn", "mfa-store-memory", "mfa-store-sql", "mfa-axum"]
item = re.compile(r"((?:[ \t]*///[^\n]*\n|[ \t]*#\[[^\n]*\]\n)*)([ \t]*)pub (trait|(?:async )?fn) (\w+)")
missing, traits, methods = [], 0, 0
for crate in crates:
    for path in sorted(Path(crate, "src").rglob("*.rs")):
        text = path.read_text()
        is_service = "mfa-core/src/service" in str(path)
        for m in item.finditer(text):
            doc, indent, kind, name = m.groups()
            if kind == "trait":
                traits += 1
            elif is_service and indent == "    ":
                methods += 1
            else:
                continue
            if "```" not in doc:
                missing.append(f"{path}: {kind} {name}")
if missing:
    print("without a doc example:\n  " + "\n  ".join(missing))
    sys.exit(1)
print(f"{traits} public traits and {methods} public Mfa methods, each with a doc example")
