"""The shared input checks: what each accepts, what it refuses, and that the refusal names the field."""

import math

import pytest

from memora.exceptions import ValidationError
from memora.services import validation

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), ("3", 3), (-0.0, 0)])
def test_integer_accepts_ints_integral_floats_and_numeric_strings(value, expected):
	result = validation.integer(value, "reps")
	assert result == expected and type(result) is int


@pytest.mark.parametrize("value", [True, False, 2.5, "2.5", "two", None, [], math.nan, math.inf])
def test_integer_refuses_anything_else_naming_the_field(value):
	with pytest.raises(ValidationError) as refused:
		validation.integer(value, "reps")
	assert refused.value.field == "reps"


def test_integer_bounds_apply_to_every_input_type():
	for value in (6, 6.0, "6"):
		with pytest.raises(ValidationError, match="at most 5"):
			validation.integer(value, "last_rating", minimum=0, maximum=5)
	for value in (-1, -1.0, "-1"):
		with pytest.raises(ValidationError, match="at least 0"):
			validation.integer(value, "last_rating", minimum=0, maximum=5)


@pytest.mark.parametrize("value, expected", [(2.5, 2.5), (2, 2.0), ("2.5", 2.5), ("1e3", 1000.0)])
def test_number_accepts_floats_ints_and_numeric_strings(value, expected):
	result = validation.number(value, "stability")
	assert result == expected and type(result) is float


@pytest.mark.parametrize(
	"value", [True, None, "abc", [], math.nan, math.inf, -math.inf, "nan", "inf", 10**400]
)
def test_number_refuses_non_numbers_and_non_finite_values(value):
	with pytest.raises(ValidationError) as refused:
		validation.number(value, "stability")
	assert refused.value.field == "stability"


def test_number_bounds():
	with pytest.raises(ValidationError, match="at least 0"):
		validation.number(-0.5, "stability", minimum=0)
	with pytest.raises(ValidationError, match="greater than 0"):
		validation.number(0.0, "stability", minimum=0, exclusive_minimum=True)
	with pytest.raises(ValidationError, match="at most"):
		validation.number(1e13, "stability", maximum=1e12)
	assert validation.number(0.0, "stability", minimum=0) == 0.0


@pytest.mark.parametrize("value", ["q-1", "数学 🧮", "a\u200bb", "a\x7fb", "tab-free", "in between"])
def test_identifier_accepts_text_without_control_characters(value):
	assert validation.identifier(value, "question_id") == value


@pytest.mark.parametrize("value", [" padded", "padded ", "ana@example.com\u00a0"])
def test_identifier_refuses_surrounding_whitespace(value):
	"""MariaDB compares 'a ' equal to 'a', Redis does not: such an id would name two things."""
	with pytest.raises(ValidationError, match="whitespace"):
		validation.identifier(value, "player")


def test_identifier_turns_ints_into_text():
	assert validation.identifier(42, "question_id") == "42"


@pytest.mark.parametrize("value", ["", "   ", None, True, 1.5, "a\nb", "a\tb", "\x00", "x" * 141])
def test_identifier_refuses_empty_non_text_control_characters_and_overlong(value):
	with pytest.raises(ValidationError) as refused:
		validation.identifier(value, "question_id")
	assert refused.value.field == "question_id"
