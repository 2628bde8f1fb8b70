"""The structural causal model of world/scm.json: sampling, exact counterfactuals with the same exogenous noise.

Each attribute's value is the inverse CDF of its table row (chosen by its parents' values) at its own exogenous
noise u in [0, 1), in the order of its values. core/world/scm.ts implements the same rule; both read scm.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SCM_PATH = Path(__file__).resolve().parent.parent / "scm.json"


class WorldInputError(ValueError):
    """Bad input (unknown attribute or value, malformed files): the message names the field and what was expected."""


@dataclass(frozen=True)
class Attribute:
    id: str
    name: str
    description: str
    values: tuple[str, ...]
    phrases: dict[str, str]
    parents: tuple[str, ...]
    table: tuple[dict, ...]
    region: str | None

    def mechanism(self, parent_values: dict[str, str], u: float) -> str:
        for row in self.table:
            if all(parent_values[k] == v for k, v in row["when"].items()):
                acc = 0.0
                for value in self.values:
                    acc += row["p"].get(value, 0.0)
                    if u < acc:
                        return value
                return next(v for v in reversed(self.values) if row["p"].get(v, 0.0) > 0)
        raise WorldInputError(f"{self.id}: no table row for parents {parent_values}")


class Scm:
    def __init__(self, spec: dict):
        self.spec = spec
        self.attributes = [
            Attribute(
                id=a["id"],
                name=a["name"],
                description=a["description"],
                values=tuple(a["values"]),
                phrases=dict(a["phrases"]),
                parents=tuple(a["parents"]),
                table=tuple(a["table"]),
                region=a["region"],
            )
            for a in spec["attributes"]
        ]
        self.by_id = {a.id: a for a in self.attributes}
        self.order = self._topological_order()

    @staticmethod
    def load(path: Path = SCM_PATH) -> Scm:
        return Scm(json.loads(Path(path).read_text()))

    def _topological_order(self) -> list[str]:
        done: list[str] = []
        pending = [a.id for a in self.attributes]
        while pending:
            ready = [i for i in pending if all(p in done for p in self.by_id[i].parents)]
            if not ready:
                raise WorldInputError(f"scm.json: cycle among {pending}")
            done += ready
            pending = [i for i in pending if i not in ready]
        return done

    def children(self, attr: str) -> list[str]:
        return [a.id for a in self.attributes if attr in a.parents]

    def descendants(self, attr: str) -> list[str]:
        out: list[str] = []
        stack = self.children(attr)
        while stack:
            c = stack.pop(0)
            if c not in out:
                out.append(c)
                stack += self.children(c)
        return [i for i in self.order if i in out]

    def check_do(self, do: dict[str, str]) -> None:
        for k, v in do.items():
            if k not in self.by_id:
                raise WorldInputError(f"do(): unknown attribute {k!r}; expected one of {', '.join(self.by_id)}")
            if v not in self.by_id[k].values:
                allowed = ", ".join(self.by_id[k].values)
                raise WorldInputError(f"do({k}): value {v!r} is not allowed by the SCM; expected one of {allowed}")

    def solve(self, noise: dict[str, float], do: dict[str, str] | None = None) -> dict[str, str]:
        """Values of every attribute given the exogenous noise, with `do` overriding mechanisms."""
        do = do or {}
        self.check_do(do)
        values: dict[str, str] = {}
        for i in self.order:
            a = self.by_id[i]
            values[i] = do[i] if i in do else a.mechanism({p: values[p] for p in a.parents}, noise[i])
        return values

    def counterfactual(self, noise: dict[str, float], do: dict[str, str]) -> dict[str, str]:
        return self.solve(noise, do)
