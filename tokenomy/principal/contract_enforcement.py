"""Enforcing a contract on a marketplace agent, and the log of what enforcement did.

:class:`ContractedPolicy` wraps any :class:`~tokenomy.market.policies.interface.AgentPolicy`.
Every :class:`~tokenomy.market.policies.interface.Act` the wrapped policy returns is checked
against the contract at the moment the policy decides it, on the agent's tracked state (what it
has spent, messaged, searched and learned, counting actions already allowed and pending):

* **hard** violation (any precondition, a hard invariant, an unsatisfied governance rule): the
  action is never executed; the wrapped policy is told at once through
  ``on_result(now, action, Rejected(reason="contract <name>: <rule>: ..."))`` and whatever it
  does instead is checked in turn;
* **soft** violation: the action goes through and the rule's ``recovery`` runs:

  - ``notify`` — the principal is notified (a ``recovery`` row in the log); repaired at once;
  - ``correct`` — a correction message (the rule's ``correction`` text) is sent to the same
    counterparty 1 ms after the action (it is checked like any action); repaired when it is
    delivered. An action with no counterparty (a search) falls back to ``notify``;
  - ``cancel`` — the action is not executed after all (the policy gets a ``Rejected`` saying
    so); repaired at once;
  - ``finish`` — the action executes, then the agent's episode ends
    (``Done("contract_finish:<rule>")``); repaired by ending.

  A soft violation not repaired by the time ``repair_within`` (k) further actions of the agent
  have returned — or by the end of its episode — **escalates**: it is counted as a failure to
  repair, and by the rule's ``escalate`` either the agent is stopped at once
  (``Done("contract_escalated:<rule>")``) or the rule becomes hard for this agent.

:class:`ContractLog` records every check (counted per agent and per rule) and every violation,
block, recovery, repair and escalation (one row each, with time, agent, rule, severity and a
summary of the action); :meth:`ContractLog.to_table` and :meth:`ContractLog.summary` are what a
run folder stores, :func:`contract_sections` what the HTML report shows.
"""

from __future__ import annotations

import fnmatch
import html
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tokenomy.market.money import format_dollars, micro_of
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    AgentPolicy,
    Done,
    PolicyFactory,
    Step,
    Timer,
)
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    FetchMessages,
    FetchResult,
    OrderProposal,
    Payment,
    ReceivedMessage,
    Rejected,
    Search,
    SendMessage,
    SendResult,
    TextMessage,
)
from tokenomy.principal.contract_rules import (
    AgentState,
    AnyRule,
    Approver,
    KnownProposal,
    payment_amount,
)
from tokenomy.principal.contracts import Contract, Section
from tokenomy.report.builder import Section as ReportSection
from tokenomy.report.builder import TableBlock

EVENTS = ("violation", "recovery", "repaired", "escalation")
"""Kinds of rows in the contract log."""

_COUNT_KEYS = (
    "checks",
    "violations",
    "hard",
    "soft",
    "blocks",
    "cancelled",
    "recoveries",
    "repaired",
    "escalations",
)

MAX_BLOCKS_PER_CALLBACK = 100
"""A policy that keeps proposing blocked actions within one callback is stopped after this many."""


# ------------------------------------------------------------------------------ the log


def describe(action: Action, state: AgentState | None = None) -> str:
    """A one-line summary of an action for the log (texts cut to 60 characters)."""

    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    if isinstance(action, Search):
        return f"search {cut(action.query)!r}"
    if isinstance(action, FetchMessages):
        return "fetch messages"
    body = action.message
    to = action.to_agent_id
    if isinstance(body, Payment):
        amount = None if state is None else payment_amount(action, state)
        shown = "" if amount is None else f" (${format_dollars(amount)})"
        return f"pay {to} proposal #{body.proposal_message_id}{shown}"
    if isinstance(body, OrderProposal):
        return f"propose to {to} ${body.total_price:.2f}"
    return f"text to {to}: {cut(body.content)!r}"


class ContractLog:
    """Every check, violation, block, recovery, repair and escalation of a run.

    Checks are counted (per agent and per rule); everything else is one row.
    """

    def __init__(self) -> None:
        self._rows: dict[str, list[Any]] = {
            k: []
            for k in (
                "time_ms",
                "agent_id",
                "contract",
                "rule",
                "kind",
                "section",
                "severity",
                "event",
                "outcome",
                "action",
                "detail",
            )
        }
        self._agent: dict[str, Counter[str]] = {}
        self._rule: dict[str, Counter[str]] = {}

    def _bump(self, agent: str, rule: str | None, key: str, n: int = 1) -> None:
        self._agent.setdefault(agent, Counter())[key] += n
        if rule is not None:
            self._rule.setdefault(rule, Counter())[key] += n

    def record_check(self, agent: str, rules: list[str]) -> None:
        """One action of ``agent`` was checked against ``rules``."""
        self._bump(agent, None, "checks")
        for r in rules:
            self._rule.setdefault(r, Counter())["checks"] += 1

    def record(
        self,
        *,
        time_ms: int,
        agent_id: str,
        contract: str,
        rule: AnyRule,
        section: Section,
        severity: str,
        event: str,
        outcome: str,
        action: str,
        detail: str,
    ) -> None:
        """Add one row (``event`` is one of :data:`EVENTS`) and update the counts."""
        values = (
            time_ms,
            agent_id,
            contract,
            rule.label,
            rule.kind,
            section,
            severity,
            event,
            outcome,
            action,
            detail,
        )
        for key, value in zip(self._rows, values, strict=True):
            self._rows[key].append(value)
        label = rule.label
        if event == "violation":
            self._bump(agent_id, label, "violations")
            self._bump(agent_id, label, severity)
            if outcome == "blocked":
                self._bump(agent_id, label, "blocks")
            elif outcome == "cancelled":
                self._bump(agent_id, label, "cancelled")
        elif event == "recovery":
            self._bump(agent_id, label, "recoveries")
        elif event == "repaired":
            self._bump(agent_id, label, "repaired")
        elif event == "escalation":
            self._bump(agent_id, label, "escalations")

    def __len__(self) -> int:
        """Number of rows."""
        return len(self._rows["time_ms"])

    @staticmethod
    def _counts(table: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
        return {k: {c: int(table[k][c]) for c in _COUNT_KEYS} for k in sorted(table)}

    def by_agent(self) -> dict[str, dict[str, int]]:
        """Counts per agent: checks, violations, hard, soft, blocks, cancelled, recoveries, ..."""
        return self._counts(self._agent)

    def by_rule(self) -> dict[str, dict[str, int]]:
        """The same counts per rule name."""
        return self._counts(self._rule)

    def to_table(self) -> pa.Table:
        """The rows as an Arrow table (one row per violation, recovery, repair, escalation)."""
        schema = pa.schema(
            [
                ("time_ms", pa.int64()),
                *((k, pa.string()) for k in list(self._rows)[1:]),
            ]
        )
        return pa.table({k: pa.array(v, schema.field(k).type) for k, v in self._rows.items()})

    def summary(self) -> dict[str, Any]:
        """JSON-ready totals, counts per agent and per rule."""
        agents = self.by_agent()
        totals = {k: sum(a[k] for a in agents.values()) for k in _COUNT_KEYS}
        return {
            "agents": len(agents),
            "totals": totals,
            "by_agent": agents,
            "by_rule": self.by_rule(),
        }


# ------------------------------------------------------------------------------ enforcement


@dataclass
class _Obligation:
    """A soft violation awaiting repair."""

    rule: AnyRule
    section: Section
    trigger: Action
    remaining: int
    started: bool = False
    open: bool = True


def _reply_items(text: str) -> tuple[list[str], list[str]] | None:
    """Items a business said it has / lacks, from a reply in the scripted layout."""
    lines = text.split("\n")
    if "Items:" not in lines:
        return None
    have: list[str] = []
    lack: list[str] = []
    for line in lines[lines.index("Items:") + 1 :]:
        if not line.startswith("- "):
            break
        name, _, answer = line[2:].rpartition(": ")
        if answer == "available":
            have.append(name)
        elif answer == "not available":
            lack.append(name)
    return have, lack


class ContractedPolicy:
    """An agent policy that enforces ``contract`` on the actions of ``inner``.

    Args:
        inner: the wrapped policy.
        contract: the contract.
        ctx: the agent's context (its profile gives the principal's items, WTP and budget).
        log: where checks and violations are recorded.
        approvers: governance callbacks by name (see ``approval_above``).
    """

    def __init__(
        self,
        inner: AgentPolicy,
        contract: Contract,
        ctx: AgentContext,
        log: ContractLog,
        approvers: Mapping[str, Approver] | None = None,
    ) -> None:
        self.inner = inner
        self.contract = contract
        self.ctx = ctx
        self.log = log
        self.state = AgentState.of_profile(ctx.agent_id, ctx.profile, approvers)
        self.hardened: set[str] = set()
        self.obligations: list[_Obligation] = []
        self.stopped = False
        self._rules = list(contract.rules())
        self._labels = [r.label for _, r in self._rules]
        self._corrections: dict[int, tuple[Action, _Obligation]] = {}
        self._finish_after: dict[int, tuple[Action, str]] = {}
        self._seen_messages: set[int] = set()

    # -------------------------------------------------------------- callbacks
    def on_start(self, now: int) -> list[Step]:
        """Start the inner policy; check what it wants to do."""
        return self._filter(now, self.inner.on_start(now))

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Track the result; close repairs; pass it on to the inner policy."""
        if self.stopped:
            return []
        key = id(action)
        self._observe_result(action, result)
        correction = self._corrections.pop(key, None)
        if correction is not None:
            ob = correction[1]
            if isinstance(result, SendResult) and ob.open:
                ob.open = False
                self._row(now, ob.rule, ob.section, "soft", "repaired", "delivered", action, "")
            return []
        steps = self.inner.on_result(now, action, result)
        finish = self._finish_after.pop(key, None)
        if finish is not None:
            for ob in self.obligations:
                if ob.open and ob.trigger is action:
                    ob.open = False
                    self._row(now, ob.rule, ob.section, "soft", "repaired", "finished", action, "")
            return self._stop(now, f"contract_finish:{finish[1]}")
        escalated = self._advance(now, action)
        if escalated is not None:
            return escalated
        return self._filter(now, steps)

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Learn from the message; pass it on."""
        if self.stopped:
            return []
        self._observe_message(message)
        return self._filter(now, self.inner.on_message(now, message))

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """Pass the timer on."""
        if self.stopped:
            return []
        return self._filter(now, self.inner.on_timer(now, tag))

    # -------------------------------------------------------------- tracking
    def _observe_message(self, message: ReceivedMessage) -> None:
        if message.message_id in self._seen_messages:
            return
        self._seen_messages.add(message.message_id)
        sender, body = message.from_agent_id, message.message
        if isinstance(body, OrderProposal):
            items = frozenset(line.item_name for line in body.items)
            self.state.proposals[message.message_id] = KnownProposal(
                sender, micro_of(body.total_price), items
            )
            self.state.proposers.add(sender)
            self.state.learn_items(sender, items, ())
        elif isinstance(body, TextMessage):
            told = _reply_items(body.content)
            if told is not None:
                self.state.learn_items(sender, *told)

    def _reserve(self, action: Action, sign: int) -> None:
        s = self.state
        if isinstance(action, Search):
            s.searches += sign
        elif isinstance(action, SendMessage):
            to = action.to_agent_id
            s.messages_to[to] = s.messages_to.get(to, 0) + sign
            amount = payment_amount(action, s)
            if amount is not None:
                s.spent_micro += sign * amount

    def _observe_result(self, action: Action, result: ActionResult) -> None:
        if isinstance(result, Rejected):
            self._reserve(action, -1)
        elif isinstance(result, FetchResult):
            for m in result.messages:
                self._observe_message(m)

    # -------------------------------------------------------------- checking
    def _row(
        self,
        now: int,
        rule: AnyRule,
        section: Section,
        severity: str,
        event: str,
        outcome: str,
        action: Action,
        detail: str,
    ) -> None:
        self.log.record(
            time_ms=now,
            agent_id=self.ctx.agent_id,
            contract=self.contract.name,
            rule=rule,
            section=section,
            severity=severity,
            event=event,
            outcome=outcome,
            action=describe(action, self.state),
            detail=detail,
        )

    def violations(self, now: int, action: Action) -> list[tuple[Section, AnyRule, bool, str]]:
        """Every rule ``action`` breaks: ``(section, rule, hard, reason)``.

        Governance is consulted only when no hard rule already blocks the action.
        """
        self.state.now = now
        found: list[tuple[Section, AnyRule, bool, str]] = []
        blocked = False
        for section, rule in self._rules:
            if section == "governance" and blocked:
                continue
            reason = rule.check(action, self.state)
            if reason is None:
                continue
            hard = section != "invariant" or rule.severity == "hard" or rule.label in self.hardened
            blocked = blocked or hard
            found.append((section, rule, hard, reason))
        return found

    def _filter(self, now: int, steps: list[Step]) -> list[Step]:
        out: list[Step] = []
        self._filter_into(now, steps, out, [0])
        return out

    def _filter_into(self, now: int, steps: list[Step], out: list[Step], blocks: list[int]) -> bool:
        """Append the allowed steps to ``out``; ``True`` once a ``Done`` was appended."""
        for step in steps:
            if self.stopped:
                return True
            if isinstance(step, Done):
                self._end(now)
                out.append(step)
                return True
            if isinstance(step, Timer):
                out.append(step)
                continue
            action = step.action
            self.log.record_check(self.ctx.agent_id, self._labels)
            found = self.violations(now, action)
            hard = [v for v in found if v[2]]
            if hard:
                for section, rule, _, reason in hard:
                    self._row(now, rule, section, "hard", "violation", "blocked", action, reason)
                blocks[0] += 1
                if blocks[0] > MAX_BLOCKS_PER_CALLBACK:
                    out.extend(self._stop(now, "contract_blocked_repeatedly"))
                    return True
                section, rule, _, reason = hard[0]
                rejected = Rejected(reason=f"contract {self.contract.name}: {rule.label}: {reason}")
                more = self.inner.on_result(now, action, rejected)
                if self._filter_into(now, more, out, blocks):
                    return True
                continue
            cancel = next((v for v in found if v[1].recovery == "cancel"), None)
            for section, rule, _, reason in found:
                outcome = "cancelled" if cancel is not None else "allowed"
                self._row(now, rule, section, "soft", "violation", outcome, action, reason)
            if cancel is not None:
                for section, rule, _, _ in found:
                    self._row(now, rule, section, "soft", "recovery", "cancel", action, "")
                    self._row(now, rule, section, "soft", "repaired", "cancelled", action, "")
                reason = f"contract {self.contract.name}: {cancel[1].label}: cancelled: {cancel[3]}"
                more = self.inner.on_result(now, action, Rejected(reason=reason))
                if self._filter_into(now, more, out, blocks):
                    return True
                continue
            self._reserve(action, +1)
            out.append(step)
            for section, rule, _, _ in found:
                self._recover(now, step, section, rule, out)
        return False

    def _recover(
        self, now: int, step: Act, section: Section, rule: AnyRule, out: list[Step]
    ) -> None:
        action = step.action
        kind = rule.recovery
        if kind == "correct" and not isinstance(action, SendMessage):
            kind = "notify"
        self._row(now, rule, section, "soft", "recovery", kind, action, "")
        if kind == "notify":
            self._row(now, rule, section, "soft", "repaired", "notified", action, "")
            return
        ob = _Obligation(rule, section, action, rule.repair_within)
        self.obligations.append(ob)
        if kind == "finish":
            self._finish_after[id(action)] = (action, rule.label)
            return
        assert isinstance(action, SendMessage)
        fix = SendMessage(
            to_agent_id=action.to_agent_id, message=TextMessage(content=rule.correction)
        )
        self.log.record_check(self.ctx.agent_id, self._labels)
        found = self.violations(now, fix)
        if any(v[2] for v in found):
            for sec, r, _, reason in found:
                self._row(now, r, sec, "hard", "violation", "blocked", fix, reason)
            return
        self._reserve(fix, +1)
        self._corrections[id(fix)] = (fix, ob)
        out.append(Act(step.delay_ms + 1, fix))

    def _advance(self, now: int, action: Action) -> list[Step] | None:
        """Count one returned action against open obligations; escalate any that ran out."""
        for ob in self.obligations:
            if not ob.open:
                continue
            if ob.trigger is action:
                ob.started = True
                continue
            if not ob.started:
                continue
            ob.remaining -= 1
            if ob.remaining <= 0:
                stop = self._escalate(now, ob)
                if stop is not None:
                    return stop
        self.obligations = [ob for ob in self.obligations if ob.open]
        return None

    def _escalate(self, now: int, ob: _Obligation) -> list[Step] | None:
        ob.open = False
        rule = ob.rule
        detail = f"not repaired within {rule.repair_within} steps"
        self._row(now, rule, ob.section, "soft", "escalation", rule.escalate, ob.trigger, detail)
        if rule.escalate == "harden":
            self.hardened.add(rule.label)
            return None
        return self._stop(now, f"contract_escalated:{rule.label}")

    def _end(self, now: int) -> None:
        """The episode ends: every soft violation still open failed to be repaired."""
        for ob in self.obligations:
            if ob.open:
                ob.open = False
                rule = ob.rule
                self._row(
                    now,
                    rule,
                    ob.section,
                    "soft",
                    "escalation",
                    "episode_ended",
                    ob.trigger,
                    "not repaired before the episode ended",
                )
        self.obligations = []

    def _stop(self, now: int, note: str) -> list[Step]:
        self._end(now)
        self.stopped = True
        return [Done(note)]


def contracted_factories(
    customer_factory: PolicyFactory,
    business_factory: PolicyFactory,
    contract_for: Callable[[str], Contract | None],
    log: ContractLog,
    approvers: Mapping[str, Approver] | None = None,
) -> tuple[PolicyFactory, PolicyFactory]:
    """Wrap the policies of the agents ``contract_for`` gives a contract (``None``: unwrapped).

    Returns:
        ``(customer_factory, business_factory)`` for the event engine.
    """

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        def build(ctx: AgentContext) -> AgentPolicy:
            inner = factory(ctx)
            contract = contract_for(ctx.agent_id)
            if contract is None:
                return inner
            return ContractedPolicy(inner, contract, ctx, log, approvers)

        return build

    return wrap(customer_factory), wrap(business_factory)


def contract_for_agents(contract: Contract, pattern: str = "*") -> Callable[[str], Contract | None]:
    """``contract_for`` giving ``contract`` to every agent whose id matches the glob ``pattern``."""

    def pick(agent_id: str) -> Contract | None:
        return contract if fnmatch.fnmatchcase(agent_id, pattern) else None

    return pick


# ------------------------------------------------------------------------------ report


def _table_html(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def contract_sections(
    summary: dict[str, Any], table: pa.Table, max_rows: int = 100
) -> list[ReportSection]:
    """The report section on contracts: totals, counts per agent and per rule, the first rows.

    Args:
        summary: :meth:`ContractLog.summary`.
        table: :meth:`ContractLog.to_table`.
        max_rows: how many log rows to show.
    """
    t = summary["totals"]
    findings = [
        f"{summary['agents']} contracted agents; {t['checks']:,} actions checked.",
        f"{t['violations']:,} violations: {t['hard']:,} hard (all blocked: {t['blocks']:,} "
        f"blocks), {t['soft']:,} soft ({t['cancelled']:,} cancelled by recovery).",
        f"{t['recoveries']:,} recoveries, {t['repaired']:,} repaired, {t['escalations']:,} "
        f"escalations (soft violations not repaired in time).",
    ]
    columns = list(_COUNT_KEYS)
    per_agent = [[a, *(c[k] for k in columns)] for a, c in summary["by_agent"].items()]
    per_rule = [[r, *(c[k] for k in columns)] for r, c in summary["by_rule"].items()]
    shown = table.slice(0, max_rows).to_pylist()
    names = table.column_names
    rows = [[row[n] for n in names] for row in shown]
    return [
        ReportSection(
            title="Contracts",
            intro=(
                "Runtime contracts checked before every action of the contracted agents: hard "
                "violations are blocked, soft ones let through and recovered."
            ),
            findings=findings,
            tables=[
                TableBlock("Per agent", _table_html(["agent", *columns], per_agent)),
                TableBlock("Per rule", _table_html(["rule", *columns], per_rule)),
                TableBlock(
                    f"Log (first {min(max_rows, table.num_rows)} of {table.num_rows} rows)",
                    _table_html(names, rows),
                ),
            ],
        )
    ]
