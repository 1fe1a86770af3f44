"""Text sources: Shenzhen's service tickets (CSV, with personal data), manuals and SOPs.

The manuals carry one exact duplicate (the same text re-saved with a BOM and CRLF) and one near
duplicate (a few words changed), for the text corpus to find.
"""

from __future__ import annotations

import codecs
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from corpusmill.generate.confidential import ConfidentialPlanter
from corpusmill.generate.files import write_csv
from corpusmill.generate.maintenance import PiiPlanter
from corpusmill.generate.plant import IMM, Order, Plan, rng_for, utc_midnight
from corpusmill.generate.truth import Written, tally_for

TICKETS_PER_DAY = 4


def _ticket_text(
    bank: dict[str, Any], kind: str, lang: str, batch: Order, rng: random.Random,
    unused: dict[tuple[str, str], list[tuple[int, int, int]]],
) -> tuple[str, str]:
    """Subject and body: an issue, an impact and a request, in a combination not used before."""
    issues, impacts = bank["tickets"][kind][lang], bank["ticket_impacts"][lang]
    requests = bank["ticket_requests"][lang]
    combos = unused.setdefault((kind, lang), [])
    if not combos:  # only once every combination is used (a very large scale) can one repeat
        combos += [(i, j, k) for i in range(len(issues)) for j in range(len(impacts))
                   for k in range(len(requests))]  # fmt: skip
        rng.shuffle(combos)
    i, j, k = combos.pop()
    subject, issue = issues[i]
    qty = rng.randint(50, batch.planned)
    impact = impacts[j].format(qty=qty, bad=rng.randint(3, qty // 3), hours=rng.randint(2, 9),
                               pct=rng.randint(2, 30))  # fmt: skip
    parts = [issue.format(lot=batch.lot), impact, requests[k]]
    return subject, ("" if lang == "zh" else " ").join(parts)


def write_service_tickets(
    out: Path, plan: Plan, bank: dict[str, Any], pii: PiiPlanter, conf: ConfidentialPlanter
) -> list[Written]:
    rng = rng_for(plan.seed, "service_tickets")
    n_tickets = plan.days * TICKETS_PER_DAY
    named_customer = set(conf.rng.sample(range(n_tickets), max(1, round(0.4 * n_tickets))))
    rows = []
    unused: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for day in range(plan.days):
        minutes = sorted(rng.sample(range(60, 23 * 60), TICKETS_PER_DAY))
        for n, minute in enumerate(minutes, 1):
            created = utc_midnight(day) + timedelta(minutes=minute)
            batch = rng.choice([b for b in plan.batches if b.end <= created] or plan.batches[:2])
            lang = rng.choice(("en", "en", "zh"))
            kind = "imm" if batch.equipment == IMM else "press"
            subject, body = _ticket_text(bank, kind, lang, batch, rng, unused)
            contact = pii.contact(lang, 2, phone=rng.random() < 0.5, email=rng.random() < 0.6,
                                  id_card=False)  # fmt: skip
            contact = contact + "。" if lang == "zh" else " P" + contact[1:] + "."
            if len(rows) in named_customer:  # the customer's name, declared confidential
                body += conf.customer(lang, "shenzhen")
            rows.append([f"TK-{created:%y%m%d}-{n:02d}", f"{created:%Y-%m-%d %H:%M:%S}",
                         batch.equipment, batch.product, subject, body + contact,
                         rng.choice(("open", "closed", "closed"))])  # fmt: skip
    rel = "service/tickets.csv"
    (out / "service").mkdir()
    header = ["ticket_id", "created_at", "asset", "product", "subject", "body", "status"]
    write_csv(out / rel, header, rows)
    tally = tally_for("document")
    tally.add_file(rel, len(rows))
    source = {
        "name": "service_tickets",
        "site": "shenzhen",
        "kind": "document",
        "path": rel,
        "format": "csv",
        "fields": {"doc_id": "ticket_id", "title": "subject", "text": "body",
                   "equipment_id": "asset", "created_utc": "created_at"},
        "constants": {"doc_type": "ticket"},
        "time": {"format": "%Y-%m-%d %H:%M:%S"},
    }  # fmt: skip
    return [(source, tally)]


def write_documents(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    """Manuals (markdown, with one exact and one near duplicate) and SOPs (plain text)."""
    manuals = {name: body.encode() for name, body in bank["manuals"].items()}
    exact, near = bank["exact_duplicate"], bank["near_duplicate"]
    # The same manual re-saved by Notepad: BOM and CRLF, so other bytes but the very same text.
    # (A byte-identical copy would be skipped by ingest as a re-delivery and never reach dedup.)
    resaved = bank["manuals"][exact["of"]].replace("\n", "\r\n")
    manuals[exact["name"]] = codecs.BOM_UTF8 + resaved.encode()
    text = bank["manuals"][near["of"]]
    for old, new in near["replace"]:
        if old not in text:
            raise ValueError(f"near-duplicate edit {old!r} is not in {near['of']}")
        text = text.replace(old, new)
    manuals[near["name"]] = text.encode()
    sops = {name: body.encode() for name, body in bank["sops"].items()}
    (out / "docs").mkdir()
    written = []
    for name, docs, fmt, doc_type in (("manuals", manuals, "markdown", "manual"),
                                      ("sops", sops, "text", "sop")):  # fmt: skip
        tally = tally_for("document")
        for filename, body in sorted(docs.items()):
            rel = f"docs/{filename}"
            (out / rel).write_bytes(body)
            tally.add_file(rel, 1)
        suffix = ".md" if fmt == "markdown" else ".txt"
        source = {"name": name, "site": "suzhou", "kind": "document", "path": f"docs/*{suffix}",
                  "format": fmt, "constants": {"doc_type": doc_type}}  # fmt: skip
        written.append((source, tally))
    return written
