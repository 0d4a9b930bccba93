"""COCO reader on a small COCO-layout folder built from a real frame."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hit_core.data.coco import load_coco
from hit_core.errors import DatasetError
from hit_core.train.config import DatasetSpec, SamplingConfig
from hit_core.train.sampler import PairSampler, build_source


@pytest.fixture()
def coco_root(tmp_path, shared_sequences):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train2017").mkdir(parents=True)
    frame = shared_sequences["OTB100/Dog"].frame(0)
    cv2.imwrite(str(root / "images" / "train2017" / "000000000007.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    content = {
        "images": [{"id": 7, "file_name": "000000000007.jpg", "height": frame.shape[0], "width": frame.shape[1]}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [70.0, 110.0, 50.0, 40.0], "iscrowd": 0, "category_id": 18},
            {"id": 2, "image_id": 7, "bbox": [0.0, 0.0, 300.0, 200.0], "iscrowd": 1, "category_id": 1},
            {"id": 3, "image_id": 7, "bbox": [10.5, 20.25, 30.0, 60.0], "iscrowd": 0, "category_id": 1},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(content))
    return root


def test_each_non_crowd_annotation_is_a_one_frame_sequence(coco_root):
    objects = load_coco(coco_root, "train")
    assert len(objects) == 2
    first, second = objects[0], objects[1]
    assert first.name == "coco/1" and first.object_class == "dog" and second.object_class == "person"
    np.testing.assert_array_equal(second.ground_truth, [[10.5, 20.25, 30.0, 60.0]])
    assert first.frames[0] == coco_root / "images" / "train2017" / "000000000007.jpg"
    assert first.frame(0).shape == (240, 352, 3)
    with pytest.raises(IndexError):
        objects[2]


def test_coco_source_gives_still_pairs_on_the_annotated_box(coco_root):
    spec = DatasetSpec(loader="coco", root=str(coco_root), split="train2017", mode="still")
    source = build_source("coco", spec, SamplingConfig())
    pair = PairSampler([source], SamplingConfig()).sample(np.random.default_rng(0))
    assert pair.template_frame == pair.search_frame == 0
    assert pair.template_box.tolist() in ([70.0, 110.0, 50.0, 40.0], [10.5, 20.25, 30.0, 60.0])


def test_missing_or_wrong_coco_layout_is_explained(tmp_path, coco_root):
    with pytest.raises(DatasetError, match="instances_val2017.json"):
        load_coco(coco_root, "val2017")
    with pytest.raises(DatasetError, match="train2017 or val2017"):
        load_coco(coco_root, "test-dev")
    (coco_root / "annotations" / "instances_train2017.json").write_text("{}")
    with pytest.raises(DatasetError, match="not a COCO instances file"):
        load_coco(coco_root)
    with pytest.raises(DatasetError, match="COCO root"):
        load_coco(tmp_path / "nowhere")
