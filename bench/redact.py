"""Benchmark redaction of declared confidential terms over many documents.

Prints::

    bench: redact.docs_per_s V             redact_pii (PII + declared terms) throughput
    bench: redact.literal_ratio V          one replace_all per term / one alternation per kind
                                           (seconds for the same literal list on the same texts)
    bench: redact.same_output V            1.0 when both ways give the same texts

The input is generated in code (seeded): short mixed Chinese/English maintenance texts, a share
of them with a supplier, a serial, a setpoint or a name planted. The declared block has
``--terms`` supplier names (the planted ones among them), two serial/setpoint patterns and a
per-site list. The baseline is the plain way of redacting a literal list with polars: one
``str.replace_all(term, "[SUPPLIER]", literal=True)`` over the column per term (longest first);
ours is :func:`corpusmill.text.redact.redact_confidential`'s one case-insensitive alternation.
Run: ``python -m bench.redact [--docs 200000] [--terms 2000] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import random
import time

import polars as pl

from corpusmill.text.pii import redact_pii
from corpusmill.text.redact import compile_terms, redact_confidential

BASES = [
    "主轴温度持续升高，过热报警停机，更换主轴前后轴承",
    "Hydraulic pressure dropping, replaced chuck cylinder seals and a cracked hose",
    "液压站压力低报警，溢流阀设定漂移，重新调整并更换回油滤芯",
    "Furnace over-temperature alarm in zone 1, replaced thermocouple",
    "Barrel temperature falling in zone 3, replaced heater band",
]


def _terms(n: int, rng: random.Random) -> list[str]:
    stems = ["Precision", "Bearing", "Hydraulic", "Seal", "Motion", "Drive", "Valve", "Tool"]
    zh = ["精密", "轴承", "液压", "密封", "传动", "阀门", "刀具", "机电"]
    out = set()
    while len(out) < n:
        if rng.random() < 0.5:
            out.add(f"{rng.choice(stems)} {rng.choice(stems)} {rng.randint(1, 999)} Ltd")
        else:
            out.add(f"苏州{rng.choice(zh)}{rng.choice(zh)}{rng.randint(1, 999)}有限公司")
    return sorted(out)


def _docs(n: int, terms: list[str], rng: random.Random) -> pl.DataFrame:
    texts, eq = [], []
    for _ in range(n):
        t = rng.choice(BASES)
        r = rng.random()
        if r < 0.2:
            t += f"；备件供应商：{rng.choice(terms)}"
        elif r < 0.3:
            t += f"; new part SN-{rng.randint(2015, 2024)}-{rng.randint(0, 99999):05d}"
        elif r < 0.4:
            t += f"; spindle speed reset to S={rng.randrange(1200, 4000, 100)}rpm"
        elif r < 0.45:
            t += "；联系 王伟"
        texts.append(t)
        eq.append(rng.choice(["suzhou/a/b/c", "shenzhen/a/b/c", None]))
    return pl.DataFrame({"text": texts, "equipment_id": eq})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--terms", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    terms = _terms(args.terms, rng)
    df = _docs(args.docs, terms, rng)
    block = {
        "suppliers": terms,
        "names": ["王伟"],
        "serials": ["SN-[0-9]{4}-[0-9]{5}"],
        "setpoints": ["S=[0-9]+ ?rpm"],
        "sites": {"suzhou": {"suppliers": ["苏州精密轴承有限公司"]}},
    }
    rules = compile_terms(block)

    t0 = time.perf_counter()
    redact_pii(df, "text", rules=rules, site_column="equipment_id")
    full = time.perf_counter() - t0
    print(f"bench: redact.docs_per_s {args.docs / full:.0f}")

    suppliers = tuple(r for r in compile_terms({"suppliers": terms}))
    t0 = time.perf_counter()
    ours = redact_confidential(df, "text", suppliers)["text"]
    alternation = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = df["text"]
    for term in sorted(terms, key=lambda t: (-len(t), t)):
        base = base.str.replace_all(term, "[SUPPLIER]", literal=True)
    loop = time.perf_counter() - t0
    print(f"bench: redact.literal_ratio {loop / alternation:.1f}")
    print(f"bench: redact.same_output {float(ours.equals(base))}")


if __name__ == "__main__":
    main()
