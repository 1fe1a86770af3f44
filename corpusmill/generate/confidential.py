"""Planting the terms the sample factory declares confidential, with their ground truth.

:class:`ConfidentialPlanter` appends short clauses ("备件供应商：苏州精密轴承有限公司",
"new part SN-2019-04217", "restored recipe R-17, setpoint 185 degC", "contact Mary Lee") to texts
the generator already writes (maintenance descriptions and actions, ticket bodies): no row is
added. Each planted piece is counted by its placeholder and kept verbatim, so a test can check
that every one is redacted (``ground_truth.json`` ``redaction``). Site-limited terms are only
planted on rows of their site. It draws from its own random stream, so the other writers' draws,
and so their files, stay as they were apart from the appended clauses.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

#: PII counter name (:class:`~corpusmill.generate.maintenance.PiiPlanter`) -> placeholder.
PII_PLACEHOLDERS = {"names": "[NAME]", "phones": "[PHONE]", "emails": "[EMAIL]",
                    "id_cards": "[ID_CARD]"}  # fmt: skip


class ConfidentialPlanter:
    """Plants declared confidential terms and counts every piece it plants."""

    def __init__(self, bank: dict[str, Any], rng: random.Random) -> None:
        self.spec = bank["confidential"]
        self.declared = self.spec["declare"]
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.items: set[str] = set()

    def _plant(self, placeholder: str, value: str) -> str:
        self.counts[placeholder] += 1
        self.items.add(value)
        return value

    def _literals(self, kind: str, site: str) -> list[str]:
        here = self.declared.get("sites", {}).get(site, {})
        return [*self.declared.get(kind, []), *here.get(kind, [])]

    def supplier(self, lang: str, site: str) -> str:
        name = self._plant("[SUPPLIER]", self.rng.choice(self._literals("suppliers", site)))
        return self.spec["clauses"][lang]["supplier"].format(supplier=name)

    def serial(self, lang: str) -> str:
        value = f"SN-{self.rng.randint(2015, 2024)}-{self.rng.randint(0, 99999):05d}"
        return self.spec["clauses"][lang]["serial"].format(serial=self._plant("[SERIAL]", value))

    def speed(self, lang: str) -> str:
        value = f"S={self.rng.randrange(1200, 4001, 100)}rpm"
        return self.spec["clauses"][lang]["speed"].format(speed=self._plant("[SETPOINT]", value))

    def recipe(self, lang: str, site: str) -> str:
        if site == "suzhou":
            recipe = f"配方{self.rng.choice('ABCDEF')}-{self.rng.randint(1, 9)}"
        else:
            recipe = f"recipe R-{self.rng.randint(10, 40)}"
        degrees = self.rng.randrange(150, 251, 5)
        temp = f"设定 {degrees}°C" if lang == "zh" else f"setpoint {degrees} degC"
        return self.spec["clauses"][lang]["recipe"].format(
            recipe=self._plant("[RECIPE]", recipe), temp=self._plant("[SETPOINT]", temp)
        )

    def name(self, lang: str) -> str:
        names = self.declared["names"]
        who = self._plant("[NAME]", self.rng.choice(names))
        return self.rng.choice(self.spec["clauses"][lang]["name"]).format(name=who)

    def customer(self, lang: str, site: str) -> str:
        name = self.rng.choice(self._literals("customers", site))
        written = self.spec.get("customer_variants", {}).get(name, name) if lang == "zh" else name
        return self.spec["clauses"][lang]["customer"].format(
            customer=self._plant("[CUSTOMER]", written)
        )

    def clauses(self, lang: str, site: str, picks: set[str]) -> list[str]:
        """The clauses of the kinds in ``picks`` (supplier, serial, speed, recipe, name)."""
        makers = {
            "supplier": lambda: self.supplier(lang, site),
            "serial": lambda: self.serial(lang),
            "speed": lambda: self.speed(lang),
            "recipe": lambda: self.recipe(lang, site),
            "name": lambda: self.name(lang),
        }
        return [makers[k]() for k in makers if k in picks]

    def truth(self, pii: Counter[str]) -> dict[str, Any]:
        """``ground_truth.json``'s ``redaction``: pieces planted per placeholder (the PII
        planter's too) and every confidential piece verbatim."""
        planted = Counter(self.counts)
        for key, placeholder in PII_PLACEHOLDERS.items():
            planted[placeholder] += pii.get(key, 0)
        return {"planted": dict(sorted(planted.items())), "items": sorted(self.items)}
