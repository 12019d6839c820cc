#!/usr/bin/env python3
"""Times gguf-py's GGUFReader doing what gguf-open-benchmark does with GGUFFormat: open the file,
read every metadata value once, resolve every tensor by name, touch each tensor's first byte.

    gguf_open_peer.py FILE [--iterations N]

Prints one JSON object (median_ms, min_ms, and the sums gguf-open-benchmark prints, so a run can
check both readers saw the same values and bytes).
"""
import argparse
import importlib.metadata
import json
import os
import statistics
import time

import numpy as np
from gguf import GGUFReader, GGUFValueType


def open_and_index(path):
    # The constructor maps the file and parses every field and tensor info: that is its "open".
    reader = GGUFReader(path)
    metadata_sum = 0
    for key in reader.fields:
        if key.startswith("GGUF."):
            continue  # header values gguf-py lists as fields; GGUFFormat keeps them out of metadata
        field = reader.get_field(key)
        if field.types[0] == GGUFValueType.ARRAY:
            metadata_sum += len(field.data)  # the count only: contents() would build a Python list
        elif field.types[0] == GGUFValueType.STRING:
            metadata_sum += len(field.parts[-1])  # UTF-8 length, as the Swift side counts it
        else:
            field.contents()
            metadata_sum += 1
    # GGUFReader keeps tensors in a list; a name index is what a loader builds to find them.
    by_name = {t.name: t for t in reader.tensors}
    data_sum = 0
    for t in reader.tensors:
        data = by_name[t.name].data
        if data.size:
            data_sum += int(data.view(np.uint8).flat[0])
    # Returning drops the reader, so the unmap is inside the timed region, as it is for ours.
    return len(reader.tensors), metadata_sum, data_sum


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error("--iterations needs a positive number")

    # One untimed open first, as on the Swift side (page cache, imports, numpy's first calls).
    seen = open_and_index(args.file)
    samples = []
    for _ in range(args.iterations):
        start = time.perf_counter_ns()  # monotonic
        result = open_and_index(args.file)
        samples.append((time.perf_counter_ns() - start) / 1e6)
        assert result == seen, "iterations disagree"

    tensors, metadata_sum, data_sum = seen
    print(json.dumps({
        "reader": f"gguf-py {importlib.metadata.version('gguf')}",
        "file": args.file,
        "file_bytes": os.path.getsize(args.file),
        "tensors": tensors,
        "metadata_sum": metadata_sum,
        "data_sum": data_sum,
        "iterations": args.iterations,
        "median_ms": round(statistics.median(samples), 3),
        "min_ms": round(min(samples), 3),
    }))


if __name__ == "__main__":
    main()
