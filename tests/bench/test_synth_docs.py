"""docs/benchmarks.md shows the synth figures as bench/synth.py printed them (`python bench/synth.py --update-docs`
writes the block): the block is what `render` makes of the figures recorded in it, so a figure or ratio typed in
by hand, or a ratio that does not follow from the seconds, fails here."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

from tests.support.docs import generated_block

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_synth", ROOT / "bench" / "synth.py")
assert _spec and _spec.loader
synth = importlib.util.module_from_spec(_spec)
sys.modules["bench_synth"] = synth  # dataclasses look their module up by name
_spec.loader.exec_module(synth)


def test_docs_show_the_figures_the_benchmark_printed() -> None:
    block = generated_block("benchmarks.md", synth.BEGIN, synth.END)
    figures = synth.recorded(block)
    assert block == synth.render(figures)
    assert figures.runs >= 5  # the figure is a median of 5
    assert set(figures.seconds) == {"empty", *synth.TARGETS}
    for env in synth.TARGETS:
        assert (
            f"{env:<18} {figures.seconds[env]:6.2f} s   ratio {figures.seconds[env] / figures.seconds['empty']:.2f}x"
            in block
        )


def test_a_figure_changed_by_hand_no_longer_matches() -> None:
    block = generated_block("benchmarks.md", synth.BEGIN, synth.END)
    figures = synth.recorded(block)
    edited = replace(figures, seconds={**figures.seconds, "dev": figures.seconds["dev"] + 1})
    assert synth.render(edited) != block
    assert synth.recorded(synth.render(edited)) == edited
