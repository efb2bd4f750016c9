"""The checked-in broken inputs (with expected.json) and the tests of every kind of hostile input."""
