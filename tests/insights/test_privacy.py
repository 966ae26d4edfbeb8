import pytest

from insights.privacy import mask_personal_data


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at ana.garcia+x@example.co.uk now", "mail me at [email] now"),
        ("card 4111 1111 1111 1111 was charged twice", "card [card] was charged twice"),
        ("card 4111-1111-1111-1111!", "card [card]!"),
        ("call +34 612 345 678 please", "call [phone] please"),
        ("call (555) 123-4567", "call [phone]"),
        ("order 12345 is late", "order 12345 is late"),
        ("I waited 2 hours", "I waited 2 hours"),
    ],
)
def test_personal_data_is_masked(text, expected):
    assert mask_personal_data(text) == expected
