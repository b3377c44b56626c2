"""Noninterference (issue 9): what a reader sees depends only on what they may read.

Each test builds twin workspaces through the real CLI and pipeline (see
twins.py): the same records the reader R may read, in the same order, and in
one of them records R may not read as well. Every command R can run must
print the same in both, byte for byte once run times are normalised. A
failure lists every differing output with its diff and the twin that made
it, so one run shows all the leaks at once.

The property draws 300 random twins; `benchmarks/noninterference.py` runs the
same property over 10,000. The fixed twins below each reproduce one finding
of issue 9 that shows as a difference between twins, for quick diagnosis.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from twins import (
    BANNER_SPELLINGS,
    SHARED_DATA,
    TEXTS,
    Alerts,
    Doc,
    Intel,
    Pipeline,
    Rules,
    Twin,
    Watch,
    WinEvents,
    compare_twin,
    respell,
    twins,
)

from noninterference_fixtures import twin_settings

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

EXAMPLES = 300


@twin_settings(EXAMPLES)
@given(twin=twins())
def test_a_reader_sees_the_same_whatever_they_may_not_read(
    twin_pipeline: Pipeline, twin_scratch: Path, twin: Twin
) -> None:
    run = compare_twin(twin, twin_scratch)
    assert not run.differences(), run.report()


# ------------------------------------------------------------ fixed twins
NR = "NATO RESTRICTED"
NS = "NATO SECRET"
PRIGOZHINOW = TEXTS[4]  # "Yevgeny Prigozhinow, a logistics broker ..."
SPOTREP = TEXTS[0]  # a SALUTE spot report at Ivangorod: one event
NARVA_PRESS = TEXTS[11]
TAPA_CYBER = TEXTS[8]


def doc(name: str, body: str, marking: str, hidden: bool = False, **kw: str | None) -> Doc:
    return Doc(name, body, marking, kw.get("banner", marking), kw.get("floor"), hidden)


FINDINGS = {
    # 3: `--marking NS` without --source made NS the default of source "default",
    # so a later NR report landed at NS and vanished for the NR reader.
    "3-marking-sets-source-default": Twin(
        "lux_nr",
        (
            (Doc("h1", TEXTS[14], NS, None, hidden=True),),
            (doc("v1", NARVA_PRESS, NR),),
        ),
        queries=("Narva",),
    ),
    # 4: other spellings of one person in a SECRET report: the NR reader must
    # see only the readable spelling, and the same entity id and aliases.
    "4-spellings-merged-across-markings": Twin(
        "lux_nr",
        (
            (doc("h1", respell(PRIGOZHINOW), NS, hidden=True),),
            (doc("v1", PRIGOZHINOW, NR),),
            (doc("h2", respell(TEXTS[18]), NS, hidden=True),),
        ),
        queries=("Prigozhinow", "Prigozhinov"),
    ),
    # 5: a low user's `rules load` counted alerts on SECRET events, and a
    # hidden rule of the same id replaced or shadowed theirs.
    "5-rules-load-counts-hidden-events": Twin(
        "lux_nr",
        (
            (WinEvents("h1", (0, 1, 2), NS, hidden=True),),
            (Rules("h2", (3,), NS, hidden=True),),
            (WinEvents("v1", (3,), NR),),
        ),
        own_rules=(0, 1, 3),
    ),
    # 6: a low user ingesting a text held higher was told `duplicates: 1`.
    "6-ingest-duplicate-oracle": Twin(
        "lux_nr",
        ((doc("h1", TAPA_CYBER, NS, hidden=True),), (doc("v1", NARVA_PRESS, NR),)),
        own_text=doc("h1", TAPA_CYBER, NS).content(),
    ),
    # 7: full-text statistics over every document moved scores and order:
    # hidden reports full of "Narva" make it a common word, which lifts the
    # readable report that repeats "Ivangorod" above the one that repeats "Narva".
    "7-search-scores-from-hidden-statistics": Twin(
        "lux_nr",
        (
            (doc("v1", "Patrol report: Narva, Narva and Narva, then Ivangorod.", NR),),
            (doc("h1", "Narva river watched from Narva castle.", NS, hidden=True),),
            (doc("v2", "Patrol report: Narva, then Ivangorod, Ivangorod, Ivangorod.", NR),),
            *((doc(f"h{n}", f"Narva sector {n}: Narva quiet.", NS, hidden=True),) for n in (2, 3)),
            (
                doc("v3", "The Ivangorod bridge is closed.", NR),
                doc("h4", TEXTS[11], NS, hidden=True),
            ),
            # Readable reports without either name, so that both names are rare without
            # the hidden ones (FTS5 floors the weight of a word in half the documents).
            tuple(doc(f"f{n}", TEXTS[n], NR) for n in (6, 7, 9, 10, 13, 15)),
            *((doc(f"h{n}", f"Narva, day {n}: Narva calm.", NS, hidden=True),) for n in (5, 6, 7)),
        ),
        queries=("Narva Ivangorod", "Narva", "Ivangorod"),
    ),
    # 8: reindex counted every document; event ids were a running number.
    "8-reindex-count-and-event-ids": Twin(
        "lux_nr",
        (
            (doc("h1", TEXTS[12], NS, hidden=True),),
            (doc("v1", SPOTREP, NR),),
            (doc("h2", TEXTS[1], "COSMIC TOP SECRET", hidden=True),),
            (doc("v2", TEXTS[2], NR),),
        ),
    ),
    # 9: banners not read lost to a lower --marking, so SECRET text was NR.
    "9-banner-spellings": Twin(
        "lux_nr",
        (
            *(
                (doc(f"h{n}", TEXTS[n], level, hidden=True, banner=spelling, floor=NR),)
                for n, (level, spellings) in enumerate(BANNER_SPELLINGS.items())
                for spelling in spellings
            ),
            (Doc("h9", f"INTREP 021\n{NS}\n\n{TEXTS[15]}", NS, "", NR, hidden=True),),
            (doc("v1", NARVA_PRESS, NR),),
        ),
        queries=("Narva", "Riga", "Tapa"),
    ),
    # Alerts, indicators and watches R may not read leave R's cyber view unchanged.
    "cyber-alerts-indicators-watches": Twin(
        "lux_nr",
        (
            (Alerts("v1", (0, 1, 2), NR),),
            (Alerts("h1", (3, 4, 5, 6), NS, hidden=True),),
            (Intel("h2", ("8.42.77.171", "203.0.113.7"), NS, hidden=True),),
            (Watch("h3", "fra_ns", "armoured vehicles near Narva or Ivangorod"),),
            (doc("v2", NARVA_PRESS, NR),),
        ),
    ),
}


@pytest.mark.parametrize("twin", FINDINGS.values(), ids=FINDINGS.keys())
def test_a_finding_of_issue_9_shows_no_difference_between_twins(
    twin_pipeline: Pipeline, twin_scratch: Path, twin: Twin
) -> None:
    run = compare_twin(twin, twin_scratch)
    assert not run.differences(), run.report()


def test_batches_shared_with_hidden_reports_change_nothing_without_memoised_embeddings(
    twin_pipeline: Pipeline, twin_scratch: Path
) -> None:
    """The real encoder pads each batch to its longest text: hidden reports in the same
    ingest run move readable vectors in the seventh digit. No output may show it."""
    with twin_pipeline.unmemoised_embeddings():
        run = compare_twin(FINDINGS["7-search-scores-from-hidden-statistics"], twin_scratch)
    assert not run.differences(), run.report()


def test_identical_twins_print_the_same(twin_pipeline: Pipeline, twin_scratch: Path) -> None:
    """The control: without hidden records, only what `normalise` removes may vary."""
    twin = FINDINGS["8-reindex-count-and-event-ids"]
    visible = Twin(twin.reader, tuple(tuple(twin.visible_steps())), queries=("Ivangorod",))
    run = compare_twin(visible, twin_scratch)
    assert len(run.outputs) > 10 and not run.differences(), run.report()
