#!/usr/bin/env python3
"""Writes the Parquet fixtures the trainer's data tests read (trainer/src/data/parquet.test.ts).

  test/fixtures/datasets/parquet/messages.parquet   10 `messages` rows (list<struct<role, content>>, an
                                                    int64 `id`), row groups of 4: 3 groups, snappy
  test/fixtures/datasets/parquet/alpaca.parquet     6 `alpaca` rows, `input` null in some (a missing
                                                    field), row groups of 3, zstd
  test/fixtures/datasets/malformed/rows.parquet     6 `alpaca` rows, two malformed (row 3: `output`
                                                    null; row 5: empty `instruction`), row groups of 4, gzip

Written by pyarrow, the library most Parquet datasets on the Hub come from, so the reader is checked
against what real datasets look like rather than against files our own code wrote. pyarrow is not in
the reference venv (test/reference/requirements.txt), so the files are committed; to regenerate:

  python3 -m venv /tmp/pq && /tmp/pq/bin/pip install pyarrow
  /tmp/pq/bin/python scripts/make-parquet-fixture.py
"""
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "datasets"

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def messages_rows():
    rows = []
    for i in range(1, 11):
        turns = []
        if i % 3 == 0:
            turns.append({"role": "system", "content": "You are a customer support agent. Be concise."})
        turns.append({"role": "user", "content": f"Where is my order number {1000 + i}?"})
        turns.append({"role": "assistant", "content": f"Order {1000 + i} ships in {i % 4 + 1} days."})
        rows.append({"id": i, "messages": turns})
    return rows


ALPACA = pa.schema([("instruction", pa.string()), ("input", pa.string()), ("output", pa.string())])


def alpaca_rows():
    return [
        {"instruction": "Summarise the text.", "input": "The weather is nice today. The sun is out.", "output": "Nice, sunny weather."},
        {"instruction": "What is the capital of France?", "input": None, "output": "Paris."},
        {"instruction": "Translate to French.", "input": "Good morning.", "output": "Bonjour."},
        {"instruction": "Name a primary colour.", "input": None, "output": "Red."},
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
        {"instruction": "Reverse the word.", "input": "stressed", "output": "desserts"},
    ]


def malformed_rows():
    rows = alpaca_rows()
    rows[2] = {**rows[2], "output": None}  # row 3: no output
    rows[4] = {**rows[4], "instruction": ""}  # row 5: empty instruction
    return rows


def limits_table() -> pa.Table:
    """4 alpaca rows: row 2's output is 16 MiB + 1 byte (over MAX_ROW_BYTES); row 3's instruction holds
    the byte 0xE9 (not UTF-8: written as binary and viewed as a string column, which pyarrow does not
    validate); `meta` is a plain binary column, as image bytes are: not text, so not refused."""
    instruction = pa.array([b"Say hi.", b"Repeat x.", b"caf\xe9?", b"Say bye."], type=pa.binary()).view(pa.string())
    output = pa.array(["Hi.", "x" * (16 * 1024 * 1024 + 1), "Coffee.", "Bye."], type=pa.string())
    meta = pa.array([b"\x89PNG", b"", None, b"plain"], type=pa.binary())
    return pa.table({"instruction": instruction, "output": output, "meta": meta})


def write(path: Path, table: pa.Table, row_group_size: int, compression: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size, compression=compression)
    meta = pq.ParquetFile(path).metadata
    print(f"{path.relative_to(ROOT.parent.parent.parent)}: {meta.num_rows} rows, {meta.num_row_groups} row groups, {compression}")


def main() -> None:
    write(
        ROOT / "parquet" / "messages.parquet",
        pa.Table.from_pylist(messages_rows(), schema=pa.schema([("id", pa.int64()), ("messages", pa.list_(MESSAGE))])),
        4,
        "snappy",
    )
    write(ROOT / "parquet" / "alpaca.parquet", pa.Table.from_pylist(alpaca_rows(), schema=ALPACA), 3, "zstd")
    write(ROOT / "malformed" / "rows.parquet", pa.Table.from_pylist(malformed_rows(), schema=ALPACA), 4, "gzip")
    write(ROOT / "malformed" / "limits.parquet", limits_table(), 4, "zstd")


if __name__ == "__main__":
    main()
