"""Routing tasks along a DAG: the flow polytope and the softmax (entropy-regularised) policy.

A unit of task flow leaves ``source`` and reaches ``sink``; at each node it splits among the
node's successors. With node scores σ_v (the per-task net value of passing through v), the
orchestrator maximises

    Σ_v φ_v σ_v + H(f)/β,    H(f) = −Σ_e f_e log(f_e / φ_tail(e))

(φ_v: flow through v; H: the entropy of the path distribution). Its solution is the softmax
policy of the theory, π⁺ = softmax_β(V·s): with the soft value-to-go

    V(sink) = 0,   V(u) = (1/β) log Σ_{u→v} exp(β (σ_v + V(v))),

node u sends the share exp(β (σ_v + V(v) − V(u))) of its flow to v, and the optimal value is
V(source). Both passes run level by level over the DAG with array operations, so a DAG of
thousands of agents costs a few NumPy calls per level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Route:
    """A routing: node flows, edge flows and edge shares, with its objective value."""

    node_flow: FloatArray  # (nodes,), source = 1
    edge_flow: FloatArray  # (edges,)
    share: FloatArray  # (edges,)
    value: float  # Σ φ σ + H/β
    entropy: float


@dataclass(frozen=True, eq=False)
class DAG:
    """A DAG with node 0 = source and node n−1 = sink; ``names`` label all nodes."""

    names: list[str]
    tail: IntArray
    head: IntArray

    @classmethod
    def from_edges(cls, edges: list[tuple[str, str]], agents: list[str]) -> DAG:
        """Build from named edges; node order: source, the agents in the graph, sink."""
        used = {n for e in edges for n in e}
        names = ["source", *[a for a in agents if a in used], "sink"]
        index = {n: i for i, n in enumerate(names)}
        tail = np.asarray([index[u] for u, _ in edges], np.int64)
        head = np.asarray([index[v] for _, v in edges], np.int64)
        order = np.lexsort((head, tail))
        return cls(names, tail[order], head[order])

    @property
    def n_nodes(self) -> int:
        """Number of nodes (source and sink included)."""
        return len(self.names)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.tail)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The networkx graph (node labels are names)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.names)
        g.add_edges_from(
            (self.names[u], self.names[v]) for u, v in zip(self.tail, self.head, strict=True)
        )
        return g

    @cached_property
    def _levels(self) -> tuple[list[IntArray], list[IntArray]]:
        """Edges grouped for the backward pass (by tail height) and the forward pass.

        The forward pass groups by head depth; heights and depths are longest-path distances
        to the sink and from the source.
        """
        n = self.n_nodes
        order = list(
            nx.topological_sort(
                nx.DiGraph(list(zip(self.tail.tolist(), self.head.tolist(), strict=True)))
            )
        )
        height = np.zeros(n, np.int64)
        for u in reversed(order):
            succ = self.head[self.tail == u]
            if len(succ):
                height[u] = 1 + height[succ].max()
        depth = np.zeros(n, np.int64)
        for v in order:
            pred = self.tail[self.head == v]
            if len(pred):
                depth[v] = 1 + depth[pred].max()
        back = [np.flatnonzero(height[self.tail] == h) for h in range(1, height.max() + 1)]
        fwd = [np.flatnonzero(depth[self.head] == d) for d in range(1, depth.max() + 1)]
        return back, fwd

    def route(self, scores: FloatArray, beta: float) -> Route:
        """The softmax_β routing for node scores (per task; source and sink scores ignored)."""
        n = self.n_nodes
        sc = np.asarray(scores, np.float64).copy()
        sc[0] = 0.0
        sc[-1] = 0.0
        value = np.zeros(n)
        logits = np.zeros(self.n_edges)
        back, fwd = self._levels
        for edges in back:
            t = self.tail[edges]
            z = beta * (sc[self.head[edges]] + value[self.head[edges]])
            logits[edges] = z
            # segment log-sum-exp by tail (edges are sorted by tail)
            starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
            zmax = np.maximum.reduceat(z, starts)
            total = np.add.reduceat(
                np.exp(z - np.repeat(zmax, np.diff(np.r_[starts, len(t)]))), starts
            )
            value[t[starts]] = (zmax + np.log(total)) / beta
        share = np.exp(logits - beta * value[self.tail])
        flow = np.zeros(n)
        flow[0] = 1.0
        edge_flow = np.zeros(self.n_edges)
        for edges in fwd:
            edge_flow[edges] = flow[self.tail[edges]] * share[edges]
            np.add.at(flow, self.head[edges], edge_flow[edges])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(edge_flow > 0, edge_flow * np.log(share), 0.0)
        entropy = float(-terms.sum())
        return Route(flow, edge_flow, share, float(value[0]), entropy)

    def entropy(self, edge_flow: FloatArray) -> float:
        """H(f) = −Σ f_e log(f_e / φ_tail(e)) of a feasible flow."""
        out = np.zeros(self.n_nodes)
        np.add.at(out, self.tail, edge_flow)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(edge_flow > 0, edge_flow * np.log(edge_flow / out[self.tail]), 0.0)
        return float(-terms.sum())

    def node_flow(self, edge_flow: FloatArray) -> FloatArray:
        """φ_v = inflow (source: outflow)."""
        flow = np.zeros(self.n_nodes)
        np.add.at(flow, self.head, edge_flow)
        flow[0] = float(edge_flow[self.tail == 0].sum())
        return flow

    def paths(self, limit: int = 10_000) -> list[list[int]]:
        """All source→sink paths as node-index lists (for sampling checks on small DAGs)."""
        g = nx.DiGraph(list(zip(self.tail.tolist(), self.head.tolist(), strict=True)))
        out = []
        for p in nx.all_simple_paths(g, 0, self.n_nodes - 1):
            out.append(p)
            if len(out) >= limit:
                break
        return out
