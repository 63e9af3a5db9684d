"""The FER2013 expression model shipped under assets/face: pinned file, real predictions on real crops."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.face_expression import EXPRESSIONS, ExpressionClassifier, face_crop, load_model_bytes

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def classifier():
    return ExpressionClassifier()


@pytest.mark.parametrize("expression", ["happy", "angry"])
def test_top_class_on_a_real_face_crop(classifier, expression):
    crop = cv2.imread(str(DATA / f"face_crop_{expression}.png"), cv2.IMREAD_GRAYSCALE)
    probs = classifier.from_crop(crop)
    assert probs.shape == (7,) and probs.sum() == pytest.approx(1.0, abs=1e-3)
    assert EXPRESSIONS[int(probs.argmax())] == expression


def test_a_changed_model_file_is_refused(tmp_path):
    bad = tmp_path / "fer.tflite"
    bad.write_bytes(load_model_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match="corrupted or not the supported version"):
        load_model_bytes(bad)


def test_crop_is_the_square_around_the_landmarks_and_black_outside_the_frame():
    frame = np.full((100, 200, 3), 255, np.uint8)
    landmarks = np.array([[150.0, 10.0], [210.0, 90.0]])  # the box runs off the right edge
    crop = face_crop(frame, landmarks)
    assert crop.shape == (64, 64) and crop[32, 5] == 255 and crop[32, 60] == 0
