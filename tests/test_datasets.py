"""Datasets: Caltech-style folders, CSV/JSONL manifests, generated shapes, and every error message."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import FileImage, GeneratedImage, class_name_from_folder, label_counts, load_dataset
from pytest_vlm.errors import DatasetError
from pytest_vlm.spec import BenchmarkSpec, DatasetSpec, parse_spec

SPEC_NAME = "cats.vlm.yaml"


def image(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """A small real image file; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)
    return path


def make_spec(
    tmp_path: Path,
    dataset: DatasetSpec,
    *,
    classes: tuple[str, ...] | None = None,
    background: str | None = None,
) -> BenchmarkSpec:
    return BenchmarkSpec(
        path=tmp_path / SPEC_NAME,
        name="cats",
        dataset=dataset,
        strategies=(),
        classes=classes,
        background=background,
    )


def folder_spec(tmp_path: Path, root: Path, **kwargs: object) -> BenchmarkSpec:
    max_per_class = kwargs.pop("max_per_class", None)
    rename = kwargs.pop("rename", {})
    return make_spec(tmp_path, DatasetSpec("folder", path=root, max_per_class=max_per_class, rename=rename), **kwargs)


def manifest_spec(tmp_path: Path, manifest: Path, **kwargs: object) -> BenchmarkSpec:
    max_per_class = kwargs.pop("max_per_class", None)
    rename = kwargs.pop("rename", {})
    return make_spec(
        tmp_path, DatasetSpec("manifest", path=manifest, max_per_class=max_per_class, rename=rename), **kwargs
    )


def generated_spec(tmp_path: Path, count: int, **kwargs: object) -> BenchmarkSpec:
    ds_kwargs = {k: kwargs.pop(k) for k in ("seed", "difficulty", "size", "max_per_class", "rename") if k in kwargs}
    return make_spec(tmp_path, DatasetSpec("generated", generator="shapes", count=count, **ds_kwargs), **kwargs)


def dataset_error(spec: BenchmarkSpec) -> str:
    with pytest.raises(DatasetError) as exc:
        load_dataset(spec)
    return str(exc.value)


@pytest.fixture
def caltech(tmp_path: Path) -> Path:
    """A small Caltech256-shaped folder."""
    root = tmp_path / "256_ObjectCategories"
    image(root / "001.ak47" / "001_0001.jpg")
    image(root / "001.ak47" / "001_0002.jpg")
    image(root / "001.ak47" / "001_0003.JPG")
    (root / "001.ak47" / "notes.txt").write_text("not an image")
    image(root / "002.american-flag" / "002_0001.png")
    image(root / "002.american-flag" / "more" / "002_0002.jpg")  # nested: found too
    image(root / "257.clutter" / "257_0001.jpg")
    image(root / "257.clutter" / "257_0002.jpeg")
    (root / "003.empty").mkdir()  # no images: not a class
    image(root / ".hidden" / "x.jpg")  # hidden folders are skipped
    image(root / "stray.jpg")  # files at the top level are not in a class
    return root


# --- folder datasets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("001.ak47", "ak47"),
        ("257.clutter", "clutter"),
        ("002.american-flag", "american-flag"),
        ("12_cats", "cats"),
        ("12-cats", "cats"),
        ("cats", "cats"),
        ("3d-printer", "3d-printer"),
        ("123", "123"),
        ("001.", "001."),  # nothing left once stripped: keep the folder name
        ("001.002.x", "002.x"),  # only one prefix goes
    ],
)
def test_class_name_from_folder(folder: str, name: str) -> None:
    assert class_name_from_folder(folder) == name


def test_caltech_folder(tmp_path: Path, caltech: Path) -> None:
    ds = load_dataset(folder_spec(tmp_path, caltech))
    assert ds.classes == ("ak47", "american-flag", "clutter")
    assert [(ex.id, ex.label) for ex in ds.examples] == [
        ("001.ak47/001_0001", "ak47"),
        ("001.ak47/001_0002", "ak47"),
        ("001.ak47/001_0003", "ak47"),
        ("002.american-flag/002_0001", "american-flag"),
        ("002.american-flag/more/002_0002", "american-flag"),
        ("257.clutter/257_0001", "clutter"),
        ("257.clutter/257_0002", "clutter"),
    ]
    first = ds.examples[0]
    assert isinstance(first, FileImage)
    assert first.path == caltech / "001.ak47" / "001_0001.jpg"
    assert first.origin == f"folder {caltech / '001.ak47'}"
    loaded = first.load()
    assert loaded.mode == "RGB" and loaded.size == (8, 6)
    assert label_counts(ds.examples) == {"ak47": 3, "american-flag": 2, "clutter": 2}


def test_folder_classes_select_a_subset_in_spec_order(tmp_path: Path, caltech: Path) -> None:
    ds = load_dataset(folder_spec(tmp_path, caltech, classes=("clutter", "ak47")))
    assert ds.classes == ("clutter", "ak47")
    assert [ex.label for ex in ds.examples] == ["ak47"] * 3 + ["clutter"] * 2


def test_folder_background(tmp_path: Path, caltech: Path) -> None:
    ds = load_dataset(folder_spec(tmp_path, caltech, background="clutter"))
    assert "clutter" in ds.classes


def test_folder_max_per_class(tmp_path: Path, caltech: Path) -> None:
    ds = load_dataset(folder_spec(tmp_path, caltech, max_per_class=1))
    assert [ex.id for ex in ds.examples] == [
        "001.ak47/001_0001",
        "002.american-flag/002_0001",
        "257.clutter/257_0001",
    ]
    ds = load_dataset(folder_spec(tmp_path, caltech, max_per_class=2))
    assert label_counts(ds.examples) == {"ak47": 2, "american-flag": 2, "clutter": 2}


def test_folder_rename(tmp_path: Path, caltech: Path) -> None:
    ds = load_dataset(folder_spec(tmp_path, caltech, rename={"ak47": "rifle", "american-flag": "flag"}))
    assert ds.classes == ("rifle", "flag", "clutter")
    assert [ex.label for ex in ds.examples] == ["rifle"] * 3 + ["flag"] * 2 + ["clutter"] * 2
    assert ds.examples[0].id == "001.ak47/001_0001"  # ids keep the folder names
    # 'classes' and 'background' use the new names
    ds = load_dataset(
        folder_spec(
            tmp_path, caltech, rename={"clutter": "background"}, classes=("ak47", "background"), background="background"
        )
    )
    assert ds.classes == ("ak47", "background")
    assert label_counts(ds.examples) == {"ak47": 3, "background": 2}


def test_folder_rename_can_merge_classes(tmp_path: Path) -> None:
    root = tmp_path / "images"
    image(root / "cat" / "1.jpg")
    image(root / "kitten" / "2.jpg")
    image(root / "dog" / "3.jpg")
    ds = load_dataset(folder_spec(tmp_path, root, rename={"kitten": "cat"}))
    assert ds.classes == ("cat", "dog")
    assert label_counts(ds.examples) == {"cat": 2, "dog": 1}


def test_folder_through_a_spec_file(tmp_path: Path, caltech: Path) -> None:
    spec_path = tmp_path / "caltech.vlm.yaml"
    spec_path.write_text(
        textwrap.dedent(
            """
            dataset:
              folder: 256_ObjectCategories
              max_per_class: 2
            classes: [ak47, clutter]
            background: clutter
            strategies: [binary]
            """
        )
    )
    ds = load_dataset(parse_spec(spec_path))
    assert ds.classes == ("ak47", "clutter")
    assert [ex.id for ex in ds.examples] == [
        "001.ak47/001_0001",
        "001.ak47/001_0002",
        "257.clutter/257_0001",
        "257.clutter/257_0002",
    ]


# --- manifests -------------------------------------------------------------------------------


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "lists"
    image(folder / "imgs" / "a.jpg")
    image(folder / "imgs" / "b.png")
    image(folder / "imgs" / "c.jpg")
    image(tmp_path / "elsewhere" / "d.jpg")
    return folder


def write_csv(folder: Path, text: str, name: str = "labels.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding=encoding)
    return path


def write_jsonl(folder: Path, rows: list[object], name: str = "labels.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_csv_manifest(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(
        pictures,
        """
        image,label,id
        imgs/a.jpg,cat,
        imgs/b.png,dog,custom-b
        imgs/c.jpg, cat ,
        ../elsewhere/d.jpg,bird,
        """,
    )
    ds = load_dataset(manifest_spec(tmp_path, manifest))
    assert ds.classes == ("cat", "dog", "bird")  # in order of first appearance
    assert [(ex.id, ex.label) for ex in ds.examples] == [
        ("imgs/a", "cat"),
        ("custom-b", "dog"),
        ("imgs/c", "cat"),
        ("../elsewhere/d", "bird"),
    ]
    assert ds.examples[0].path == pictures / "imgs" / "a.jpg"
    assert ds.examples[3].path == (tmp_path / "elsewhere" / "d.jpg").resolve()
    assert [ex.origin for ex in ds.examples] == [f"labels.csv line {n}" for n in (2, 3, 4, 5)]
    assert ds.examples[1].load().size == (8, 6)


def test_csv_manifest_without_id_column_and_with_extra_columns(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "source, image , label ,notes\nweb,imgs/a.jpg,cat,x\nweb,imgs/b.png,dog,\n")
    ds = load_dataset(manifest_spec(tmp_path, manifest))
    assert [(ex.id, ex.label) for ex in ds.examples] == [("imgs/a", "cat"), ("imgs/b", "dog")]


def test_csv_manifest_with_bom(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/b.png,dog\n", encoding="utf-8-sig")
    assert manifest.read_bytes().startswith(b"\xef\xbb\xbf")
    ds = load_dataset(manifest_spec(tmp_path, manifest))
    assert [ex.label for ex in ds.examples] == ["cat", "dog"]


def test_csv_manifest_classes_max_per_class_and_rename(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/b.png,dog\nimgs/c.jpg,cat\n")
    ds = load_dataset(
        manifest_spec(tmp_path, manifest, classes=("dog", "kitty"), rename={"cat": "kitty"}, max_per_class=1)
    )
    assert ds.classes == ("dog", "kitty")
    assert [(ex.id, ex.label) for ex in ds.examples] == [("imgs/a", "kitty"), ("imgs/b", "dog")]


def test_jsonl_manifest(tmp_path: Path, pictures: Path) -> None:
    manifest = pictures / "labels.jsonl"
    manifest.write_text(
        '{"image": "imgs/a.jpg", "label": "cat"}\n'
        "\n"
        '{"image": "imgs/b.png", "label": "dog", "id": "b1"}\n'
        '{"image": "imgs/c.jpg", "label": 7, "extra": [1, 2]}\n',
        encoding="utf-8",
    )
    ds = load_dataset(manifest_spec(tmp_path, manifest))
    assert ds.classes == ("cat", "dog", "7")
    assert [(ex.id, ex.label, ex.origin) for ex in ds.examples] == [
        ("imgs/a", "cat", "labels.jsonl line 1"),
        ("b1", "dog", "labels.jsonl line 3"),
        ("imgs/c", "7", "labels.jsonl line 4"),
    ]


def test_jsonl_manifest_with_bom(tmp_path: Path, pictures: Path) -> None:
    manifest = pictures / "labels.jsonl"
    manifest.write_text('{"image": "imgs/a.jpg", "label": "cat"}\n', encoding="utf-8-sig")
    assert [ex.label for ex in load_dataset(manifest_spec(tmp_path, manifest)).examples] == ["cat"]


# --- generated -------------------------------------------------------------------------------


def test_generated_shapes(tmp_path: Path) -> None:
    ds = load_dataset(generated_spec(tmp_path, 8, seed=3))
    assert ds.classes == shapes.SHAPES
    assert [ex.label for ex in ds.examples] == [shapes.SHAPES[i % 6] for i in range(8)]
    assert [ex.id for ex in ds.examples] == [f"{shapes.SHAPES[i % 6]}-3-{i:05d}" for i in range(8)]
    assert all(isinstance(ex, GeneratedImage) for ex in ds.examples)


def test_generated_with_background(tmp_path: Path) -> None:
    ds = load_dataset(generated_spec(tmp_path, 14, background="background"))
    assert ds.classes == (*shapes.SHAPES, "background")
    assert label_counts(ds.examples) == {**{s: 2 for s in shapes.SHAPES}, "background": 2}
    assert ds.examples[6].id == "background-0-00006"


def test_generated_with_classes(tmp_path: Path) -> None:
    ds = load_dataset(generated_spec(tmp_path, 5, classes=("star", "background"), background="background", size=16))
    assert ds.classes == ("star", "background")
    assert [ex.id for ex in ds.examples] == [
        "star-0-00000",
        "background-0-00001",
        "star-0-00002",
        "background-0-00003",
        "star-0-00004",
    ]
    assert ds.examples[0].load().size == (16, 16)


def test_generated_ids_and_pixels_are_stable(tmp_path: Path) -> None:
    first = load_dataset(generated_spec(tmp_path, 6, seed=1, size=16, difficulty="easy"))
    again = load_dataset(generated_spec(tmp_path, 6, seed=1, size=16, difficulty="easy"))
    assert first == again
    ex = first.examples[4]
    assert ex.load().tobytes() == ex.load().tobytes()
    expected = shapes.sample(4, seed=1, size=16, difficulty="easy")
    assert (ex.id, ex.label) == (expected.id, expected.label)
    assert ex.load().tobytes() == expected.image.tobytes()


def test_generated_max_per_class(tmp_path: Path) -> None:
    ds = load_dataset(generated_spec(tmp_path, 24, max_per_class=2))
    assert label_counts(ds.examples) == {s: 2 for s in shapes.SHAPES}
    assert [ex.id for ex in ds.examples][:7] == [f"{s}-0-{i:05d}" for i, s in enumerate(shapes.SHAPES)] + [
        "circle-0-00006"
    ]


# --- unreadable images -----------------------------------------------------------------------


def test_corrupt_image_names_the_file_and_where_it_was_listed(tmp_path: Path, pictures: Path) -> None:
    bad = pictures / "imgs" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/broken.jpg,dog\n")
    ds = load_dataset(manifest_spec(tmp_path, manifest))  # indexing does not decode
    with pytest.raises(DatasetError) as exc:
        ds.examples[1].load()
    message = str(exc.value)
    assert message.startswith(f"cannot read image {bad} (listed in labels.csv line 3): ")
    assert message.endswith(". Fix or remove the file.")


def test_corrupt_image_in_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = load_dataset(folder_spec(tmp_path, root))
    with pytest.raises(DatasetError, match=r"\(listed in folder .*cat\)"):
        ds.examples[0].load()


# --- errors ----------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    assert dataset_error(folder_spec(tmp_path, root)) == (
        f"cats.vlm.yaml: dataset.folder: {root} is not a folder; give a folder with one sub-folder per class"
    )


def test_folder_that_is_a_file(tmp_path: Path) -> None:
    file = image(tmp_path / "one.jpg")
    assert "is not a folder" in dataset_error(folder_spec(tmp_path, file))


def test_missing_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "labels.csv"
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"cats.vlm.yaml: dataset.manifest: {manifest} does not exist; give a CSV or JSONL file with image and label"
    )


def test_manifest_neither_csv_nor_jsonl(tmp_path: Path) -> None:
    manifest = tmp_path / "labels.txt"
    manifest.write_text("image,label\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        "cats.vlm.yaml: dataset.manifest: labels.txt is neither .csv nor .jsonl"
    )


def test_manifest_not_utf8(tmp_path: Path) -> None:
    manifest = tmp_path / "labels.csv"
    manifest.write_bytes(b"image,label\n\xff\xfe,cat\n")
    message = dataset_error(manifest_spec(tmp_path, manifest))
    assert message.startswith(f"cats.vlm.yaml: dataset.manifest: cannot read {manifest}: 'utf-8' codec")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("file,class\na.jpg,cat\n", "file, class"),
        ("image\na.jpg\n", "image"),
        ("", "no header"),
        ("Image,Label\n", "Image, Label"),
    ],
)
def test_csv_bad_header(tmp_path: Path, text: str, found: str) -> None:
    manifest = write_csv(tmp_path, text)
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        "labels.csv line 1: the header must name the columns image and label (and optionally id); found: " + found
    )


@pytest.mark.parametrize(
    ("row", "missing"),
    [("imgs/a.jpg,", "label"), ("imgs/a.jpg", "label"), (",cat", "image"), (" , ", "image and label")],
)
def test_csv_row_missing_image_or_label(tmp_path: Path, pictures: Path, row: str, missing: str) -> None:
    manifest = write_csv(pictures, f"image,label\nimgs/b.png,dog\n{row}\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"labels.csv line 3: missing {missing}; each row needs image and label"
    )


@pytest.mark.parametrize(
    ("row", "missing"),
    [
        ({"image": "imgs/a.jpg"}, "label"),
        ({"label": "cat"}, "image"),
        ({"image": "", "label": None}, "image and label"),
        ({}, "image and label"),
    ],
)
def test_jsonl_row_missing_image_or_label(tmp_path: Path, pictures: Path, row: dict, missing: str) -> None:
    manifest = write_jsonl(pictures, [{"image": "imgs/b.png", "label": "dog"}, row])
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"labels.jsonl line 2: missing {missing}; each row needs image and label"
    )


def test_csv_image_not_found_names_the_line(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/zzz.jpg,dog\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"labels.csv line 3: image imgs/zzz.jpg not found (looked at {pictures / 'imgs' / 'zzz.jpg'})"
    )


def test_csv_line_numbers_count_blank_lines(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\n\nimgs/b.png,dog\n\nimgs/zzz.jpg,dog\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)).startswith(
        "labels.csv line 6: image imgs/zzz.jpg not found"
    )
    write_csv(pictures, "image,label\nimgs/a.jpg,cat\n\nimgs/b.png,dog\n")
    assert [ex.origin for ex in load_dataset(manifest_spec(tmp_path, manifest)).examples] == [
        "labels.csv line 2",
        "labels.csv line 4",
    ]


def test_jsonl_image_not_found_names_the_line(tmp_path: Path, pictures: Path) -> None:
    manifest = write_jsonl(pictures, [{"image": "imgs/a.jpg", "label": "cat"}, {"image": "nope.png", "label": "cat"}])
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"labels.jsonl line 2: image nope.png not found (looked at {pictures / 'nope.png'})"
    )


def test_manifest_image_that_is_a_folder(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs,cat\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)).startswith("labels.csv line 2: image imgs not found")


def test_invalid_jsonl_line(tmp_path: Path, pictures: Path) -> None:
    manifest = pictures / "labels.jsonl"
    manifest.write_text('{"image": "imgs/a.jpg", "label": "cat"}\n{"image": "imgs/b.png", label: dog}\n')
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        "labels.jsonl line 2: invalid JSON (Expecting property name enclosed in double quotes)"
    )


@pytest.mark.parametrize("row", [["imgs/a.jpg", "cat"], "imgs/a.jpg", 3, None])
def test_jsonl_line_not_an_object(tmp_path: Path, pictures: Path, row: object) -> None:
    manifest = write_jsonl(pictures, [row])
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        "labels.jsonl line 1: expected a JSON object with image and label"
    )


def test_label_not_in_classes(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/b.png,dog\nimgs/c.jpg,bird\n")
    assert dataset_error(manifest_spec(tmp_path, manifest, classes=("cat",))) == (
        "cats.vlm.yaml: dataset: label(s) bird, dog are not in the class list (first: image 'imgs/c'); "
        "add them to 'classes' or remove those images"
    )


def test_class_with_no_images(tmp_path: Path) -> None:
    # four images cycle through the first four of six shapes
    assert dataset_error(generated_spec(tmp_path, 4)) == (
        "cats.vlm.yaml: dataset: no images for class(es) cross, heart; add images or remove them from 'classes'"
    )


def test_unknown_class_with_did_you_mean(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label\nimgs/a.jpg,cat\nimgs/b.png,dog\n")
    assert dataset_error(manifest_spec(tmp_path, manifest, classes=("cat", "dgo"))) == (
        "cats.vlm.yaml: dataset: class(es) dgo not in the dataset (did you mean 'dog'?); the dataset has: cat, dog"
    )


def test_unknown_folder_class(tmp_path: Path, caltech: Path) -> None:
    # an empty class folder gives no class, so asking for it is an unknown class
    assert dataset_error(folder_spec(tmp_path, caltech, classes=("ak47", "empty", "zebra"))) == (
        "cats.vlm.yaml: dataset: class(es) empty, zebra not in the dataset; "
        "the dataset has: ak47, american-flag, clutter"
    )


def test_background_not_a_class(tmp_path: Path, caltech: Path) -> None:
    assert dataset_error(folder_spec(tmp_path, caltech, background="cluter")) == (
        "cats.vlm.yaml: background: 'cluter' is not a class of the dataset (did you mean 'clutter'?); "
        "classes: ak47, american-flag, clutter"
    )


def test_duplicate_ids_in_a_manifest(tmp_path: Path, pictures: Path) -> None:
    manifest = write_csv(pictures, "image,label,id\nimgs/a.jpg,cat,x\nimgs/b.png,dog,x\nimgs/c.jpg,dog,\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        "cats.vlm.yaml: dataset: duplicate image ids x; give each image a unique id"
    )


def test_duplicate_ids_from_same_stem(tmp_path: Path) -> None:
    root = tmp_path / "images"
    image(root / "cat" / "a.jpg")
    image(root / "cat" / "a.png")
    image(root / "dog" / "b.jpg")
    assert dataset_error(folder_spec(tmp_path, root)) == (
        "cats.vlm.yaml: dataset: duplicate image ids cat/a; give each image a unique id"
    )


def test_empty_folder_dataset(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "readme.txt").write_text("no images here")
    assert dataset_error(folder_spec(tmp_path, root)) == (
        f"cats.vlm.yaml: dataset: no images found in {root}; check the path and the classes"
    )


def test_empty_manifest(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path, "image,label\n")
    assert dataset_error(manifest_spec(tmp_path, manifest)) == (
        f"cats.vlm.yaml: dataset: no images found in {manifest}; check the path and the classes"
    )
    empty_jsonl = tmp_path / "labels.jsonl"
    empty_jsonl.write_text("\n\n")
    assert "no images found" in dataset_error(manifest_spec(tmp_path, empty_jsonl))


def test_duplicate_class_folders_after_prefix_stripping(tmp_path: Path) -> None:
    root = tmp_path / "images"
    image(root / "001.ak47" / "a.jpg")
    image(root / "002.ak47" / "b.jpg")
    assert dataset_error(folder_spec(tmp_path, root)) == (
        "cats.vlm.yaml: dataset.folder: two folders give the class 'ak47' (one is 002.ak47); rename one"
    )


@pytest.mark.parametrize(
    ("classes", "background", "message"),
    [
        (
            ("circle", "hexagon"),
            None,
            "the shapes generator cannot draw 'hexagon'; it draws: circle, square, triangle, star, cross, heart, background",
        ),
        (
            ("circle", "squares"),
            None,
            (
                "the shapes generator cannot draw 'squares' (did you mean 'square'?); it draws: "
                "circle, square, triangle, star, cross, heart, background"
            ),
        ),
        (
            None,
            "clutter",
            "the shapes generator cannot draw 'clutter'; it draws: circle, square, triangle, star, cross, heart, background",
        ),
    ],
)
def test_generator_cannot_draw_class(
    tmp_path: Path, classes: tuple[str, ...] | None, background: str | None, message: str
) -> None:
    spec = generated_spec(tmp_path, 6, classes=classes, background=background)
    assert dataset_error(spec) == f"cats.vlm.yaml: classes: {message}"
