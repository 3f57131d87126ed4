"""Train the MOSTLY AI SDK (local mode, its defaults) on one table and sample it. Runs inside the peer's own
virtual environment (bench/bench_peers.py creates it); never imported by synthgen.

    python mostlyai_run.py SOURCE OUT_DIR ROWS     -> OUT_DIR/synthetic.parquet, OUT_DIR/timing.json
"""

import json
import sys
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    source, out, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_parquet(source) if source.suffix == ".parquet" else pd.read_csv(source)
    start = time.perf_counter()
    from mostlyai.sdk import MostlyAI

    mostly = MostlyAI(local=True, local_dir=str(out / "mostly"), quiet=True)
    ready = time.perf_counter()
    generator = mostly.train(config={"name": "bench", "tables": [{"name": "data", "data": frame}]},
                             start=True, wait=True, progress_bar=False)
    trained = time.perf_counter()
    synthetic = mostly.generate(generator, config={"tables": [{"name": "data",
                                                               "configuration": {"sample_size": rows}}]},
                                start=True, wait=True, progress_bar=False)
    data = synthetic.data()
    if isinstance(data, dict):
        data = data["data"]
    done = time.perf_counter()
    data.to_parquet(out / "synthetic.parquet")
    (out / "timing.json").write_text(json.dumps({"startup_s": ready - start, "fit_s": trained - ready,
                                                  "generate_s": done - trained, "rows": len(data)}))


if __name__ == "__main__":
    main()
