import doctest

import tokenomy.equilibrium


def test_package_docstring_example_runs():
    failures, tried = doctest.testmod(tokenomy.equilibrium)
    assert tried >= 2 and failures == 0
