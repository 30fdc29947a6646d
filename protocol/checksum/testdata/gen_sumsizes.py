#!/usr/bin/env python3
"""Prints the generator's block layout as stock rsync computes it, as Go test
table rows: {protocol, fileLen, blockSizeOpt, kind, blength, s2length, count,
remainder}. It builds a sparse basis file of each size, runs a local
`rsync --append --debug=deltasum2` and stops it once the generator has printed
its "count=... rem=... blength=... s2length=..." line."""
import os, re, signal, subprocess, sys, tempfile

CASES = [  # (protocol, size, --block-size, --checksum-choice)
]
for proto in (27, 29, 30, 31, 32):
    for size in (1, 699, 700, 701, 490000, 490001, 490002, 1000000,
                 1 << 24, 123456789, 10**9, 10**10, 1 << 34, (1 << 36) + 5, 1 << 40):
        CASES.append((proto, size, 0, None))
for proto in (29, 32):
    for bs in (1, 8, 700, 1024, 1 << 17):
        for size in (1000, 1000000, 10**10):
            CASES.append((proto, size, bs, None))
for proto in (30, 32):
    for cs in ("xxh64", "xxh3", "xxh128", "md5", "md4", "sha1"):
        for size in (1000, 10**10, 1 << 40):
            CASES.append((proto, size, 0, cs))

line_re = re.compile(rb"count=(-?\d+) rem=(\d+) blength=(\d+) s2length=(\d+) flength=(\d+)")
with tempfile.TemporaryDirectory() as tmp:
    src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
    os.mkdir(src); os.mkdir(dst)
    for proto, size, bs, cs in CASES:
        for d, n in ((src, size + 1), (dst, size)):
            with open(os.path.join(d, "f"), "wb") as fh:
                fh.truncate(n)
        args = ["rsync", "--protocol=%d" % proto, "--append", "--debug=deltasum2", "-r"]
        if bs:
            args.append("--block-size=%d" % bs)
        if cs:
            args.append("--checksum-choice=" + cs)
        args += [src + "/", dst + "/"]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        got = None
        for line in p.stdout:
            m = line_re.search(line)
            if m:
                got = [int(x) for x in m.groups()]
                break
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if not got:
            sys.exit("no count line for %r" % ((proto, size, bs, cs),))
        count, rem, blength, s2, flen = got
        assert flen == size
        kind = {None: "Default(%d)" % proto, "xxh64": "XXH64", "xxh3": "XXH3", "xxh128": "XXH128",
                "md5": "MD5", "md4": "MD4", "sha1": "SHA1"}[cs]
        print("\t{%d, %d, %d, %s, %d, %d, %d, %d}," % (proto, size, bs, kind, blength, s2, count, rem))
