"""token_f1 follows the SQuAD v1.1 script (golden values computed by hand from its definition);
citation_match compares the [n] sources cited."""

import pytest

from vlm_pipelines.metrics import get_metric


@pytest.mark.parametrize(
    ("prediction", "references", "expected"),
    [
        ("36 months", ["36 months"], 1.0),
        ("The warranty is 36 months [1].", ["36 months"], 2 * (2 / 4) * 1.0 / (2 / 4 + 1.0)),  # p 2/4, r 2/2
        ("the Denver Broncos", ["Denver Broncos"], 1.0),  # articles and case dropped
        ("Broncos!", ["Denver Broncos", "Broncos"], 1.0),  # best reference
        ("Paris", ["London"], 0.0),
        ("", ["London"], 0.0),
        ("a an the", ["the"], 1.0),  # both normalise to nothing
    ],
)
def test_token_f1_matches_squad(prediction: str, references: list[str], expected: float) -> None:
    assert get_metric("token_f1")(prediction, references) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("36 months [2]", "It is 36 months [2].", 1.0),
        ("36 months [1]", "It is 36 months [2].", 0.0),
        ("36 months [1] [3]", "36 months [3]", 1.0),
        ("36 months", "36 months [1]", 0.0),  # no citation
        ("36 months [1]", "36 months", 1.0),  # a reference citing nothing is taken to cite [1]
    ],
)
def test_citation_match(prediction: str, reference: str, expected: float) -> None:
    assert get_metric("citation_match")(prediction, [reference]) == expected
