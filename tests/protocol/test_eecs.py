import pytest

from origin.protocol import eecs


def test_labels_and_nearest_parents():
    assert eecs.tech_label("T020002") == "Wind - Unspecified - Offshore"
    assert "nearest listed: T020000" in eecs.tech_label("T020099")
    assert eecs.tech_label("T990000") is None and eecs.fuel_label("F99000000") is None
    assert eecs.fuel_label("F01040100").startswith("Renewable")


@pytest.mark.parametrize("tech,fuel", [("T010000", "F01040100"), ("T020000", "F01050100"), ("T020002", "F01050100"),
                                       ("T030000", "F01050200"), ("T040000", "F01050200"), ("T050000", "F01010000"),
                                       ("T050000", "F01030000"), ("T050000", "F02010400"), ("T050000", "F02010100"),
                                       ("T050000", "F02020000"), ("T050000", "F02030100"), ("T060000", "F03010100")])  # fmt: skip
def test_the_danish_platforms_pairs_are_permitted(tech, fuel):
    assert eecs.check_pair(tech, fuel) is None


@pytest.mark.parametrize("tech,fuel,why", [("T010000", "F01050100", "does not take"), ("T020000", "F01040100", "does not take"),
                                           ("T060000", "F01050100", "does not take"), ("T050000", "F03010100", "does not take"),
                                           ("T990000", "F01040100", "unknown technology"), ("T010000", "F0104010", "unknown fuel"),
                                           ("T01000", "F01040100", "unknown technology")])  # fmt: skip
def test_forbidden_and_unknown_pairs(tech, fuel, why):
    assert why in eecs.check_pair(tech, fuel)


def test_codes_take_ascii_digits_only():
    assert eecs.tech_label("T０２００００") is None
    assert "unknown technology" in eecs.check_pair("T０２００００", "F01050100")
