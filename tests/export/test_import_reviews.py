"""import-reviews: Label Studio exports and correction CSVs become decisions in the store, history kept."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError, DataError
from core.export import label_studio
from core.export.import_reviews import import_reviews
from core.export.source import load_source
from core.run import schema
from core.run.reviews import (
    ACTION,
    KEEP,
    MISLABELED,
    NEW_LABEL,
    RELABEL,
    REVIEWER,
    ReviewStore,
)


def _annotation(choice: str, *, cancelled: bool = False, when: str = "2026-01-01T10:00:00.000000Z", ident: int = 1):
    """One annotation as Label Studio's JSON export writes it (the fields its export carries)."""
    return {"id": ident, "completed_by": 1, "was_cancelled": cancelled, "ground_truth": False,
            "result": [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}],
            "created_at": when, "updated_at": when, "lead_time": 3.2, "prediction": {}, "result_count": 1,
            "task": 1, "project": 1}


def _label_studio_export(run, tmp_path, decide):
    """Our tasks, annotated as `decide(task) -> list of annotations`, shaped like Label Studio's JSON export."""
    tasks = label_studio.tasks(load_source(run.path), load_source(run.path).select("flagged"))
    exported = []
    for index, task in enumerate(tasks):
        exported.append({"id": index + 1, "data": task["data"], "annotations": decide(task), "drafts": [],
                         "predictions": [index + 1], "meta": {}, "project": 1, "inner_id": index + 1})
    path = tmp_path / "project-1-at-2026.json"
    path.write_text(json.dumps(exported))
    return path, tasks


def test_label_studio_export_lands_in_the_store(digits_copy, tmp_path):
    store = ReviewStore(digits_copy.path)
    def decide(task):
        data, i = task["data"], task["data"]["sample_id"] % 4
        suggested = task["predictions"][0]["result"][0]["value"]["choices"][0]
        if i == 0:
            return []  # nobody annotated it
        if i == 1:
            return [_annotation(data["given_label"])]
        if i == 2:  # the later of two annotations wins; a cancelled one does not count
            return [_annotation(data["given_label"], when="2026-01-01T10:00:00Z"),
                    _annotation(suggested if suggested != data["given_label"] else "0", when="2026-01-02T10:00:00Z"),
                    _annotation(data["given_label"], cancelled=True, when="2026-01-03T10:00:00Z")]
        return [_annotation(data["given_label"], cancelled=True)]
    path, tasks = _label_studio_export(digits_copy, tmp_path, decide)
    first = tasks[0]["data"]["sample_id"]
    store.record([first], MISLABELED, "earlier reviewer")
    result = import_reviews(digits_copy.path, path, "Ann")
    decisions = store.decisions().set_index(schema.SAMPLE_ID)
    samples = digits_copy.read_samples()
    names = digits_copy.read_manifest()["dataset"]["class_names"]
    expected = {}
    for task in tasks:
        data = task["data"]
        sid = data["sample_id"]
        if sid % 4 == 1:
            expected[sid] = (KEEP, None)
        elif sid % 4 == 2:
            suggested = task["predictions"][0]["result"][0]["value"]["choices"][0]
            target = suggested if suggested != data["given_label"] else "0"
            expected[sid] = (KEEP, None) if target == data["given_label"] else (RELABEL, names.index(target))
    for sid, (action, label) in expected.items():
        assert decisions.loc[sid, ACTION] == action and decisions.loc[sid, REVIEWER] == "Ann"
        if action == RELABEL:
            assert decisions.loc[sid, NEW_LABEL] == label != samples[schema.GIVEN_LABEL].iloc[sid]
    assert result.counts[KEEP] + result.counts[RELABEL] == len(expected) and result.counts[MISLABELED] == 0
    assert result.skipped == len(tasks) - len(expected)
    history = store.history()
    assert history[REVIEWER].iloc[0] == "earlier reviewer", "earlier decisions stay in the history"
    assert len(history) == 1 + len(expected)


def test_label_studio_json_min_export(digits_copy, tmp_path):
    tasks = label_studio.tasks(load_source(digits_copy.path), load_source(digits_copy.path).select("flagged"))[:3]
    rows = [{**{k: v for k, v in t["data"].items() if k != "image"}, "id": i, "label": t["data"]["given_label"],
             "annotator": 1, "annotation_id": i} for i, t in enumerate(tasks)]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(rows))
    result = import_reviews(digits_copy.path, path, "bob")
    assert result.counts == {KEEP: 3, RELABEL: 0, MISLABELED: 0}


def test_corrections_csv(digits_copy, tmp_path):
    samples = digits_copy.read_samples()
    given = samples[schema.GIVEN_LABEL]
    other = lambda i: str((given.iloc[i] + 1) % 10)  # noqa: E731
    path = tmp_path / "fixes.csv"
    path.write_text("sample_id,label,action\n"
                    f"0,{other(0)},\n"            # a class name, no action: relabel
                    f"1,{given.iloc[1]},\n"       # the given label: keep
                    "2,,mislabeled\n"
                    f"3,{other(3)},relabel\n"
                    "4,,keep\n")
    result = import_reviews(digits_copy.path, path, "carol", fmt="csv")
    assert result.counts == {KEEP: 2, RELABEL: 2, MISLABELED: 1}
    decisions = ReviewStore(digits_copy.path).decisions().set_index(schema.SAMPLE_ID)
    assert decisions[ACTION].to_dict() == {0: RELABEL, 1: KEEP, 2: MISLABELED, 3: RELABEL, 4: KEEP}
    assert decisions.loc[0, NEW_LABEL] == (given.iloc[0] + 1) % 10
    assert set(decisions[REVIEWER]) == {"carol"}


def test_class_names_match_before_indices():
    from types import SimpleNamespace

    from core.export.import_reviews import class_index
    from core.export.review_files import ReviewRow

    source, row = SimpleNamespace(class_names=["1", "2", "0", "cat"]), ReviewRow(5, None, None, "line 2")
    assert class_index(source, "0", "f.csv", row) == 2, "a class name wins over an index"
    assert class_index(source, "3", "f.csv", row) == 3, "an index when no class has that name"
    with pytest.raises(DataError, match=r"f.csv: line 2: unknown class '7' for sample 5"):
        class_index(source, "7", "f.csv", row)


@pytest.mark.parametrize("content, message", [
    ("sample_id,label\n99999,3\n", "unknown sample id 99999"),
    ("sample_id,label\n0,kitten\n", "unknown class 'kitten'"),
    ("sample_id,label\n0,3\n0,4\n", "listed again"),
    ("sample_id,label\nzero,3\n", "line 3: sample_id 'zero' is not an integer"),
    ("sample_id,action\n0,delete\n", "action 'delete' is not one of"),
    ("sample_id,label,action\n0,,relabel\n", "relabel of sample 0 to no label"),
    ("sample_id\n0\n", "needs columns sample_id and label"),
    ("sample_id,label\n0,\n", "neither a label nor an action"),
])
def test_bad_csv_files_are_refused_whole(digits_copy, tmp_path, content, message):
    path = tmp_path / "fixes.csv"
    path.write_text("sample_id,label\n1,1\n" + content.split("\n", 1)[1] if content.startswith("sample_id,label\n")
                    else content)
    with pytest.raises(DataError, match=message) as error:
        import_reviews(digits_copy.path, path, "eve")
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert ReviewStore(digits_copy.path).count() == 0, "nothing is written when any row is wrong"


@pytest.mark.parametrize("payload, message", [
    ("{not json", "not a JSON file"),
    ('{"tasks": []}', "expected a JSON list"),
    ('[{"data": {"image": "x"}, "annotations": []}]', "task 0 has no data.sample_id"),
    ('[{"id": 7, "data": {"sample_id": 0}, "annotations": [{"result": [{"value": {"choices": ["1", "2"]}}]}]}]',
     r"task 0 \(id 7\).*exactly one chosen class"),
    ('[{"data": {"sample_id": 0, "given_label": "not-this"}, "annotations": []}]', "exported from another run"),
])
def test_bad_label_studio_files_are_refused(digits_copy, tmp_path, payload, message):
    path = tmp_path / "export.json"
    path.write_text(payload)
    with pytest.raises(DataError, match=message):
        import_reviews(digits_copy.path, path, "eve")
    assert ReviewStore(digits_copy.path).count() == 0


def test_format_and_reviewer_checks(digits_copy, tmp_path):
    path = tmp_path / "fixes.txt"
    path.write_text("sample_id,label\n0,1\n")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        import_reviews(digits_copy.path, path, "eve")
    with pytest.raises(ConfigError, match="--reviewer"):
        import_reviews(digits_copy.path, path, "  ", fmt="csv")
    with pytest.raises(DataError, match="no such file"):
        import_reviews(digits_copy.path, tmp_path / "missing.csv", "eve")
    result = import_reviews(digits_copy.path, path, "eve", fmt="csv")
    assert sum(result.counts.values()) == 1 == ReviewStore(digits_copy.path).count()


def test_test_split_reviews_go_to_the_test_store(digits_copy, tmp_path):
    path = tmp_path / "test-fixes.csv"
    path.write_text("sample_id,action\n0,keep\n")
    import_reviews(digits_copy.path, path, "eve", split="test")
    assert ReviewStore(digits_copy.path, split="test").count() == 1 and ReviewStore(digits_copy.path).count() == 0


def test_importing_the_same_export_twice_adds_no_votes(digits_copy, tmp_path):
    path, tasks = _label_studio_export(digits_copy, tmp_path, lambda task: [_annotation(task["data"]["given_label"])])
    first = import_reviews(digits_copy.path, path, "Ann")
    assert first.counts[KEEP] == len(tasks) and first.already == 0
    again = import_reviews(digits_copy.path, path, "Ann")
    assert sum(again.counts.values()) == 0 and again.already == len(tasks)
    assert ReviewStore(digits_copy.path).count() == len(tasks)
    csv = tmp_path / "fixes.csv"
    csv.write_text("sample_id,action\n0,keep\n1,mislabeled\n")
    assert sum(import_reviews(digits_copy.path, csv, "Ann").counts.values()) == 2
    assert import_reviews(digits_copy.path, csv, "Ann").already == 2
    assert ReviewStore(digits_copy.path).count() == len(tasks) + 2


def test_an_updated_annotation_comes_in_as_the_reviewers_new_vote(digits_copy, tmp_path):
    samples = digits_copy.read_samples()
    names = digits_copy.read_manifest()["dataset"]["class_names"]
    def decide(when):
        return lambda task: [_annotation(task["data"]["given_label"], when=when, ident=task["data"]["sample_id"])]
    path, tasks = _label_studio_export(digits_copy, tmp_path, decide("2026-01-01T10:00:00Z"))
    import_reviews(digits_copy.path, path, "Ann")
    sid = tasks[0]["data"]["sample_id"]
    other = names[(int(samples[schema.GIVEN_LABEL].iloc[sid]) + 1) % len(names)]
    exported = json.loads(path.read_text())
    exported[0]["annotations"] = [_annotation(other, when="2026-01-02T10:00:00Z", ident=sid)]
    path.write_text(json.dumps(exported))
    result = import_reviews(digits_copy.path, path, "Ann")
    assert result.counts[RELABEL] == 1 and result.already == len(tasks) - 1
    decisions = ReviewStore(digits_copy.path).decisions().set_index(schema.SAMPLE_ID)
    assert decisions.loc[sid, ACTION] == RELABEL and decisions.loc[sid, NEW_LABEL] == names.index(other)


def test_json_min_with_two_annotations_on_a_task_takes_the_latest(digits_copy, tmp_path):
    tasks = label_studio.tasks(load_source(digits_copy.path), load_source(digits_copy.path).select("flagged"))[:2]
    names = digits_copy.read_manifest()["dataset"]["class_names"]
    data = {k: v for k, v in tasks[0]["data"].items() if k != "image"}
    other = names[(names.index(data["given_label"]) + 1) % len(names)]
    rows = [{**data, "id": 1, "label": other, "annotator": 2, "annotation_id": 8,
             "updated_at": "2026-03-02T10:00:00Z"},
            {**data, "id": 1, "label": data["given_label"], "annotator": 1, "annotation_id": 7,
             "updated_at": "2026-03-01T10:00:00Z"}]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(rows))
    result = import_reviews(digits_copy.path, path, "bob")
    assert result.counts == {KEEP: 0, RELABEL: 1, MISLABELED: 0}
    decisions = ReviewStore(digits_copy.path).decisions().set_index(schema.SAMPLE_ID)
    assert decisions.loc[data["sample_id"], NEW_LABEL] == names.index(other)


def test_a_test_split_export_is_refused_by_the_training_store(digits_copy, tmp_path):
    source = load_source(digits_copy.path, "test")
    tasks = label_studio.tasks(source, source.select("flagged"))[:3]
    exported = [{"id": i + 1, "data": t["data"], "annotations": [_annotation(t["data"]["given_label"], ident=i + 1)]}
                for i, t in enumerate(tasks)]
    path = tmp_path / "test-export.json"
    path.write_text(json.dumps(exported))
    with pytest.raises(DataError, match="from the 'test' split, not 'train'; pass --split test"):
        import_reviews(digits_copy.path, path, "eve")
    assert ReviewStore(digits_copy.path).count() == 0
    assert import_reviews(digits_copy.path, path, "eve", split="test").counts[KEEP] == 3


def test_imports_by_two_reviewers_are_votes_and_a_disagreement_stays_open(digits_copy, tmp_path):
    samples = digits_copy.read_samples()
    given = samples[schema.GIVEN_LABEL]
    keep, fix = tmp_path / "keep.csv", tmp_path / "fix.csv"
    keep.write_text("sample_id,action\n0,keep\n1,keep\n")
    fix.write_text(f"sample_id,label\n0,{given.iloc[0]}\n1,{(given.iloc[1] + 1) % 10}\n")
    import_reviews(digits_copy.path, keep, "Ann")
    import_reviews(digits_copy.path, fix, "Bob")  # agrees on 0 (its given label: a keep), not on 1
    store = ReviewStore(digits_copy.path)
    assert store.decisions()[schema.SAMPLE_ID].tolist() == [0] and store.open_disagreements().tolist() == [1]
    assert load_source(digits_copy.path).table["review"].iloc[:2].tolist() == [KEEP, ""]
