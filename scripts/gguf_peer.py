#!/usr/bin/env python3
"""What gguf-py (the reference GGUF reader) sees in a file, as JSON, for the Swift tests to compare.

    python3 scripts/gguf_peer.py dump FILE          # JSON on stdout

Every number is written as a string (64-bit integers do not survive JSON doubles) and every float
as its IEEE bit pattern in hex, so the comparison is exact. Nested arrays are flattened the way
gguf-py flattens them: `types` is the chain of value types and `value` the list of leaves.
"""
import json
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType


def leaf(value, vtype):
    if vtype == GGUFValueType.FLOAT32:
        return "0x%08x" % int(np.float32(value).view(np.uint32))
    if vtype == GGUFValueType.FLOAT64:
        return "0x%016x" % int(np.float64(value).view(np.uint64))
    if vtype == GGUFValueType.BOOL:
        return bool(value)
    if vtype == GGUFValueType.STRING:
        return value
    return str(int(value))


def dump(path):
    reader = GGUFReader(path)
    fields = []
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        types = [t.name for t in field.types]
        last = field.types[-1]
        if field.types[0] == GGUFValueType.ARRAY:
            value = [leaf(v, last) for v in field.contents()]
        else:
            value = leaf(field.contents(), last)
        fields.append({"key": name, "types": types, "value": value})
    version = int(reader.fields["GGUF.version"].parts[-1][0])
    tensors = []
    for t in reader.tensors:
        tensors.append({
            "name": t.name,
            "shape": [int(n) for n in t.field.parts[3]],
            "type": t.tensor_type.name,
            "type_id": int(t.tensor_type),
            "offset": int(t.data_offset - reader.data_offset),
            "n_bytes": int(t.n_bytes),
            "n_elements": int(t.n_elements),
        })
    return {
        "version": version,
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "fields": fields,
        "tensors": tensors,
    }


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "dump":
        sys.exit("usage: gguf_peer.py dump FILE")
    json.dump(dump(sys.argv[2]), sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
