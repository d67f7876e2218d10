"""Text runs in the dashboard: texts shown as plain text (never Markdown or HTML), shortened with the whole
text on expand, with given and true labels, in review cards, the map's selection and the sample detail."""

from __future__ import annotations

from core.run import schema
from core.run.rundir import RunDir
from dashboard.formatting import short_text
from tests.conftest import INJECTION_TEXT
from tests.dashboard.conftest import open_page, problems

RAW_MARKUP = ("**bold**", "<script>", "[click](", ":red[red]", "<b>")


def _samples(runs_dir):
    return RunDir(runs_dir / "text").read_samples()


def _injection_id(runs_dir) -> int:
    frame = _samples(runs_dir)
    return int(frame.index[frame[schema.TEXT] == INJECTION_TEXT][0])


def _no_markup_rendered(app) -> None:
    for element in list(app.markdown) + list(app.caption):
        assert not any(markup in element.value for markup in RAW_MARKUP), element.value


def test_review_cards_show_the_flagged_texts_with_their_labels(app_env):
    app = open_page(app_env / "text", "flagged_review")
    assert not problems(app)
    frame = _samples(app_env)
    flagged = frame[frame[schema.IS_FLAGGED]]
    shown = {element.value for element in app.text}
    assert {short_text(text) for text in flagged[schema.TEXT]} <= shown
    assert any(":green[true **" in element.value for element in app.markdown)  # true labels are known here
    _no_markup_rendered(app)


def test_sample_detail_shows_the_whole_text_unrendered_and_the_neighbours_texts(app_env):
    sample_id = _injection_id(app_env)
    app = open_page(app_env / "text", "sample_detail", detail_sample=sample_id)
    assert not problems(app)
    values = [element.value for element in app.text]
    assert INJECTION_TEXT in values  # the whole text, as plain text
    assert short_text(INJECTION_TEXT) != INJECTION_TEXT
    neighbours = app.dataframe[-1].value
    frame = _samples(app_env)
    assert list(neighbours["text"]) == [frame[schema.TEXT].iloc[i] for i in neighbours["sample"]]
    for text in neighbours["text"]:  # every neighbour's card shows its (shortened) text
        assert short_text(text) in values
    _no_markup_rendered(app)


def _text_card_script() -> None:
    from dashboard import widgets
    from tests.conftest import INJECTION_TEXT

    widgets.text_ui(INJECTION_TEXT, key="card")
    widgets.text_ui("a short request", key="short")


def test_a_long_text_is_shortened_on_its_card_and_whole_in_the_expander():
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_text_card_script, default_timeout=60)
    app.run()
    assert not problems(app)
    assert [element.value for element in app.text][0] == short_text(INJECTION_TEXT)
    assert len(short_text(INJECTION_TEXT)) < len(INJECTION_TEXT)
    assert [expander.label for expander in app.expander] == ["full text"]  # the short text has none
    assert [element.value for element in app.expander[0].text] == [INJECTION_TEXT]
    assert "a short request" in [element.value for element in app.text]
    assert not app.markdown


def test_map_selection_lists_the_selected_texts(app_env):
    sample_id = _injection_id(app_env)
    selection = {"selection": {"points": [{"customdata": [sample_id]}, {"customdata": [sample_id + 1]}]}}
    app = open_page(app_env / "text", "gradient_space", gradient_map=selection)
    assert not problems(app)
    table = app.dataframe[0].value
    frame = _samples(app_env)
    assert sorted(table["sample"]) == sorted([sample_id, sample_id + 1])
    assert set(table["text"]) == {frame[schema.TEXT].iloc[sample_id], frame[schema.TEXT].iloc[sample_id + 1]}
    assert {"given", "true", "predicted", "score"} <= set(table.columns)
    _no_markup_rendered(app)


def test_map_hover_labels_carry_escaped_texts(app_env):
    app = open_page(app_env / "text", "gradient_space")
    figure = app.get("plotly_chart")[0].proto.spec
    assert "&lt;script&gt;" in figure and "<script>" not in figure


def test_test_review_shows_test_texts(app_env):
    app = open_page(app_env / "text", "flagged_review", review_split="test samples")
    assert not problems(app)
    texts = RunDir(app_env / "text").read_parquet(schema.TEST_TEXTS)[schema.TEXT]
    shown = {element.value for element in app.text}
    assert len(shown & {short_text(text) for text in texts}) >= 1


def test_test_explorer_shows_the_test_text_and_the_top_training_texts(app_env):
    app = open_page(app_env / "text", "test_explorer")
    assert not problems(app)
    texts = RunDir(app_env / "text").read_parquet(schema.TEST_TEXTS)[schema.TEXT]
    assert texts.iloc[0] in [element.value for element in app.text]
    frame = _samples(app_env)
    top = app.dataframe[1].value  # the first method's top training samples
    assert list(top[schema.TEXT]) == [frame[schema.TEXT].iloc[i] for i in top[schema.SAMPLE_ID]]
