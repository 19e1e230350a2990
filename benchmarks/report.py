"""Markdown tables and PNG charts from a result file of `python -m benchmarks run`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

ORDER = [
    "inprocess",
    "inprocess_tensor",
    "inprocess_batch",
    "grpc",
    "rest_b64",
    "rest_json",
    "v2_rest",
    "v2_grpc",
    "naive",
]
LABELS = {"inprocess_batch": "in-process, one batched call"}


def _label(result: dict, cell: dict) -> str:
    label = LABELS.get(cell["path"]) or result["paths"].get(cell["path"], {}).get("label", cell["path"])
    if cell["batching"] is not None:
        label += ", batching " + ("on" if cell["batching"] else "off")
    if cell["batch"] > 1:
        label += f" (batch {cell['batch']})"
    return label


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _rate(value: float | None) -> str:
    if not value:
        return "–"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.1f} KB"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _rows(result: dict, model: str) -> list[tuple[str, dict[int, dict]]]:
    """(label, {concurrency: cell}) per path and batching mode, in a fixed order."""
    groups: dict[tuple, dict[int, dict]] = {}
    for cell in result["cells"]:
        if cell["model"] == model:
            groups.setdefault((cell["path"], cell["batching"], cell["batch"]), {})[cell["concurrency"]] = cell
    ordered = sorted(
        groups.items(), key=lambda kv: (ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99, kv[0][1] is True)
    )
    return [(_label(result, next(iter(cells.values()))), cells) for _, cells in ordered]


def model_tables(result: dict) -> str:
    """Per model: latency, throughput, payload and ratios to the in-process floor per concurrency."""
    levels = result["concurrency"]
    out = []
    for model, meta in result["models"].items():
        out.append(f"### {meta['title']}\n")
        out.append(
            f"Bytes signature `{meta['bytes_signature']}`, tensor signature `{meta['tensor_signature']}`. "
            "Latency p50 / p99 in ms, throughput in images/s; ratios are to the in-process call of the "
            "same signature at the same concurrency (p50 ratio / throughput ratio).\n"
        )
        head = ["path", "request", "response"]
        for c in levels:
            head += [f"{c}: p50 / p99 ms", f"{c}: img/s", f"{c}: ×floor p50 / img/s"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for label, cells in _rows(result, model):
            any_cell = next(iter(cells.values()))
            row = [label, _bytes(any_cell.get("request_bytes")), _bytes(any_cell.get("response_bytes"))]
            for c in levels:
                cell = cells.get(c)
                if cell is None:
                    row += ["", "", ""]
                    continue
                errors = f" ({cell['errors']} errors)" if cell["errors"] else ""
                runs = (
                    f" ({cell['requests']} req in {cell['model_runs']} runs)"
                    if cell.get("model_runs") is not None
                    else ""
                )
                row += [
                    f"{_ms(cell['p50_ms'])} / {_ms(cell['p99_ms'])}{errors}",
                    _rate(cell["throughput"]) + runs,
                    f"{_ratio(cell.get('p50_ratio'))} / {_ratio(cell.get('throughput_ratio'))}"
                    if "p50_ratio" in cell
                    else "",
                ]
            out.append("| " + " | ".join(row) + " |")
        skipped = [s for s in result.get("skipped", []) if s["model"] == model]
        if skipped:
            reasons = sorted({s["reason"] for s in skipped})
            cells = ", ".join(f"{s['path']} at {s['concurrency']}" for s in skipped)
            out.append(f"\nNot measured: {cells} ({'; '.join(reasons)}).")
        out.append("")
    return "\n".join(out)


def roofline(result: dict) -> dict:
    """The roofline summary, recomputed from the cells so a report always matches its limits."""
    from benchmarks.suite import roofline_summary

    return roofline_summary(result["cells"], result["flops"], result["limits"])


def roofline_table(result: dict) -> str:
    limits = result["limits"]
    out = [
        f"Machine: {limits['model_name'] or 'unknown CPU'}, {limits['cores']} cores at {limits['mhz']:.0f} MHz; "
        f"measured fp32: matmul {limits['matmul_size']}² {limits['matmul_fp32_gflops']:.0f} GFLOP/s, "
        f"convolution ({limits['conv']}) {limits['conv_fp32_gflops']:.0f} GFLOP/s; bf16 matmul "
        f"{limits['matmul_bf16_gflops']:.0f} GFLOP/s; theoretical fp32 peak {limits['fp32_peak_gflops']:.0f} GFLOP/s "
        f"({limits['fp32_flops_per_cycle_per_core']} FLOP/cycle/core × cores × clock).\n",
        "| model | GFLOP / image (GMAC) | ceiling img/s (measured rate) | best in-process img/s | "
        "GFLOP/s | % of measured | % of peak | best served img/s | GFLOP/s | % of measured | % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, entry in roofline(result).items():
        row = [
            result["models"][model]["title"],
            f"{entry['gflop_per_image']:.2f} ({entry['gmac_per_image']:.2f})",
            _rate(entry["ceiling_images_per_s_measured"]),
        ]
        for name in ("inprocess", "served"):
            part = entry.get(name)
            if part is None:
                row += ["–"] * 4
                continue
            row += [
                f"{_rate(part['images_per_s'])} ({_where(part)})",
                f"{part['gflops']:.1f}",
                f"{100 * part['fraction_of_measured']:.0f}%",
                f"{100 * part['fraction_of_peak']:.0f}%" if part["fraction_of_peak"] else "–",
            ]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def _where(part: dict) -> str:
    where = f"{part['path']}, c={part['concurrency']}"
    if part["batch"] > 1:
        where += f", batch {part['batch']}"
    if part["batching"]:
        where += ", batching"
    return where


def markdown(result: dict) -> str:
    load = ", ".join(f"{v:.1f}" for v in result["machine"]["load_average_end"])
    return (
        f"# Serving benchmark ({result['mode']} mode, {result['started']}, {result['seconds']:.0f} s)\n\n"
        f"{result['machine']['cpus']} CPUs, TensorFlow {result['machine']['tensorflow']}, load average at the "
        f"end {load}; section times (s): {result['sections_seconds']}\n\n"
        + model_tables(result)
        + "\n## Compute limit\n\n"
        + roofline_table(result)
    )


def readme_table(result: dict, concurrency: Iterable[int] = (1, 8, 32)) -> str:
    """The README's compact table: per model and path, p50 at 1 client and img/s at each concurrency."""
    levels = [c for c in concurrency if c in result["concurrency"]]
    head = (
        ["model", "path", "request", "p50 ms (1 client)", "× in-process"]
        + [f"img/s ({c})" for c in levels]
        + [f"× in-process img/s ({levels[-1]})"]
    )
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, meta in result["models"].items():
        for label, cells in _rows(result, model):
            one = cells.get(levels[0])
            last = cells.get(levels[-1])
            any_cell = next(iter(cells.values()))
            row = [
                meta["title"].split(" (")[0],
                label,
                _bytes(any_cell.get("request_bytes")),
                _ms(one["p50_ms"]) if one else "–",
                _ratio(one.get("p50_ratio")) if one else "–",
            ]
            row += [_rate(cells[c]["throughput"]) if c in cells else "–" for c in levels]
            row.append(_ratio(last.get("throughput_ratio")) if last else "–")
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def throughput_chart(result: dict, out: Path) -> None:
    """One panel per model: images/s per path at each concurrency (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = list(result["models"])
    levels = result["concurrency"]
    fig, axes = plt.subplots(1, len(models), figsize=(max(6 * len(models), 9), 6), squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = [(label, cells) for label, cells in _rows(result, model) if next(iter(cells.values()))["batch"] == 1]
        width = 0.8 / max(len(levels), 1)
        for i, c in enumerate(levels):
            values = [cells[c]["throughput"] if c in cells else 0 for _, cells in rows]
            ax.barh([y + i * width for y in range(len(rows))], values, height=width, label=f"{c} clients")
        ax.set_yticks([y + width * (len(levels) - 1) / 2 for y in range(len(rows))])
        ax.set_yticklabels([label for label, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("images / s (log)")
        ax.set_title(result["models"][model]["title"])
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle(
        f"Throughput by path and concurrency\n({result['machine']['cpus']} CPUs, {result['started']}, "
        f"{result['mode']} run)"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def roofline_chart(result: dict, out: Path) -> None:
    """Achieved GFLOP/s per model (best in-process, best served) against the machine's fp32 limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limits = result["limits"]
    summary = roofline(result)
    models = list(summary)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, model in enumerate(models):
        entry = summary[model]
        for j, (name, color) in enumerate((("inprocess", "tab:blue"), ("served", "tab:orange"))):
            part = entry.get(name)
            if part:
                ax.bar(
                    i + (j - 0.5) * 0.35,
                    part["gflops"],
                    width=0.35,
                    color=color,
                    label=("best in-process" if name == "inprocess" else "best served") if i == 0 else None,
                )
                ax.text(
                    i + (j - 0.5) * 0.35,
                    part["gflops"],
                    f"{100 * part['fraction_of_peak']:.0f}% of peak",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ax.axhline(
        limits["achievable_fp32_gflops"],
        color="k",
        linestyle="--",
        label=f"measured fp32 {limits['achievable_fp32_gflops']:.0f} GFLOP/s (best of matmul, 3x3 conv)",
    )
    if limits["fp32_peak_gflops"]:
        ax.axhline(
            limits["fp32_peak_gflops"],
            color="gray",
            linestyle=":",
            label=f"fp32 peak {limits['fp32_peak_gflops']:.0f} GFLOP/s (cores × clock × FMA width)",
        )
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(
        [f"{result['models'][m]['title']}\n{summary[m]['gflop_per_image']:.1f} GFLOP/img" for m in models], fontsize=8
    )
    ax.set_ylabel("GFLOP/s achieved (images/s × FLOPs per image)")
    ax.set_title("How far from the compute limit each model runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
