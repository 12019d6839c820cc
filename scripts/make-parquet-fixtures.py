#!/usr/bin/env python3
"""Writes the Parquet reader's test fixtures with pyarrow (the peer), and pyarrow's own reading of
each table as JSON (`<name>.expected.json`, `Table.to_pylist()`, the same for every variant), which
ParquetTests compares with the reader's rows exactly.

    pip install pyarrow
    python3 scripts/make-parquet-fixtures.py [OUT_DIR]   # default Tests/EvaluationTests/Fixtures/parquet

Tables shaped like the Hugging Face datasets' Parquet files (GSM8K, ARC with its struct of
lists, MMLU with a list and an int64, HumanEval), one with nulls (optional strings, null and
empty lists, null elements, a null struct), one of every physical type the reader renders, and
a larger one with repeated values (long RLE and bit-packed runs, several pages). Each is written
in variants: pyarrow's default (SNAPPY, dictionary), `plain` (UNCOMPRESSED, no dictionary), `v2`
(DATA_PAGE_V2), `groups` (a row group per row), `pages` (a page every few values), `bigpages`
(every few hundred bytes), `gzip`, and for GSM8K `zstd` and `delta` (DELTA_LENGTH_BYTE_ARRAY), which the
reader refuses by name. The files are small and committed; the rows are fixed, so rerunning with
the same pyarrow reproduces them.
"""
import datetime
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EvaluationTests", "Fixtures", "parquet")

GSM8K = pa.table({
    "question": ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                 "How many clips did Natalia sell altogether in April and May?",
                 "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
                 "Betty is saving money for a new wallet which costs $100. How much more money does Betty need? ✓ ünïcödé"],
    "answer": ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72",
               "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
               "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\n#### 1,005"],
})

ARC_SCHEMA = pa.schema([
    ("id", pa.string()), ("question", pa.string()),
    ("choices", pa.struct([("text", pa.list_(pa.string())), ("label", pa.list_(pa.string()))])),
    ("answerKey", pa.string()),
])
ARC = pa.Table.from_pylist([
    {"id": "Mercury_7175875", "question": "An astronomer observes that a planet rotates faster after a meteorite impact. "
     "Which is the most likely effect of this increase in rotation?",
     "choices": {"text": ["Planetary density will decrease.", "Planetary years will become longer.",
                          "Planetary days will become shorter.", "Planetary gravity will become stronger."],
                 "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
    {"id": "Mercury_SC_409171", "question": "A group of engineers wanted to know how different building designs would respond "
     "during an earthquake. Which of these would be best?",
     "choices": {"text": ["buildings will be built faster", "buildings will be made safer", "building designs will look nicer"],
                 "label": ["1", "2", "3"]}, "answerKey": "2"},
    {"id": "NYSEDREGENTS_2015_4_8", "question": "Which object is the best conductor of electricity?",
     "choices": {"text": ["a wax crayon", "a plastic spoon", "a rubber eraser", "an iron nail", "a wooden stick"],
                 "label": ["A", "B", "C", "D", "E"]}, "answerKey": "D"},
], schema=ARC_SCHEMA)

MMLU_SCHEMA = pa.schema([("question", pa.string()), ("subject", pa.string()),
                         ("choices", pa.list_(pa.string())), ("answer", pa.int64())])
MMLU = pa.Table.from_pylist([
    {"question": "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
     "subject": "abstract_algebra", "choices": ["0", "4", "2", "6"], "answer": 1},
    {"question": "Let p = (1, 2, 5, 4)(2, 3) in S_5 . Find the index of <p> in S_5.",
     "subject": "abstract_algebra", "choices": ["8", "2", "24", "120"], "answer": 2},
    {"question": "What is the embryological origin of the hyoid bone?", "subject": "anatomy",
     "choices": ["The first pharyngeal arch", "The first and second pharyngeal arches",
                 "The second pharyngeal arch", "The second and third pharyngeal arches"], "answer": 3},
], schema=MMLU_SCHEMA)

HUMANEVAL = pa.table({
    "task_id": ["HumanEval/0", "HumanEval/1"],
    "prompt": ["def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n", "def neg(x):\n    \"\"\"Return -x.\"\"\"\n"],
    "canonical_solution": ["    return a + b\n", "    return -x\n"],
    "test": ["def check(candidate):\n    assert candidate(1, 2) == 3\n", "def check(candidate):\n    assert candidate(2) == -2\n"],
    "entry_point": ["add", "neg"],
})

NULLS_SCHEMA = pa.schema([
    ("name", pa.string()), ("note", pa.string()), ("tags", pa.list_(pa.string())),
    ("nested", pa.list_(pa.list_(pa.int32()))),
    ("info", pa.struct([("score", pa.float64()), ("labels", pa.list_(pa.string()))])),
    ("required_id", pa.int64(), False),
])
NULLS = pa.Table.from_pylist([
    {"name": "a", "note": None, "tags": None, "nested": [[1, 2], [], None, [3]], "info": None, "required_id": 1},
    {"name": None, "note": "", "tags": [], "nested": None, "info": {"score": None, "labels": None}, "required_id": 2},
    {"name": "c", "note": "kept", "tags": [None, "x", None], "nested": [], "info": {"score": 2.5, "labels": []}, "required_id": 3},
    {"name": "", "note": None, "tags": ["y"], "nested": [None], "info": {"score": -0.0, "labels": [None, "z"]}, "required_id": 4},
], schema=NULLS_SCHEMA)

TYPES_SCHEMA = pa.schema([
    ("flag", pa.bool_()), ("i8", pa.int8()), ("i16", pa.int16()), ("i32", pa.int32()), ("i64", pa.int64()),
    ("u8", pa.uint8()), ("u32", pa.uint32()), ("u64", pa.uint64()), ("f32", pa.float32()), ("f64", pa.float64()),
    ("fixed", pa.binary(3)), ("day", pa.date32()), ("points", pa.list_(pa.struct([("x", pa.int32()), ("y", pa.string())]))),
    ("deep", pa.struct([("inner", pa.struct([("v", pa.string())])), ("n", pa.int32())])),
])
TYPES = pa.Table.from_pylist([
    {"flag": True, "i8": -128, "i16": -32768, "i32": -2147483648, "i64": -9223372036854775808, "u8": 255, "u32": 4294967295,
     "u64": 18446744073709551615, "f32": 0.1, "f64": 1e-300, "fixed": b"abc", "day": 19000,
     "points": [{"x": 1, "y": "p"}, {"x": None, "y": None}, None], "deep": {"inner": {"v": "v1"}, "n": 7}},
    {"flag": False, "i8": 127, "i16": 32767, "i32": 2147483647, "i64": 9223372036854775807, "u8": 0, "u32": 0,
     "u64": 0, "f32": -3.5, "f64": 123456789.125, "fixed": b"xyz", "day": 0, "points": [], "deep": {"inner": None, "n": None}},
    {"flag": None, "i8": None, "i16": 0, "i32": 42, "i64": 42, "u8": None, "u32": 7, "u64": 9007199254740993,
     "f32": None, "f64": 2.5e+20, "fixed": None, "day": None, "points": None, "deep": None},
], schema=TYPES_SCHEMA)


def many():
    """120 MMLU-like rows from a seeded generator: repeated subjects and answers, some nulls."""
    rng = random.Random(15)
    subjects = ["anatomy", "astronomy", "virology", "world_religions"]
    rows = []
    for i in range(120):
        subject = subjects[(i // 30) % 4]
        rows.append({
            "question": f"Question {i}: what is {rng.randint(0, 99)} + {rng.randint(0, 99)}?",
            "subject": subject,
            "choices": [str(rng.randint(0, 200)) for _ in range(4)],
            "answer": rng.choice([0, 0, 0, 1, 2, 3]),
            "hint": None if i % 7 else f"hint {i}",
            "checked": i % 3 == 0,
        })
    schema = pa.schema(list(MMLU_SCHEMA) + [("hint", pa.string()), ("checked", pa.bool_())])
    return pa.Table.from_pylist(rows, schema=schema)


VARIANTS = {
    "": {},
    "plain": {"compression": "NONE", "use_dictionary": False},
    "v2": {"data_page_version": "2.0"},
    "groups": {"row_group_size": 1},
    "pages": {"data_page_size": 16, "write_batch_size": 1},
    "bigpages": {"data_page_size": 256, "write_batch_size": 8},
    "gzip": {"compression": "GZIP"},
    # What the reader refuses, by name: another codec, another encoding.
    "zstd": {"compression": "ZSTD"},
    "delta": {"use_dictionary": False, "column_encoding": {"answer": "DELTA_LENGTH_BYTE_ARRAY"}},
}

TABLES = {
    "gsm8k": (GSM8K, ["", "plain", "v2", "groups", "gzip", "zstd", "delta"]),
    "arc": (ARC, ["", "plain", "v2", "groups", "pages", "gzip"]),
    "mmlu": (MMLU, ["", "plain", "v2", "groups"]),
    "humaneval": (HUMANEVAL, [""]),
    "nulls": (NULLS, ["", "plain", "v2", "pages", "gzip"]),
    "types": (TYPES, ["", "plain", "v2"]),
    "many": (many(), ["", "v2", "bigpages", "gzip"]),
}


def as_json(value):
    """pyarrow's values as the reader gives them: bytes as UTF-8 text, a date as its day number."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, datetime.date):
        return (value - datetime.date(1970, 1, 1)).days
    return value


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (table, variants) in TABLES.items():
        expected = None
        for variant in variants:
            path = os.path.join(OUT, name + ("-" + variant if variant else "") + ".parquet")
            pq.write_table(table, path, **VARIANTS[variant])
            rows = as_json(pq.read_table(path).to_pylist())
            assert expected is None or rows == expected, f"{path} reads differently from {name}.parquet"
            expected = rows
        with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
            f.write("[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in expected) + "\n]\n")


if __name__ == "__main__":
    main()
