"""Checks the Kubernetes example (docs/k8s/*.yaml) and runs its command lines locally.

The manifests must parse as YAML; the sweep Job must be an Indexed Job whose completions equal
N in `--shard env/N`, and both Jobs must mount the results volume where `--out` points. Then
the command lines run for real with the image's paths mapped onto the repository
(/opt/wakusim/scenarios -> experiments/scenarios, /results -> OUT): every shard with its
JOB_COMPLETION_INDEX, then the merge, which must write sweep.csv.

    python docs/k8s/check.py WAKUSIM_BINARY OUT
"""

import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def fail(msg):
    sys.exit(f"docs/k8s: {msg}")


def container(doc):
    spec = doc["spec"]["template"]["spec"]
    if spec.get("restartPolicy") != "Never":
        fail(f"{doc['metadata']['name']}: restartPolicy must be Never")
    (c,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
    if claims.get("results") != "wakusim-results" or mounts.get("results") != "/results":
        fail(f"{doc['metadata']['name']}: the results volume must be mounted at /results")
    return c["command"] + c.get("args", [])


def local(argv, binary, out):
    mapped = []
    for a in argv:
        a = a.replace("/opt/wakusim/scenarios", str(REPO / "experiments" / "scenarios"))
        a = a.replace("/results", str(out)) if a.startswith("/results") else a
        mapped.append(a)
    if mapped[0] != "wakusim":
        fail(f"the command must be wakusim, not {mapped[0]}")
    return [binary] + mapped[1:]


def main():
    binary, out = sys.argv[1], Path(sys.argv[2]).resolve()
    sweep_docs = list(yaml.safe_load_all((HERE / "wakusim-sweep.yaml").read_text()))
    merge_docs = list(yaml.safe_load_all((HERE / "wakusim-merge.yaml").read_text()))
    kinds = [d["kind"] for d in sweep_docs]
    if kinds != ["PersistentVolumeClaim", "Job"]:
        fail(f"wakusim-sweep.yaml: expected a PVC and a Job, found {kinds}")
    pvc, job = sweep_docs
    if pvc["spec"]["accessModes"] != ["ReadWriteMany"]:
        fail("the results volume must be ReadWriteMany (all pods write to it)")
    (merge,) = merge_docs
    if job["spec"].get("completionMode") != "Indexed":
        fail("the sweep Job must be an Indexed Job")
    argv = container(job)
    shard = argv[argv.index("--shard") + 1]
    if not shard.startswith("env/"):
        fail("the sweep must read its shard from JOB_COMPLETION_INDEX: --shard env/N")
    n = int(shard[len("env/"):])
    if job["spec"]["completions"] != n:
        fail(f"completions = {job['spec']['completions']} but --shard env/{n}")
    if argv[argv.index("--out") + 1] != "/results":
        fail("--out must be the mounted volume, /results")
    cmd = local(argv, binary, out)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "WAKUSIM_"))}
    for i in range(n):
        print(f"docs/k8s: shard {i + 1}/{n}:", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, env={**env, "JOB_COMPLETION_INDEX": str(i)}, check=True)
    mcmd = local(container(merge), binary, out)
    print("docs/k8s: merge:", " ".join(mcmd[1:]), flush=True)
    subprocess.run(mcmd, env=env, check=True)
    sweep_dir = Path(mcmd[mcmd.index("merge") + 1])
    if not (sweep_dir / "sweep.csv").is_file():
        fail(f"the merge wrote no {sweep_dir / 'sweep.csv'}")
    print(f"docs/k8s: ok, {sweep_dir / 'sweep.csv'}")


if __name__ == "__main__":
    main()
