"""Trajectories written as formulas of time, evaluated safely.

A trajectory in a spec is a number (a constant), a list of K coefficients (``{coefficients:
[...]}``), or a formula in ``t`` and ``T``: ``"2 + sin(2*pi*t/T)"``, ``"0.5*exp(-t)"``,
``"where(t < T/2, 1, 0.2)"``. Formulas are parsed with :mod:`ast` and only arithmetic, numbers,
``t``, ``T``, ``pi``, ``e`` and a fixed set of NumPy functions are allowed — no names, attributes
or calls beyond those, so a spec file cannot run code.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "tanh": np.tanh,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "min": np.minimum,
    "max": np.maximum,
    "where": np.where,
    "clip": np.clip,
}
_CONSTANTS = {"pi": np.pi, "e": np.e}
_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


class ExpressionError(ValueError):
    """A trajectory formula is not allowed or does not parse."""


def compile_expression(text: str) -> Callable[[np.ndarray, float], np.ndarray]:
    """Compile a formula of ``t`` (array) and ``T`` (horizon) into a vectorised function.

    Raises:
        ExpressionError: the text is not a formula of the allowed form (the message says which
            part is not allowed).
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse formula {text!r}: {exc.msg}") from None

    def check(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            check(node.body)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise ExpressionError(f"only numbers are allowed as constants in {text!r}")
        elif isinstance(node, ast.Name):
            if node.id not in ("t", "T") and node.id not in _CONSTANTS:
                raise ExpressionError(f"unknown name {node.id!r} in {text!r} (use t, T, pi, e)")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(f"operator {type(node.op).__name__} not allowed in {text!r}")
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise ExpressionError(f"operator {type(node.op).__name__} not allowed in {text!r}")
            check(node.operand)
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise ExpressionError(f"only one <, <=, > or >= comparison allowed in {text!r}")
            check(node.left)
            check(node.comparators[0])
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                name = getattr(node.func, "id", ast.dump(node.func))
                raise ExpressionError(
                    f"function {name!r} not allowed in {text!r}; use one of "
                    f"{', '.join(sorted(_FUNCTIONS))}"
                )
            if node.keywords:
                raise ExpressionError(f"keyword arguments are not allowed in {text!r}")
            for arg in node.args:
                check(arg)
        else:
            raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")

    check(tree)

    def evaluate(node: ast.AST, t: np.ndarray, T: float) -> Any:
        if isinstance(node, ast.Expression):
            return evaluate(node.body, t, T)
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id == "t":
                return t
            if node.id == "T":
                return T
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](evaluate(node.left, t, T), evaluate(node.right, t, T))
        if isinstance(node, ast.UnaryOp):
            value = evaluate(node.operand, t, T)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Compare):
            op = _COMPARE[type(node.ops[0])]
            return op(evaluate(node.left, t, T), evaluate(node.comparators[0], t, T))
        assert isinstance(node, ast.Call)
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(evaluate(a, t, T) for a in node.args))

    def function(t: np.ndarray, T: float) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = np.broadcast_to(np.asarray(evaluate(tree, t, T), dtype=np.float64), t.shape)
        if not np.all(np.isfinite(value)):
            raise ExpressionError(f"formula {text!r} is not finite on [0, T]")
        return value

    return function
