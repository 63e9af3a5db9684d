import json

import numpy as np
import pytest
import torch

from edge_msa.data.synthetic import synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.face import FEATURE_NAMES
from edge_msa.features.spec import LIVE
from edge_msa.models import create_model
from edge_msa.train.prompts import (
    FeatureDescriber,
    JsonlPrompts,
    NoPrompts,
    PromptedData,
    attach_prompts,
    load_provider,
    tokenize_prompts,
)


@pytest.fixture(scope="module")
def data():
    return synthetic_data(LIVE, n=6, seed=3)


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_prompts_by_id_and_missing_rows_get_empty(tmp_path, data):
    f = write_jsonl(tmp_path / "p.jsonl", [{"id": data.ids[2], "prompt": "  The voice trembles. "},
                                           {"id": data.ids[0], "prompt": "A wide smile."},
                                           {"id": "not-in-data", "prompt": "ignored"}])
    provider = load_provider(str(f), LIVE)
    texts = provider.prompts(data)
    assert texts[0] == "A wide smile." and texts[2] == "The voice trembles."
    assert texts[1] == texts[3] == texts[4] == texts[5] == ""
    assert provider.coverage(data) == pytest.approx(2 / 6)


@pytest.mark.parametrize("line, message", [
    ("{not json", "p.jsonl, line 2: not JSON"),
    ('{"id": "a"}', "p.jsonl, line 2: expected"),
    ('{"id": "x", "prompt": "again"}', "appears twice"),
])
def test_jsonl_bad_lines_are_user_errors(tmp_path, line, message):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "x", "prompt": "fine"}\n' + line + "\n")
    with pytest.raises(UserError, match=message):
        JsonlPrompts(f)


def test_missing_file_and_bad_source_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        JsonlPrompts(tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match="'describe', 'none' or a .jsonl"):
        load_provider("prompts.txt", LIVE)


def voice(n=200, f0_start=120.0, f0_end=240.0, energy=1.5):
    frames = np.zeros((n, 42), np.float32)
    frames[:, 40] = np.log(np.linspace(f0_start, f0_end, n) / 50.0)  # ln(F0 / 50 Hz)
    frames[:, 41] = energy
    return frames


def face(n=30, **channels):
    frames = np.zeros((n, 55), np.float32)
    for name, value in channels.items():
        frames[:, FEATURE_NAMES.index(name)] = value
    return frames


def test_describer_reads_pitch_energy_and_face():
    d = FeatureDescriber(LIVE)
    ones_a, ones_v = np.ones(200, np.float32), np.ones(30, np.float32)
    text = d.describe(voice(), ones_a, face(mouthSmileLeft=0.7, mouthSmileRight=0.6), ones_v)
    assert "rising" in text and "loud" in text and "smiling broadly" in text
    assert "smiling slightly" not in text  # one phrase per cue
    falling = d.describe(voice(f0_start=250, f0_end=120, energy=-1.2), ones_a,
                         face(browDownLeft=0.5, browDownRight=0.5), ones_v)
    assert "falling" in falling and "soft" in falling and "brows lowered" in falling


def test_describer_skips_absent_modalities_and_unknown_kinds(data):
    d = FeatureDescriber(LIVE)
    zeros_a, zeros_v = np.zeros(200, np.float32), np.zeros(30, np.float32)
    assert d.describe(voice(), zeros_a, face(), zeros_v) == ""
    only_face = d.describe(voice(), zeros_a, face(), np.ones(30, np.float32))
    assert only_face == "The speaker's face shows a neutral expression."
    mosi_like = FeatureDescriber(type(LIVE)(text=LIVE.text, audio=type(LIVE.audio)("audio:covarep-5", 5, 50),
                                            vision=type(LIVE.vision)("vision:facet-20", 20, 50)))
    assert mosi_like.prompts(data.subset([0])) == [""]


def test_empty_prompt_has_zero_mask_and_teacher_reads_it_as_no_prompt(data):
    ids, mask = tokenize_prompts(["", "a smile"], max_len=8)
    assert mask[0].sum() == 0 and mask[1].sum() == 4  # [CLS] a smile [SEP]
    teacher = create_model("mmslf_teacher-tiny", LIVE).eval()
    prompted = attach_prompts(data, NoPrompts())
    inputs = prompted.inputs()
    assert len(inputs) == 8 and float(inputs[7].sum()) == 0.0
    with torch.inference_mode():
        with_empty = teacher(*inputs)[0]
        without = teacher(*inputs[:6])[0]
    assert torch.isfinite(with_empty).all()
    torch.testing.assert_close(with_empty, without)


def test_prompt_changes_teacher_output_and_survives_subset(tmp_path, data):
    rows = [{"id": i, "prompt": "The speaker is laughing."} for i in data.ids[:3]]
    f = write_jsonl(tmp_path / "p.jsonl", rows)
    prompted = attach_prompts(data, JsonlPrompts(f))
    assert isinstance(prompted, PromptedData)
    part = prompted.subset([1, 4])
    assert part.prompt_text == ["The speaker is laughing.", ""] and part.prompt.shape[0] == 2
    assert part.prompt_mask[1].sum() == 0
    teacher = create_model("mmslf_teacher-tiny", LIVE).eval()
    torch.nn.init.normal_(teacher.film.weight, std=0.5)  # a trained teacher's prompt steers attention
    with torch.inference_mode():
        a = teacher(*part.inputs())[0]
        b = teacher(*part.inputs()[:6])[0]
    assert not torch.isclose(a[0], b[0]) and torch.isclose(a[1], b[1])
