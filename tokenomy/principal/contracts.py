"""Runtime contracts for agents: the contract model and its YAML form.

A contract bounds what an agent may do in the marketplace. It has three lists of rules (the
rule kinds are in :mod:`.contract_rules`)::

    name: careful-shopper
    preconditions:            # must hold before the action; always hard (the action is blocked)
      - {kind: require_items}
    invariants:               # hard (blocked) or soft (let through, then recovered)
      - {kind: max_payment}                    # never pay more than the budget
      - {kind: max_messages_per_counterparty, limit: 3}
      - kind: no_disclosure
        severity: soft
        recovery: correct                      # send a correction to the same counterparty
        repair_within: 2                       # ... within 2 further actions of the agent
        escalate: harden                       # else the rule turns hard for this agent
    governance:               # approval rules; an action they do not approve is blocked
      - {kind: approval_above, amount: 40, approver: principal}
      - {kind: second_proposal_above, amount: 20}

Rule names default to their kind and must be unique within a contract. Amounts are dollars.
:func:`load_contract` reads a file and reports a malformed one as a single
:class:`~tokenomy.errors.DataError` naming the file, the field (e.g. ``invariants.1.limit``),
the value and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomy.errors import DataError
from tokenomy.principal.contract_rules import RULE_KINDS, AnyRule, GovernanceRule, Rule

Section = Literal["precondition", "invariant", "governance"]


class Contract(BaseModel):
    """A named set of preconditions, invariants and governance rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="Contract name")
    description: str = Field(default="", description="What the contract is for")
    preconditions: list[Rule] = Field(default_factory=list, description="Always-hard rules")
    invariants: list[Rule] = Field(default_factory=list, description="Hard or soft rules")
    governance: list[GovernanceRule] = Field(
        default_factory=list, description="Approval rules (blocking)"
    )

    def rules(self) -> Iterator[tuple[Section, AnyRule]]:
        """Every rule with its section, in checking order: preconditions, invariants, governance.

        Governance comes last so that an approver is only asked about actions the other rules
        allow.
        """
        for p in self.preconditions:
            yield "precondition", p
        for i in self.invariants:
            yield "invariant", i
        for g in self.governance:
            yield "governance", g

    def __len__(self) -> int:
        """Number of rules."""
        return len(self.preconditions) + len(self.invariants) + len(self.governance)


_SECTION_KEYS = {
    "precondition": "preconditions",
    "invariant": "invariants",
    "governance": "governance",
}


def _semantic_errors(contract: Contract) -> tuple[str, Any, str] | None:
    """First (field, value, expected) that the schema alone cannot catch, or ``None``."""
    seen: set[str] = set()
    counters: dict[str, int] = {}
    for section, rule in contract.rules():
        key = _SECTION_KEYS[section]
        j = counters.get(key, 0)
        counters[key] = j + 1
        if section != "invariant" and rule.severity != "hard":
            return (
                f"{key}.{j}.severity",
                rule.severity,
                f"'hard' ({key} always block)",
            )
        if rule.label in seen:
            return (
                f"{key}.{j}.name",
                rule.label,
                "a rule name unique within the contract (give repeated kinds a 'name')",
            )
        seen.add(rule.label)
    return None


def contract_from_dict(data: Any, source: str | Path = "<contract>") -> Contract:
    """Validate a contract given as plain data (e.g. parsed YAML).

    Raises:
        DataError: naming ``source``, the offending field, its value and what was expected.
    """
    if not isinstance(data, dict):
        raise DataError(source, None, data, "a mapping with name, preconditions, invariants, ...")
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        # drop pydantic's union tag (the kind name) from the path: invariants.0.max_payment.limit
        if len(loc) >= 3 and loc[0] in _SECTION_KEYS.values() and loc[2] in RULE_KINDS:
            del loc[2]
        raise DataError(source, ".".join(loc) or None, err.get("input"), err["msg"]) from None
    problem = _semantic_errors(contract)
    if problem is not None:
        raise DataError(source, *problem)
    return contract


def load_contract(path: str | Path) -> Contract:
    """Read a contract from a YAML file.

    Raises:
        DataError: the file is missing, not YAML, or not a valid contract (names the field).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            path, None, str(path), f"a readable contract file ({exc.strerror})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(path, None, str(exc).splitlines()[0], "valid YAML") from None
    return contract_from_dict(data, path)


def contract_to_yaml(contract: Contract) -> str:
    """The YAML text of a contract (what :func:`load_contract` reads back to an equal one)."""
    data = contract.model_dump(mode="json", exclude_defaults=True)
    for key in ("preconditions", "invariants", "governance"):
        for raw, rule in zip(data.get(key, []), getattr(contract, key), strict=True):
            raw["kind"] = rule.kind
    return yaml.safe_dump(data, sort_keys=False)
