"""Write the demo's results page, out/index.html: every picture and result, and the weights each model used.

    python scripts/demo_page.py OUT MODELS_DIR

Which weights a model used is read from its export (assets.extra/export_info.json of the newest
version): published weights are named with their source, SHA-256 and licence; random ones are said
to be random, beside the pictures, with the command that gets real ones. Standard library only.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

MODELS = {
    "efficientnet": ("EfficientNet-B0: top-5 ImageNet classes", "efficientnet_top5.txt", None),
    "detr": ("DETR R50: COCO objects", "detr_detections.txt", "cat_detections.png"),
    "stylegan": ("StyleGAN: generated samples (seeds 0-7, psi 0.7)", None, "stylegan_grid.png"),
}
HOW_TO_GET_REAL_ONES = (
    "To see real results, run the demo where the published weights can be downloaded "
    "(<code>DEMO_WEIGHTS=published bash scripts/demo.sh</code>), or fetch them elsewhere with "
    "<code>python -m export weights fetch {key}</code> and copy the cache (<code>~/.cache/keras-to-serving</code>)."
)
PUBLISHED_KEYS = {"efficientnet": "efficientnet-b0:imagenet", "detr": "detr-r50:coco", "stylegan": "stylegan:ffhq"}


def newest_info(models: Path, name: str) -> dict:
    versions = sorted((int(p.name), p) for p in (models / name).glob("[0-9]*") if p.name.isdigit())
    if not versions:
        return {}
    path = versions[-1][1] / "assets.extra" / "export_info.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def weights_note(name: str, info: dict) -> str:
    record = info.get("weights_file")
    if record:
        return (
            f'<p class="published">Published weights <b>{html.escape(record["preset"])}</b> '
            f"({html.escape(record['paper_metric'])}), from <code>{html.escape(record['url'])}</code>, "
            f"SHA-256 <code>{html.escape(record['sha256'][:16])}…</code>, licence "
            f'<a href="{html.escape(record["licence_url"])}">{html.escape(record["licence"])}</a>.</p>'
        )
    return (
        '<p class="random"><b>RANDOM WEIGHTS</b>: this model was exported with random initialisation, so '
        "its answers below mean nothing (they show that the pipeline works, not what the model knows). "
        + HOW_TO_GET_REAL_ONES.format(key=PUBLISHED_KEYS[name])
        + "</p>"
    )


def section(out: Path, models: Path, name: str) -> str:
    title, text_file, picture = MODELS[name]
    info = newest_info(models, name)
    parts = [f"<h2>{html.escape(title)}</h2>", weights_note(name, info)]
    for transport in ("rest", "grpc"):
        where = out / transport
        cells = [f"<h3>over {transport.upper()}</h3>"]
        if text_file and (where / text_file).is_file():
            cells.append(f"<pre>{html.escape((where / text_file).read_text())}</pre>")
        if picture and (where / picture).is_file():
            cells.append(f'<img src="{transport}/{picture}" alt="{html.escape(title)} ({transport})">')
        parts.append('<div class="transport">' + "".join(cells) + "</div>")
    return '<section class="model">' + "".join(parts) + "</section>"


def page(out: Path, models: Path) -> str:
    infos = {name: newest_info(models, name) for name in MODELS}
    random = [name for name, info in infos.items() if not info.get("weights_file")]
    banner = (
        f'<p class="random">Random weights for: {", ".join(random)}. Their results are not real.</p>'
        if random
        else '<p class="published">Every model runs its published weights.</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keras-to-serving demo</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; }}
.random {{ background: #fde2e1; border-left: 6px solid #c0392b; padding: .6em; }}
.published {{ background: #e3f4e1; border-left: 6px solid #2e7d32; padding: .6em; }}
.transport {{ display: inline-block; vertical-align: top; margin-right: 2em; max-width: 560px; }}
img {{ max-width: 540px; border: 1px solid #ccc; }}
pre {{ background: #f6f6f6; padding: .5em; }}
</style></head><body>
<h1>keras-to-serving demo</h1>
<p>Three models exported by <code>python -m export</code>, served over REST and gRPC, called by the clients
on <code>docs/images/cat.jpg</code>.</p>
{banner}
<p><img src="input.jpg" alt="the input photograph" style="max-width:320px"></p>
{"".join(section(out, models, name) for name in MODELS)}
</body></html>
"""


def main() -> int:
    out, models = Path(sys.argv[1]), Path(sys.argv[2])
    (out / "index.html").write_text(page(out, models), encoding="utf-8")
    print(out / "index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
