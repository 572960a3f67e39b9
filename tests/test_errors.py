"""Which exceptions mean what: data and configuration errors are never "bad input"."""
import pytest

from visitorapi.domains import PatternError
from visitorapi.errors import OperatorError
from visitorapi.ipdb import InvalidDatabaseError
from visitorapi.ipdb.sources import SourceError


@pytest.mark.parametrize("error", [PatternError, SourceError, InvalidDatabaseError])
def test_data_errors_are_operator_errors_and_never_value_errors(error):
    """``except ValueError`` means "the caller's input is malformed" (an address, a
    number): a bad pattern, CSV or database file must never be caught as that."""
    assert issubclass(error, OperatorError)
    assert not issubclass(error, ValueError)
