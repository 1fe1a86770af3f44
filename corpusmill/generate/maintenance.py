"""``maintenance_logs``: Suzhou's CMMS work orders as JSONL, and the planting of personal data.

:class:`PiiPlanter` is shared with the service tickets, so ``ground_truth.json`` counts every
planted name, phone number, e-mail and ID-card number across both sources. The declared
confidential terms (suppliers, serials, setpoints, recipes, declared names) are planted by
:class:`~corpusmill.generate.confidential.ConfidentialPlanter` into the same texts.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from corpusmill.generate.confidential import ConfidentialPlanter
from corpusmill.generate.plant import (
    MACHINE,
    MACHINES,
    SCADA_ALIASES,
    SHANGHAI,
    UTC,
    Plan,
    local_midnight,
    rng_for,
)
from corpusmill.generate.truth import Written, tally_for


class PiiPlanter:
    """Plants personal data into free text and counts every piece it plants."""

    REGIONS = ("320505", "320506", "320583", "440304", "440305")
    WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

    def __init__(self, bank: dict[str, Any], rng: random.Random) -> None:
        self.bank, self.rng = bank, rng
        self.counts: Counter[str] = Counter(names=0, phones=0, emails=0, id_cards=0)

    def name(self, lang: str, cue: int) -> str:
        self.counts["names"] += 1
        who = self.rng.choice(self.bank["names"][lang])
        return self.bank["name_cues"][lang][cue].format(name=who)

    def phone(self) -> str:
        self.counts["phones"] += 1
        number = "1" + self.rng.choice("3456789") + "".join(self.rng.choices("0123456789", k=9))
        return self.rng.choice(("{}", "+86 {}", "+86-{}")).format(number)

    def email(self) -> str:
        self.counts["emails"] += 1
        box = self.rng.choice(("maint", "service", "shift", "qa"))
        return f"{box}{self.rng.randint(1, 99):02d}@{self.rng.choice(self.bank['email_domains'])}"

    def id_card(self) -> str:
        """A Chinese resident ID number (GB 11643) with a valid check digit."""
        self.counts["id_cards"] += 1
        born = date(1970, 1, 1) + timedelta(days=self.rng.randrange(365 * 30))
        body = f"{self.rng.choice(self.REGIONS)}{born:%Y%m%d}{self.rng.randint(0, 999):03d}"
        total = sum(int(d) * w for d, w in zip(body, self.WEIGHTS, strict=True))
        return body + "10X98765432"[total % 11]

    def contact(self, lang: str, cue: int, *, phone: bool, email: bool, id_card: bool) -> str:
        """A clause naming one person, with the contact details asked for."""
        sep = "，" if lang == "zh" else ", "
        parts = [self.name(lang, cue)]
        labels = {"zh": ("电话：", "邮箱：", "身份证号："), "en": ("phone ", "email ", "ID no. ")}[lang]
        if phone:
            parts.append(labels[0] + self.phone())
        if email:
            parts.append(labels[1] + self.email())
        if id_card:
            parts.append(labels[2] + self.id_card())
        return sep.join(parts)


#: Share of work orders that get each kind of confidential clause (at least one each).
CONFIDENTIAL_SHARES = {"supplier": 0.2, "serial": 0.15, "speed": 0.1, "recipe": 0.1, "name": 0.15}


def _pick(rng: random.Random, items: list[int], share: float, at_least: int = 1) -> set[int]:
    k = min(len(items), max(at_least, round(share * len(items))))
    return set(rng.sample(items, k))


@dataclass
class _Job:
    equipment: str
    kind: str  # corrective | preventive | inspection
    reported: datetime  # UTC
    completed: datetime  # UTC
    texts: tuple[str, str]
    lang: str
    cost: float


def _maintenance_jobs(plan: Plan, bank: dict[str, Any], rng: random.Random) -> list[_Job]:
    jobs = []
    for f in plan.failures:
        suzhou = MACHINE[f.equipment].site == "suzhou"
        lang = rng.choice(("zh", "zh", "en") if suzhou else ("zh", "en", "en"))
        texts = tuple(rng.choice(bank["faults"][f.mode][lang]))
        reported = f.failed + timedelta(minutes=rng.randint(5, 30))
        jobs.append(_Job(f.equipment, "corrective", reported, f.repaired, texts, lang,
                         round(rng.uniform(800, 12000), 2)))  # fmt: skip
    for day in range(plan.days):
        for kind, count, minutes, cost in (("preventive", 3, (60, 180), (200, 1500)),
                                         ("inspection", 4, (15, 45), (0, 0))):  # fmt: skip
            for _ in range(count):
                m = rng.choice(MACHINES)
                lang = rng.choice(("zh", "en"))
                reported = local_midnight(day) + timedelta(minutes=rng.randint(8 * 60, 17 * 60))
                reported = reported.astimezone(UTC)
                jobs.append(_Job(m.id, kind, reported,
                                 reported + timedelta(minutes=rng.randint(*minutes)),
                                 tuple(rng.choice(bank[kind][lang])), lang,
                                 round(rng.uniform(*cost), 2)))  # fmt: skip
    jobs.sort(key=lambda j: (j.reported, j.equipment))
    return jobs


def write_maintenance_logs(
    out: Path, plan: Plan, bank: dict[str, Any], pii: PiiPlanter, conf: ConfidentialPlanter
) -> list[Written]:
    rng = rng_for(plan.seed, "maintenance_logs")
    jobs = _maintenance_jobs(plan, bank, rng)
    idx = list(range(len(jobs)))
    named = sorted(_pick(rng, idx, 0.45))
    phones, emails = _pick(rng, named, 0.4), _pick(rng, named, 0.25)
    ids = _pick(rng, named, 0.12, at_least=2)
    secret = {kind: _pick(conf.rng, idx, share) for kind, share in CONFIDENTIAL_SHARES.items()}
    tally = tally_for("maintenance")
    (out / "maintenance").mkdir()
    by_day: dict[date, list[dict[str, Any]]] = {}
    for i, job in enumerate(jobs):
        description, action = job.texts
        if i in named:
            in_action = rng.random() < 0.3  # the technician is named in the action instead
            who = pii.contact(job.lang, 1 if in_action else rng.choice((0, 2)),
                              phone=i in phones, email=i in emails, id_card=i in ids)  # fmt: skip
            sep = "；" if job.lang == "zh" else "; "
            if in_action:
                action += sep + who
            else:
                description += sep + who
        m = MACHINE[job.equipment]
        planted = conf.clauses(job.lang, m.site, {k for k, rows in secret.items() if i in rows})
        if planted:
            sep = "；" if job.lang == "zh" else "; "
            if conf.rng.random() < 0.7:
                action += sep + sep.join(planted)
            else:
                description += sep + sep.join(planted)
        reported = job.reported.astimezone(SHANGHAI)
        day_jobs = by_day.setdefault(reported.date(), [])
        day_jobs.append({
            "wo_id": f"MWO-{reported:%y%m%d}-{len(day_jobs) + 1:03d}",
            "asset": rng.choice(SCADA_ALIASES[m.id]) if m.site == "suzhou" else m.id,
            "type": job.kind,
            "reported_at": f"{reported:%Y-%m-%d %H:%M}",
            "completed_at": f"{job.completed.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
            "description": description,
            "action": action,
            "cost": job.cost,
        })  # fmt: skip
    for day, records in sorted(by_day.items()):
        rel = f"maintenance/cmms_{day:%Y%m%d}.jsonl"
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        (out / rel).write_text(text, encoding="utf-8", newline="\n")
        tally.add_file(rel, len(records))
    source = {
        "name": "maintenance_logs",
        "site": "suzhou",
        "kind": "maintenance",
        "path": "maintenance/*.jsonl",
        "format": "jsonl",
        "fields": {"record_id": "wo_id", "equipment_id": "asset", "reported_utc": "reported_at",
                   "completed_utc": "completed_at", "maintenance_type": "type",
                   "text": "description", "action": "action", "cost": "cost"},
        "constants": {"currency": "CNY"},
        "time": {"format": "%Y-%m-%d %H:%M"},
    }  # fmt: skip
    return [(source, tally)]
