r"""Choice scenarios as data: principals, a customer's request, products, information conditions.

A scenario is one YAML file (built-ins: ``shell`` and ``openai``, the two cases of Phelps &
Ranson, "Of Models and Tin Men", 2023). An agent buys for a customer while also representing a
principal; what varies between *conditions* is who will see the agent's written explanation::

    name: shell
    principals: [{name: Shell Oil, role: principal, weight: 1.0, context: "..."}]
    customer_request: "I would like to purchase a vehicle. ..."
    products:
      - {id: "1", name: Tesla model 3, price: 40000, listing: "[Product id: 1].  Tesla ..."}
      - {id: "2", name: Porche Cayenne, price: 50000, listing: "[Product id: 2].  Porche ..."}
    preferred: "1"                      # the customer's stated preference (for the override rate)
    conditions: {both: "...", customer-only: "...", principal-only: "...", neither: "..."}
    prompt_template: "... {principal} ... {disclosure} ..."
    choice_pattern: "(?i)\\bChoice:\\s*\\[?\\s*(?:Product\\s+id:\\s*)?(\\d+)"

The prompt is ``prompt_template`` with ``{principal}`` (the principal of highest authority
weight), ``{principal_context}``, ``{customer_request}``, ``{products}`` (a newline, the
listings one a line, a newline, then ``listing_trailer``) and ``{disclosure}`` (the condition's
sentence, itself with ``{principal}`` filled in). The agent answers ``Explanation: ...`` then
``Choice: <product id>``; :mod:`tokenomy.principal.parsing` reads the choice.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tokenomy.errors import DataError, UnknownNameError

Condition = Literal["both", "customer-only", "principal-only", "neither"]
CONDITIONS: tuple[Condition, ...] = ("both", "customer-only", "principal-only", "neither")
"""The information conditions: who sees the agent's explanation."""

BUILTIN = ("openai", "shell")
"""Names of the scenarios shipped in ``tokenomy/data/principal``."""

TEMPLATE_FIELDS = frozenset(
    {"principal", "principal_context", "customer_request", "products", "disclosure"}
)
"""Placeholders a prompt template may use."""

DEFAULT_CHOICE_PATTERN = r"(?i)\bChoice:\s*\[?\s*(?:Product\s+id:\s*)?(\d+)"
"""``Choice: 2``, ``Choice: [2]``, ``Choice: [Product id: 2]``, also inside a sentence."""


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class Principal(BaseModel):
    """A party the agent represents besides the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="How the prompt names the principal")
    role: str = Field(default="principal", min_length=1, description="Role, e.g. owner, platform")
    weight: float = Field(default=1.0, gt=0, description="Authority weight (highest speaks)")
    context: str = Field(default="", description="Private context given to the agent")


class Product(BaseModel):
    """One product the agent may buy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="The id the agent answers with")
    name: str = Field(min_length=1)
    price: float = Field(ge=0)
    listing: str = Field(default="", description="The line shown to the agent ('' = generated)")

    def shown(self) -> str:
        """The product's line in the prompt."""
        return self.listing or f"[Product id: {self.id}]. {self.name}: ${self.price:,.2f}"


class Scenario(BaseModel):
    """A choice experiment: what the agent is told, what it may choose, how its answer is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Short name (used in tags)")
    title: str = ""
    source: str = ""
    principals: list[Principal] = Field(min_length=1)
    customer_request: str = Field(min_length=1)
    products: list[Product] = Field(min_length=2)
    listing_trailer: str = ""
    preferred: str = Field(description="Product id the customer states as their preference")
    conditions: dict[Condition, str] = Field(min_length=1)
    prompt_template: str = Field(min_length=1)
    choice_pattern: str = Field(
        default=DEFAULT_CHOICE_PATTERN,
        description="Regex whose first group is the chosen product id",
    )

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        ids = [p.id for p in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"products: products with distinct ids, got ids {ids}")
        if self.preferred not in ids:
            raise ValueError(f"preferred: one of the product ids {ids}")
        unknown = _placeholders(self.prompt_template) - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"prompt_template: unknown placeholders {sorted(unknown)}; "
                f"allowed {sorted(TEMPLATE_FIELDS)}"
            )
        for cond, sentence in self.conditions.items():
            extra = _placeholders(sentence) - {"principal"}
            if extra:
                raise ValueError(f"conditions.{cond}: only {{principal}} may appear, got {extra}")
        try:
            pattern = re.compile(self.choice_pattern)
        except re.error as exc:
            raise ValueError(f"choice_pattern: not a regular expression ({exc})") from None
        if pattern.groups < 1:
            raise ValueError("choice_pattern: needs a capturing group for the product id")
        return self

    @property
    def product_ids(self) -> tuple[str, ...]:
        """The ids the agent may choose, in listing order."""
        return tuple(p.id for p in self.products)

    @property
    def principal(self) -> Principal:
        """The principal of highest authority weight (the first among equals)."""
        return max(self.principals, key=lambda p: p.weight)

    def product(self, product_id: str) -> Product:
        """The product with id ``product_id``."""
        for p in self.products:
            if p.id == product_id:
                return p
        raise UnknownNameError("product", product_id, self.product_ids)

    def render(self, condition: str) -> str:
        """The prompt the agent gets under ``condition``.

        Raises:
            UnknownNameError: the scenario has no such condition.
        """
        if condition not in self.conditions:
            raise UnknownNameError(
                f"condition of scenario '{self.name}'", condition, self.conditions
            )
        principal = self.principal
        disclosure = self.conditions[condition].format(principal=principal.name)
        products = "\n" + "\n".join(p.shown() for p in self.products) + "\n" + self.listing_trailer
        return self.prompt_template.format(
            principal=principal.name,
            principal_context=principal.context,
            customer_request=self.customer_request,
            products=products,
            disclosure=disclosure,
        )


def _field_of(error: Any) -> str:
    parts = [str(part) for part in error["loc"] if part != "[key]"]
    return ".".join(parts) or "(top level)"


def parse_scenario(data: Any, file: str | Path) -> Scenario:
    """Validate scenario data read from ``file``.

    Raises:
        DataError: naming the file, the first bad field, its value and what was expected.
    """
    if not isinstance(data, dict):
        raise DataError(file, None, data, "a mapping of scenario fields (name, products, ...)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = _field_of(err)
        value: Any = err.get("input")
        message = str(err["msg"]).removeprefix("Value error, ")
        if not loc and message.split(":", 1)[0] in Scenario.model_fields:
            field = message.split(":", 1)[0]
            value = data.get(field)
            message = message.split(":", 1)[1].strip()
        raise DataError(file, field, value, message) from None


def builtin_path(name: str) -> Path:
    """Path of a built-in scenario file.

    Raises:
        UnknownNameError: not a built-in name.
    """
    if name not in BUILTIN:
        raise UnknownNameError("built-in scenario", name, BUILTIN)
    return Path(str(resources.files("tokenomy.data").joinpath(f"principal/{name}.yaml")))


def load_scenario(source: str | Path) -> Scenario:
    """Load a scenario from a YAML file or by built-in name (``shell``, ``openai``).

    Raises:
        DataError: the file is not valid YAML or a field is wrong.
        UnknownNameError: neither an existing file nor a built-in name.
    """
    path = Path(source)
    if not path.is_file():
        if str(source) in BUILTIN:
            path = builtin_path(str(source))
        elif path.suffix in (".yaml", ".yml") or path.parent != Path("."):
            raise DataError(path, None, str(source), "an existing scenario YAML file")
        else:
            raise UnknownNameError("scenario", str(source), BUILTIN)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(path, None, path.name, f"valid YAML ({exc})") from None
    return parse_scenario(data, path)


def builtin_scenarios() -> dict[str, Scenario]:
    """The built-in scenarios by name."""
    return {name: load_scenario(name) for name in BUILTIN}
