"""Integers in request documents: bounded, any number of leading zeros, never a 500."""

from __future__ import annotations

import pytest

from invalidator.api.wire.invalidation_xml import read_invalidation_batch
from invalidator.api.wire.numbers import bounded_int
from invalidator.domain.errors import MalformedXML


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        ("-7", -7),
        ("+7", 7),
        ("007", 7),
        ("0" * 5000 + "1", 1),  # int() of it raised ValueError (4,300-digit limit): a 500
        ("2147483647", 2**31 - 1),
        ("-2147483648", -(2**31)),
        ("2147483648", None),
        ("1" + "0" * 5000, None),
        ("", None),
        ("-", None),
        ("1.0", None),
        ("\u0661", None),  # an Arabic-Indic digit: not ASCII
        (" 1", None),
    ],
)
def test_bounded_int(text: str, value: int | None) -> None:
    """Within [-2^31, 2^31-1] or None."""
    assert bounded_int(text, -(2**31), 2**31 - 1) == value


def test_a_quantity_with_thousands_of_leading_zeros_is_read_not_a_crash() -> None:
    """`00…01` (5,000 zeros) is 1; `10…0` is MalformedXML, never a ValueError."""
    body = "<InvalidationBatch><Paths><Quantity>{}</Quantity><Items><Path>/a</Path></Items>"
    body += "</Paths><CallerReference>r</CallerReference></InvalidationBatch>"
    assert read_invalidation_batch(body.format("0" * 5000 + "1").encode(), 3000).quantity == 1
    with pytest.raises(MalformedXML, match="valid integer"):
        read_invalidation_batch(body.format("1" + "0" * 5000).encode(), 3000)
