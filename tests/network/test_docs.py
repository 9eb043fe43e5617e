"""The example in docs/scenario-format.md loads."""

from pathlib import Path

from euroqci.network.scenario import loads_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenario-format.md"


def test_complete_example_in_the_docs_loads():
    text = DOC.read_text(encoding="utf-8")
    example = text.split("## A complete small example", 1)[1].split("```yaml\n", 1)[1]
    s = loads_scenario(example.split("```", 1)[0], source=str(DOC))
    assert s.name == "three-nodes" and len(s.network.fiber_links) == 3 and len(s.demands) == 2
