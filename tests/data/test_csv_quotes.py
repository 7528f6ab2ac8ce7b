"""A labels CSV with a quote left open (issue 31, item 7's class: a bad input is one clear line, and the
data path never reads something else silently). Python's csv module, by default, reads an unclosed quote
to the end of the file as one cell, so every row after it vanished into one id; now the file is refused
naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lesionlab.data.sources import load_folder
from lesionlab.errors import DataError


@pytest.mark.parametrize(
    ("text", "line"),
    [('image_id,label\na,mel\n"b,nev\nc,mel\n', 4), ('image_id,label\na,mel\n"b"x,nev\nc,mel\n', 3)],
)
def test_a_csv_with_a_broken_quote_is_refused_naming_the_line(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "images").mkdir()
    for name in "abc":
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / f"{name}.png")
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(DataError, match=rf"l.csv, line {line}: .*quote") as info:
        load_folder(tmp_path / "images", tmp_path / "l.csv")
    assert "\n" not in str(info.value)
