#!/usr/bin/env python3
"""No secret in any log line (issue #9): reads every service log the test run left (the C++ tests'
TempDir keeps each *.log in the build's test-logs directory) and fails on any unmasked key.

Every key the services make or accept starts with "sk-"; wherever the services show one, they cut
it to a display prefix of at most 9 characters ("sk-" and 6, or a prefix and "…"). So "sk-" followed
by 10 or more key characters is a key written whole: the tests' admin keys, the keys they create,
imported keys and the wrong keys they send all take that form.

Usage: log_secrets_scan.py ARCHIVE_DIR [--min-files N]    (ctest: log_secrets_scan, run last)
       log_secrets_scan.py --self-test
"""
import os
import re
import sys
import tempfile

KEY = re.compile(rb"sk-[A-Za-z0-9_\-%]{10,}")
MASKED = re.compile(rb"sk-[A-Za-z0-9_\-]{1,8}(?:\xe2\x80\xa6|\.\.\.)")


def scan(archive):
    files, size, masked, hits = 0, 0, 0, []
    for dirpath, _, names in os.walk(archive):
        for name in sorted(names):
            if not name.endswith(".log"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                data = f.read()
            files += 1
            size += len(data)
            masked += len(MASKED.findall(data))
            for lineno, line in enumerate(data.split(b"\n"), 1):
                for m in KEY.finditer(line):
                    hits.append((os.path.relpath(path, archive), lineno, m.group(0)))
    return files, size, masked, hits


def self_test():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "luna-test-1"))
        with open(os.path.join(d, "luna-test-1", "gateway.log"), "wb") as f:
            f.write(b"POST /admin/keys/sk-AbCdEf\xe2\x80\xa6/disable 200\n")
            f.write(b"key=key_0123456789abcdef masked sk-AbCdEfGh...\n")
        files, _, masked, hits = scan(d)
        assert files == 1 and masked == 2 and not hits, (files, masked, hits)
        with open(os.path.join(d, "luna-test-1", "authsvc.log"), "wb") as f:
            f.write(b"ok\nrejected x-api-key sk-Zq3_9aXk2LmNpQrStUv\n")
        files, _, _, hits = scan(d)
        assert files == 2 and len(hits) == 1 and hits[0][1] == 2, hits
    print("log_secrets_scan: self-test passed")


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    archive = argv[1]
    # A whole run leaves hundreds of logs; `ctest -R` with one test, as few as one.
    min_files = int(argv[argv.index("--min-files") + 1]) if "--min-files" in argv else 1
    self_test()
    files, size, masked, hits = scan(archive) if os.path.isdir(archive) else (0, 0, 0, [])
    print(f"log_secrets_scan: {files} log files, {size / 1e6:.1f} MB from {archive}; "
          f"{masked} masked key mentions; {len(hits)} unmasked keys")
    for path, lineno, key in hits[:50]:
        # Never print the key itself: its first 9 characters and its length.
        print(f"  {path}:{lineno}: {key[:9].decode(errors='replace')}… ({len(key)} characters)")
    if files < min_files:
        print(f"log_secrets_scan: expected at least {min_files} log files: were the logs archived?")
        return 1
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
