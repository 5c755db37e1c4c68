"""The instructors' run-time records and the page rendered from them (splitbrain.book)."""
import json

from splitbrain.book import record_runtimes, runtime_page


def test_record_runtimes_writes_one_complete_record(tmp_path):
    seconds = {"notebooks/01_color_spaces.ipynb": 12.5, "notebooks/05_pretraining.ipynb": 77.0}
    path = record_runtimes(tmp_path, "cpu", seconds)
    assert path == tmp_path / "results" / "runtimes" / "cpu.json"
    record = json.loads(path.read_text())
    assert record["preset"] == "cpu" and record["seconds"] == seconds
    assert "CPU cores" in record["machine"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["cpu.json"]  # no temporary left behind
    record_runtimes(tmp_path, "cpu", {"notebooks/01_color_spaces.ipynb": 3.0})  # a re-run replaces it
    assert json.loads(path.read_text())["seconds"] == {"notebooks/01_color_spaces.ipynb": 3.0}


def test_runtime_page_has_a_column_per_preset_and_totals():
    records = [
        {"preset": "smoke", "machine": "m", "date": "d", "seconds": {"a.ipynb": 30.0, "b.ipynb": 30.0}},
        {"preset": "cpu", "machine": "m", "date": "d", "seconds": {"a.ipynb": 90.0}},
    ]
    page = runtime_page(records)
    assert "| chapter | `smoke` (s) | `cpu` (s) | Colab GPU (`colab`) |" in page
    assert "| `a.ipynb` | 30 | 90 | not measured |" in page and "| `b.ipynb` | 30 |  | not measured |" in page
    assert "| total | **1.0 min** | **1.5 min** |  |" in page
    assert "no GPU has run the chapters yet" in page
    # a recorded GPU run is a column like the others
    gpu = runtime_page(records + [{"preset": "colab", "machine": "T4", "date": "d", "seconds": {"a.ipynb": 60.0}}])
    assert "| chapter | `smoke` (s) | `cpu` (s) | `colab` (s) |" in gpu and "not measured" not in gpu
    assert "No run times have been recorded yet." in runtime_page([])
