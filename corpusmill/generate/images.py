"""``inspection_images``: Shenzhen's defect photos (PNG) with a labels sidecar, one filed twice."""

from __future__ import annotations

import io
import random
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from corpusmill.generate.files import write_csv
from corpusmill.generate.plant import Plan, rng_for
from corpusmill.generate.truth import Written, tally_for

IMAGE_LABELS = ("ok", "scratch", "dent")


def _image(label: str, rng: random.Random) -> bytes:
    """A 32x32 brushed-metal patch; a bright line for a scratch, a dark pit for a dent."""
    from PIL import Image, ImageDraw

    size = 32
    tint = rng.randint(-15, 15)
    pixels = bytearray()
    for y in range(size):
        for x in range(size):
            g = 130 + tint + (x + y) * 30 // (2 * size) + rng.randint(-6, 6) + (4 if y % 3 else 0)
            pixels += bytes((g, g, min(255, g + 6)))
    img = Image.frombytes("RGB", (size, size), bytes(pixels))
    draw = ImageDraw.Draw(img)
    if label == "scratch":
        a = (rng.randint(0, 8), rng.randint(0, size - 1))
        b = (rng.randint(size - 9, size - 1), rng.randint(0, size - 1))
        draw.line([a, b], fill=(232, 232, 238), width=1)
    elif label == "dent":
        cx, cy, r = rng.randint(8, 23), rng.randint(8, 23), rng.randint(3, 5)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(72, 72, 78))
        draw.arc([cx - r, cy - r, cx + r, cy + r], 200, 320, fill=(200, 200, 205))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _variant(path: Path, kind: str) -> bytes:
    """``path`` re-saved with a text chunk (``_resaved``) or 8 levels brighter (``_bright``)."""
    from PIL import Image, ImageEnhance, PngImagePlugin

    buf = io.BytesIO()
    with Image.open(path) as img:
        if kind == "_resaved":
            info = PngImagePlugin.PngInfo()
            info.add_text("Comment", "re-exported by the line PC")
            img.save(buf, format="PNG", pnginfo=info)
        else:
            ImageEnhance.Brightness(img.convert("RGB")).enhance(1.06).save(buf, format="PNG")
    return buf.getvalue()


def write_inspection_images(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = rng_for(plan.seed, "inspection_images")
    (out / "images").mkdir()
    tally = tally_for("image")
    labels = []
    for n, batch in enumerate(plan.batches, 1):
        label = rng.choices(IMAGE_LABELS, weights=(70, 15, 15))[0]
        ts = batch.start + timedelta(minutes=rng.randint(10, 230))
        name = f"IMG_{n:04d}.png"
        (out / "images" / name).write_bytes(_image(label, rng))
        labels.append([name, label, batch.equipment, batch.lot, f"{ts:%Y-%m-%d %H:%M:%S}"])
    # The same photo filed twice: byte-identical, another name.
    original = rng.choice(labels)
    copy = original[0].replace(".png", "_copy.png")
    shutil.copyfile(out / "images" / original[0], out / "images" / copy)
    labels.append([copy, *original[1:]])
    # Near duplicates: the same photo re-saved with a comment chunk (other bytes, same pixels) and
    # one re-encoded a little brighter; image_corpus must find both by perceptual hash.
    near = {}
    for suffix, src in zip(("_resaved", "_bright"), rng.sample(labels[:-1], 2), strict=True):
        name = src[0].replace(".png", f"{suffix}.png")
        (out / "images" / name).write_bytes(_variant(out / "images" / src[0], suffix))
        labels.append([name, *src[1:]])
        near[name] = src[0]
    bank["_near_duplicate_images"] = near
    labels.sort()
    for row in labels:
        if row[0] != copy:  # a re-delivery of bytes already delivered: ingest reads them once
            tally.add_file(f"images/{row[0]}", 1)
    write_csv(out / "images" / "labels.csv", ["file", "label", "equipment", "lot", "ts"], labels)
    source = {
        "name": "inspection_images",
        "site": "shenzhen",
        "kind": "image",
        "path": "images/*.png",
        "format": "images",
        "sidecar": {"path": "images/labels.csv", "format": "csv", "file_column": "file"},
        "fields": {"label": "label", "equipment_id": "equipment", "lot_id": "lot", "ts_utc": "ts"},
        "time": {"format": "%Y-%m-%d %H:%M:%S"},
    }
    return [(source, tally)]
