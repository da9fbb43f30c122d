import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.datahub import gsrn


@pytest.mark.parametrize("valid", ["571313000000000006", "571313113162139726"])
def test_valid_gsrns(valid):
    assert gsrn.validate(valid) == valid


@pytest.mark.parametrize("invalid", ["571313000000000007", "571313113162139725", "57131300000000000",
                                     "5713130000000000060", "57131300000000000a", " 571313000000000006",
                                     "５７１３１３０００００００００００６", 571313000000000006, None, ""])  # fmt: skip
def test_invalid_gsrns(invalid):
    with pytest.raises(gsrn.InvalidGSRN):
        gsrn.validate(invalid)


def test_the_published_example():
    assert gsrn.check_digit("57131300000000000") == 6


@given(st.text("0123456789", min_size=17, max_size=17), st.integers(0, 9))
def test_exactly_one_check_digit_fits(first17, digit):
    made = gsrn.make(first17)
    assert gsrn.validate(made) == made
    candidate = first17 + str(digit)
    if candidate != made:
        with pytest.raises(gsrn.InvalidGSRN):
            gsrn.validate(candidate)


@given(st.text("0123456789", min_size=18, max_size=18), st.data())
def test_a_single_changed_digit_is_caught(valid_base, data):
    made = gsrn.make(valid_base[:17])
    position = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != made[position]]))
    with pytest.raises(gsrn.InvalidGSRN):
        gsrn.validate(made[:position] + other + made[position + 1 :])
