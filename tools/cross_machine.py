"""Re-execute chapters as if on another machine and compare their verdicts with the stored ones.

Training is bitwise repeatable on one machine but not across CPU instruction
sets, and an under-trained run amplifies the difference: a conclusion that
flips when the instruction set changes is not a finding. This program re-runs
each chapter under the book profile with PyTorch's kernels forced to another
instruction set (``--isa default``: ``ATEN_CPU_CAPABILITY=default``, about 2x
slower; ``--isa sse41``: ``ONEDNN_MAX_CPU_ISA=SSE41``, about 3x), into a
scratch results folder (the stored notebooks and results are not touched), and
compares, claim by claim, the verdict and the sign of every measured effect
with the stored run. The outcome goes to ``book/results/cross_machine.json``,
which chapter 8 reports (a changed verdict or direction is "unstable")::

    python tools/cross_machine.py book/07_imagenet.ipynb --isa default
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "book" / "results"
OUTCOME = STORED / "cross_machine.json"
ISAS = {"default": {"ATEN_CPU_CAPABILITY": "default"}, "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"}}


def effect_sign(row: dict) -> int | None:
    """The sign of a row's measured effect (a comparison's difference), or ``None`` if it has none."""
    est = row.get("estimate") or {}
    est = est.get("comparison", est)
    diff = est.get("diff")
    if diff is None or diff.get("mean") is None:
        return None
    m = diff["mean"]
    return (m > 0) - (m < 0)


def measurement(row: dict) -> dict:
    """What a row measured (its estimate, measured text and condition), to tell whether a rerun changed it."""
    return {k: row.get(k) for k in ("estimate", "measured", "condition_mean")}


def compare_verdicts(stored: list[dict], rerun: list[dict]) -> list[dict]:
    """One entry per claim id: stored and rerun verdicts and effect signs, and whether both agree."""
    by_id = {r["id"]: r for r in rerun}
    out = []
    for s in stored:
        r = by_id.get(s["id"])
        entry = {"id": s["id"], "claim": s["claim"], "stored": s["verdict"], "rerun": None if r is None else r["verdict"],
                 "stored_sign": effect_sign(s), "rerun_sign": None if r is None else effect_sign(r)}
        entry["stable"] = r is not None and entry["stored"] == entry["rerun"] and entry["stored_sign"] == entry["rerun_sign"]
        # a stable verdict says something only if the rerun measured different numbers
        entry["same_numbers"] = r is not None and measurement(s) == measurement(r)
        out.append(entry)
    missing = sorted(set(by_id) - {s["id"] for s in stored})
    out += [{"id": i, "claim": by_id[i]["claim"], "stored": None, "rerun": by_id[i]["verdict"], "stored_sign": None,
             "rerun_sign": effect_sign(by_id[i]), "stable": False,
             "same_numbers": False} for i in missing]
    return out


def rerun(notebook: Path, isa: str, timeout: int) -> tuple[dict, float, dict]:
    """Execute ``notebook`` under ``isa`` into a scratch folder; return its results, seconds and environment."""
    if isa not in ISAS:
        raise ValueError(f"expected --isa in {sorted(ISAS)}, got {isa!r}")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "results"
        shutil.copytree(STORED, scratch)  # chapters that read earlier chapters' results find them
        env = {**os.environ, **ISAS[isa], "COORDLIB_PROFILE": "book", "COORDLIB_RESULTS_DIR": str(scratch)}
        tic = time.perf_counter()
        # --timing-only: the stored notebook is not rewritten; --no-record: nor are the run times
        cmd = [sys.executable, "-m", "coordlib.book.execute", "--no-record", "--timing-only", "--timeout", str(timeout),
               str(notebook)]
        subprocess.run(cmd, env=env, check=True, cwd=ROOT)
        seconds = time.perf_counter() - tic
        doc = json.loads((scratch / f"{notebook.stem}.json").read_text())
    return doc["results"], seconds, doc["environment"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--isa", default="default", choices=sorted(ISAS))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    outcome = json.loads(OUTCOME.read_text()) if OUTCOME.exists() else {}
    for nb in args.notebooks:
        stored_doc = json.loads((STORED / f"{nb.stem}.json").read_text())
        results, seconds, env = rerun(nb, args.isa, args.timeout)
        claims = compare_verdicts(stored_doc["results"].get("verdicts", []), results.get("verdicts", []))
        outcome[nb.stem] = {"isa": args.isa, "env": ISAS[args.isa], "seconds": round(seconds, 1),
                            "stored_cpu_capability": stored_doc["environment"].get("cpu_capability"),
                            "rerun_cpu_capability": env.get("cpu_capability"), "claims": claims}
        unstable = [c["id"] for c in claims if not c["stable"]]
        changed = sum(not c["same_numbers"] for c in claims)
        print(f"{nb.stem}: {len(claims)} claims, {len(unstable)} unstable {unstable}, "
              f"{changed} with different numbers ({seconds:.0f} s)", flush=True)
        text = json.dumps(outcome, indent=2, sort_keys=True) + "\n"
        tmp = OUTCOME.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, OUTCOME)  # atomic: a killed run leaves the previous outcome intact
    return 0


if __name__ == "__main__":
    sys.exit(main())
