"""Writes run.ipynb and sweep.ipynb from the cells below (edit here, then run this script;
or edit the notebooks in Jupyter and strip their outputs with strip_outputs.py)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

RUN = [
    new_markdown_cell(
        "# One run\n\n"
        "Reads the files `wakusim run` writes (documented in `results/README.md`). Set the\n"
        "`WAKUSIM_RUN` environment variable to a run directory, or edit `RUN` below; e.g. after\n"
        "`cargo run --release -p experiments -- run relay-small`, `results/relay-small/s1`."
    ),
    new_code_cell(
        "import os\n"
        "from pathlib import Path\n"
        "import pandas as pd\n"
        "import matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "\n"
        'RUN = Path(os.environ.get("WAKUSIM_RUN", "../results/relay-small/s1"))\n'
        'assert (RUN / "summary.csv").is_file(), f"no run in {RUN}: run wakusim first"\n'
        'summary = pd.read_csv(RUN / "summary.csv")\n'
        "summary.T"
    ),
    new_markdown_cell(
        "## Bandwidth breakdown\n"
        "Mean bytes/s per node by category and direction over the measured window; categories\n"
        "without traffic are left out, and the axis is logarithmic so that control traffic shows."
    ),
    new_code_cell(
        'bw = pd.read_csv(RUN / "bandwidth.csv")\n'
        'nodes = bw[(bw.node_group == "all") & (bw.category != "total")]\n'
        'table = nodes.pivot(index="category", columns="direction", values="bytes_per_sec_mean")\n'
        "table = table[(table > 0).any(axis=1)].sort_values(\"out\")\n"
        "ax = table.plot.barh(figsize=(8, 5), logx=True)\n"
        'ax.set_xlabel("bytes/s per node (mean, log scale)")\n'
        'ax.set_title("Bandwidth by category")\n'
        'assert len(table) > 0, "no traffic in bandwidth.csv"\n'
        'table.sort_values("out", ascending=False).round(1)'
    ),
    new_markdown_cell(
        "## Latency and dissemination\n"
        "Left: the CDF of publish-to-first-receipt latency over (message, receiver) pairs.\n"
        "Right: how far messages spread, as the CDF of first copies by hop count, and (Waku)\n"
        "the distribution of the fraction of intended receivers each message reached."
    ),
    new_code_cell(
        'lat = pd.read_csv(RUN / "latency.csv")\n'
        "fig, axes = plt.subplots(1, 2, figsize=(12, 4))\n"
        'axes[0].step(lat.latency_ms, lat.cumulative_fraction, where="post")\n'
        'axes[0].set(xlabel="latency (ms)", ylabel="fraction of deliveries", title="Latency CDF")\n'
        'if (RUN / "hops.csv").is_file():\n'
        '    hops = pd.read_csv(RUN / "hops.csv")\n'
        "    cdf = hops.first_copies.cumsum() / hops.first_copies.sum()\n"
        '    axes[1].step(hops.hops, cdf, where="post")\n'
        '    axes[1].set(xlabel="hops from the publisher", ylabel="fraction of first copies",\n'
        '                title="Dissemination CDF by hop count")\n'
        'if (RUN / "messages.csv").is_file():\n'
        '    msgs = pd.read_csv(RUN / "messages.csv")\n'
        "    reached = (msgs.delivered / msgs.eligible.where(msgs.eligible > 0)).dropna()\n"
        '    print(f"{len(msgs)} messages; reached fraction: min {reached.min():.4f}, "\n'
        '          f"mean {reached.mean():.4f}")\n'
        "assert lat.cumulative_fraction.iloc[-1] == 1.0"
    ),
    new_markdown_cell("## Over time\n`timeseries.csv` is long-form: one row per (time, metric)."),
    new_code_cell(
        'ts = pd.read_csv(RUN / "timeseries.csv")\n'
        'wide = ts.pivot_table(index="time_s", columns="metric", values="value")\n'
        "fig, axes = plt.subplots(1, 2, figsize=(12, 4))\n"
        'if "delivery_rate" in wide:\n'
        '    wide["delivery_rate"].plot(ax=axes[0], title="Delivery rate by publish interval")\n'
        '    axes[0].set(xlabel="simulated time (s)", ylabel="fraction")\n'
        'mesh = [c for c in wide.columns if c.startswith("mesh_degree_") and ":" not in c]\n'
        "if mesh:\n"
        '    wide[mesh].plot(ax=axes[1], title="Mesh degree")\n'
        '    axes[1].set(xlabel="simulated time (s)", ylabel="peers")\n'
        "sorted(wide.columns)"
    ),
]

SWEEP = [
    new_markdown_cell(
        "# A sweep\n\n"
        "Reads a sweep's `sweep.csv` (one row per run: the swept parameters, then the summary\n"
        "metrics; `results/README.md`). Set `WAKUSIM_SWEEP` to a sweep directory, or edit `SWEEP`;\n"
        "e.g. after `wakusim sweep experiments/scenarios/sweeps/relay-small-d.toml`,\n"
        "`results/relay-small-d`."
    ),
    new_code_cell(
        "import json\n"
        "import os\n"
        "from pathlib import Path\n"
        "import pandas as pd\n"
        "import matplotlib.pyplot as plt\n"
        "\n"
        'SWEEP = Path(os.environ.get("WAKUSIM_SWEEP", "../results/relay-small-d"))\n'
        'sweep = pd.read_csv(SWEEP / "sweep.csv")\n'
        'params = json.loads((SWEEP / "sweep.json").read_text())["parameters"]\n'
        'print(f"{len(sweep)} runs; swept: {params}; seeds: {sorted(sweep.seed.unique())}")\n'
        "sweep.head()"
    ),
    new_markdown_cell(
        "## Metrics against each swept parameter\n"
        "Mean over seeds with ± 1 standard deviation as error bars, one line per combination of\n"
        "the other swept parameters."
    ),
    new_code_cell(
        'METRICS = [m for m in ["latency_p95_ms", "delivery_rate_mean",\n'
        '           "bandwidth_out_mean_bytes_per_sec", "mesh_healthy_fraction"] if m in sweep]\n'
        "for p in params:\n"
        "    others = [o for o in params if o != p]\n"
        "    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.5 * len(METRICS), 3.8))\n"
        "    for ax, m in zip(axes, METRICS):\n"
        "        groups = sweep.groupby(others) if others else [((), sweep)]\n"
        "        for key, g in groups:\n"
        "            stats = g.groupby(p)[m].agg([\"mean\", \"std\"]).reset_index()\n"
        "            label = \", \".join(f\"{o}={v}\" for o, v in zip(others, key if isinstance(key, tuple) else (key,)))\n"
        "            ax.errorbar(stats[p], stats[\"mean\"], yerr=stats[\"std\"].fillna(0), marker=\"o\",\n"
        "                        capsize=4, label=label or None)\n"
        "        ax.set(xlabel=p, title=m)\n"
        "        if others:\n"
        "            ax.legend(fontsize=8)\n"
        "    fig.suptitle(f\"Sweep over {p} (mean ± sd over seeds)\")\n"
        "    fig.tight_layout()\n"
        "table = sweep.groupby(params)[METRICS].agg([\"mean\", \"std\"])\n"
        "assert len(table) == sweep[params].drop_duplicates().shape[0]\n"
        "table"
    ),
]


def write(name, cells):
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    # Stable cell ids, so that regenerating gives the same file.
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name}-{i}"
    nbformat.validate(nb)
    (HERE / f"{name}.ipynb").write_text(nbformat.writes(nb) + "\n")


if __name__ == "__main__":
    write("run", RUN)
    write("sweep", SWEEP)
