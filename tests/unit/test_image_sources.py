"""Image sources: every format read into uint8 (N, H, W, C); bad input refused naming the file at fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from synthgen.errors import InputError
from synthgen.sources import images as src
from synthgen.spec import ImageShapeSpec, ImageSourceSpec

DICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # bundled, never downloaded
NIFTI_FILES = Path(nib.__file__).parent / "tests" / "data"


def _read(path: Path, shape: dict | None = None, **source):
    return src.read_images(ImageSourceSpec(path=str(path), **source), ImageShapeSpec(**(shape or {})),
                           path.parent)


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if mode:
        img = img.convert(mode)
    img.save(path)
    return path


def _gray(h=16, w=16, value=100):
    return np.full((h, w), value, np.uint8)


def _rgb(h=16, w=16):
    return np.dstack([np.full((h, w), v, np.uint8) for v in (200, 50, 10)])


# ------------------------------------------------------------------------------------ folders


def test_missing_path_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nowhere: source not found"):
        _read(tmp_path / "nowhere")


def test_gray_folder_ignores_hidden_files(tmp_path):
    for cls in ("dog", "cat"):
        for i in range(2):
            _save(tmp_path / "set" / cls / f"{i}.png", _gray(value=60 * i))
    (tmp_path / "set" / "cat" / ".DS_Store").write_bytes(b"\0junk")
    (tmp_path / "set" / "dog" / "._0.png").write_bytes(b"\0junk")
    (tmp_path / "set" / ".hidden").mkdir()
    data, info = _read(tmp_path / "set")
    assert data.images.shape == (4, 16, 16, 1) and data.images.dtype == np.uint8
    assert data.classes == ("cat", "dog") and data.class_counts() == {"cat": 2, "dog": 2}
    assert list(data.ids) == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png"]
    assert info.kind == "folder" and info.rows == 4 and info.columns == 2
    assert info.fingerprint.startswith("sha256:")


def test_rgb_modes_become_rgb(tmp_path):
    root = tmp_path / "set"
    _save(root / "a" / "rgba.png", _rgb(), "RGBA")
    _save(root / "a" / "jpeg.jpg", _rgb())
    _save(root / "b" / "palette.png", _rgb(), "P")
    _save(root / "b" / "bitmap.bmp", _rgb())
    _save(root / "b" / "scan.tiff", _rgb())
    data, _ = _read(root)
    assert data.shape == (16, 16, 3) and len(data) == 5
    assert abs(int(data.images[data.ids == "a/rgba.png"][0, 5, 5, 0]) - 200) <= 1


def test_resize_center_crops_and_converts(tmp_path):
    wide = _rgb(20, 40)
    wide[:, :10] = 0  # the left and right quarters are cut by the centre crop
    wide[:, 30:] = 0
    _save(tmp_path / "set" / "a" / "wide.png", wide)
    _save(tmp_path / "set" / "b" / "small.png", _gray(10, 10))
    data, _ = _read(tmp_path / "set", {"size": 8, "channels": 3})
    assert data.images.shape == (2, 8, 8, 3)
    assert data.images[0, :, :, 0].min() > 150  # only the red centre survived
    gray, _ = _read(tmp_path / "set", {"size": 32, "channels": 1})
    assert gray.images.shape == (2, 32, 32, 1)


def test_mixed_sizes_then_image_size(tmp_path):
    _save(tmp_path / "set" / "a" / "x.png", _gray(16, 16))
    _save(tmp_path / "set" / "b" / "y.png", _gray(24, 20))
    with pytest.raises(InputError, match=r"a/x\.png is 16x16 gray, b/y\.png is 20x24 gray; set image\.size"):
        _read(tmp_path / "set")
    data, _ = _read(tmp_path / "set", {"size": 16})
    assert data.images.shape == (2, 16, 16, 1)


def test_mixed_channels_then_image_channels(tmp_path):
    _save(tmp_path / "set" / "a" / "x.png", _gray())
    _save(tmp_path / "set" / "b" / "y.png", _rgb())
    with pytest.raises(InputError, match=r"differ in channels: a/x\.png .*gray.*b/y\.png .*RGB.*image\.channels"):
        _read(tmp_path / "set")
    data, _ = _read(tmp_path / "set", {"channels": 3})
    assert data.images.shape == (2, 16, 16, 3)
    assert (data.images[0] == 100).all()  # gray repeated


def test_corrupt_image_is_named(tmp_path):
    _save(tmp_path / "set" / "a" / "ok.png", _gray())
    (tmp_path / "set" / "b").mkdir()
    (tmp_path / "set" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InputError, match=r"broken\.png: cannot read the image"):
        _read(tmp_path / "set")


def test_non_image_file_in_class_folder(tmp_path):
    _save(tmp_path / "set" / "a" / "ok.png", _gray())
    _save(tmp_path / "set" / "b" / "ok.png", _gray())
    (tmp_path / "set" / "b" / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: not an image file"):
        _read(tmp_path / "set")


def test_empty_class_folder(tmp_path):
    _save(tmp_path / "set" / "a" / "ok.png", _gray())
    (tmp_path / "set" / "b").mkdir()
    with pytest.raises(InputError, match=r"set/b: class folder 'b' is empty"):
        _read(tmp_path / "set")


def test_no_class_subfolders(tmp_path):
    _save(tmp_path / "set" / "x.png", _gray())
    with pytest.raises(InputError, match=r"set: no class subfolders"):
        _read(tmp_path / "set")


def test_class_names_rename_folder_classes(tmp_path):
    _save(tmp_path / "set" / "a" / "x.png", _gray())
    _save(tmp_path / "set" / "b" / "y.png", _gray())
    data, _ = _read(tmp_path / "set", class_names={"a": "apple"})
    assert data.classes == ("apple", "b") and list(data.labels) == ["apple", "b"]


# ---------------------------------------------------------------------------------------- npz


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _medmnist(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    img = lambda n: rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)  # noqa: E731
    return _npz(tmp_path / "tiny.npz",
                train_images=img(4), train_labels=np.array([[0], [1], [10], [0]]),
                val_images=img(2), val_labels=np.array([[1], [10]]),
                test_images=img(1), test_labels=np.array([0]))


def test_npz_medmnist_layout(tmp_path):
    data, info = _read(_medmnist(tmp_path))
    assert data.images.shape == (7, 8, 8, 1) and data.images.dtype == np.uint8
    assert data.classes == ("0", "1", "10")  # numeric order
    assert data.class_counts() == {"0": 3, "1": 2, "10": 2}
    assert data.ids[0] == "train_images[0]" and data.ids[-1] == "test_images[0]"
    assert info.kind == "npz" and info.rows == 7 and info.columns == 3
    resized, _ = _read(tmp_path / "tiny.npz", {"size": 16, "channels": 3})
    assert resized.images.shape == (7, 16, 16, 3)


def test_npz_missing_key_lists_the_keys(tmp_path):
    path = _npz(tmp_path / "t.npz", train_images=np.zeros((2, 8, 8), np.uint8), train_labels=np.array([0, 1]))
    # a listed split that is not in the file is skipped (and said); none at all is refused, listing the keys
    data, info = _read(path, npz_splits=["train", "val"])
    assert len(data) == 2 and "not in the file: val" in info.notes[0]
    with pytest.raises(InputError, match=r"none of source.npz_splits \['val'\].*\['train_images', 'train_labels'\]"):
        _read(path, npz_splits=["val"])
    half = _npz(tmp_path / "h.npz", train_images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InputError, match=r"key 'train_labels' not found but its pair is"):
        _read(half, npz_splits=["train"])


def test_npz_length_mismatch_names_both_keys(tmp_path):
    path = _npz(tmp_path / "t.npz", train_images=np.zeros((3, 8, 8), np.uint8), train_labels=np.array([0, 1]))
    with pytest.raises(InputError, match=r"'train_images' has 3 images but 'train_labels' has 2"):
        _read(path, npz_splits=["train"])


def test_npz_splits_of_other_shapes_are_refused_whole_and_in_ranges(tmp_path):
    path = _npz(tmp_path / "t.npz", train_images=np.zeros((4, 28, 28), np.uint8), train_labels=np.arange(4) % 2,
                test_images=np.zeros((3, 32, 32), np.uint8), test_labels=np.arange(3) % 2)
    with pytest.raises(InputError, match=r"train_images are \(28, 28, 1\) but test_images are \(32, 32, 1\)") as whole:
        _read(path)
    with pytest.raises(InputError) as ranged:  # the ranged planner once pooled them and failed mid-read
        src.image_chunks(ImageSourceSpec(path=str(path)), ImageShapeSpec(), path)
    assert str(ranged.value) == str(whole.value)
    chunks = src.image_chunks(ImageSourceSpec(path=str(path), npz_splits=["test"]), ImageShapeSpec(), path)
    assert chunks.n == 3 and chunks.read(1, 3).images.shape == (2, 32, 32, 1)


def test_npz_class_names(tmp_path):
    data, _ = _read(_medmnist(tmp_path), class_names={"0": "normal", "10": "tumour"})
    assert data.classes == ("normal", "1", "tumour")
    assert data.class_counts() == {"normal": 3, "1": 2, "tumour": 2}
    with pytest.raises(InputError, match=r"class_names has \['7'\].*classes: \['0', '1', '10'\]"):
        _read(tmp_path / "tiny.npz", class_names={"7": "ghost"})


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, train_images=np.zeros((1, 8, 8), np.uint8), train_labels=np.array([object()], dtype=object))
    with pytest.raises(InputError, match=r"'train_labels' cannot be read without pickle"):
        _read(path, npz_splits=["train"])


def test_npz_that_is_not_an_archive(tmp_path):
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(InputError, match=r"bad\.npz: not a numpy \.npz archive"):
        _read(tmp_path / "bad.npz")


# -------------------------------------------------------------------------------------- dicom


def _dicom_classes(tmp_path) -> Path:
    root = tmp_path / "scans"
    for cls, name in (("ct", "CT_small.dcm"), ("mr", "MR_small.dcm")):
        (root / cls).mkdir(parents=True)
        shutil.copy(DICOM_FILES / name, root / cls / name)
    shutil.copy(DICOM_FILES / "MR_small.dcm", root / "mr" / "no_suffix")  # found by its preamble
    return root


def test_dicom_class_folders(tmp_path):
    root = _dicom_classes(tmp_path)
    with pytest.raises(InputError, match=r"ct/CT_small\.dcm is 128x128 gray, mr/.* is 64x64 gray; set image\.size"):
        _read(root)
    data, info = _read(root, {"size": 64})
    assert info.kind == "dicom"  # inferred: only DICOM files in the class folders
    assert data.images.shape == (3, 64, 64, 1) and data.classes == ("ct", "mr")
    assert list(data.ids) == ["ct/CT_small.dcm", "mr/MR_small.dcm", "mr/no_suffix"]


def test_dicom_windowing(tmp_path):
    ds = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")  # WindowCenter 600, WidthWidth 1600
    raw = ds.pixel_array.astype(np.float32)
    data, _ = _read(DICOM_FILES / "MR_small.dcm")
    expected = np.clip(np.rint((raw - (600 - 800)) * 255 / 1600), 0, 255)
    assert data.classes == ("MR_small",) and np.array_equal(data.images[0, :, :, 0], expected)
    narrow, _ = _read(DICOM_FILES / "MR_small.dcm", window=(1000, 200))
    assert (narrow.images == 0).mean() > (data.images == 0).mean()
    ct, _ = _read(DICOM_FILES / "CT_small.dcm")  # no window in the file: min-max
    assert ct.images.min() == 0 and ct.images.max() == 255


def test_dicom_monochrome1_is_inverted(tmp_path):
    ds = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "inverted.dcm")
    plain, _ = _read(DICOM_FILES / "MR_small.dcm")
    inverted, _ = _read(tmp_path / "inverted.dcm")
    assert np.array_equal(inverted.images, 255 - plain.images)


def test_dicom_multiframe_and_rgb(tmp_path):
    data, _ = _read(DICOM_FILES / "rtdose.dcm")  # 15 uncompressed frames, 10x10
    assert data.images.shape == (15, 10, 10, 1)
    assert data.ids[0] == "rtdose.dcm#frame1" and data.ids[-1] == "rtdose.dcm#frame15"
    rgb, _ = _read(DICOM_FILES / "SC_rgb_rle_2frame.dcm")  # RLE, pydicom's own decoder
    assert rgb.images.shape == (2, 100, 100, 3) and rgb.images.dtype == np.uint8
    palette, _ = _read(DICOM_FILES / "examples_palette.dcm")
    assert palette.images.shape == (1, 350, 800, 3)


def test_dicom_without_pixel_data(tmp_path):
    ds = pydicom.dcmread(DICOM_FILES / "CT_small.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "nopixels.dcm")
    with pytest.raises(InputError, match=r"nopixels\.dcm: the DICOM file has no pixel data"):
        _read(tmp_path / "nopixels.dcm")


def test_dicom_missing_decoder_names_the_transfer_syntax():
    path = DICOM_FILES / "MR_small_jpeg_ls_lossless.dcm"
    try:
        pydicom.dcmread(path).pixel_array
        pytest.skip("a JPEG-LS decoder is installed here")
    except Exception:
        pass
    with pytest.raises(InputError, match=r"MR_small_jpeg_ls_lossless\.dcm: .*JPEG-LS Lossless Image Compression"):
        _read(path)


def test_dicom_header_never_leaks(tmp_path):
    root = _dicom_classes(tmp_path)
    secrets = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        ds = pydicom.dcmread(DICOM_FILES / name)
        secrets += [str(ds.PatientName), str(ds.PatientID), ds.StudyInstanceUID, ds.SOPInstanceUID]
    data, info = _read(root, {"size": 32})
    text = repr((list(data.ids), list(data.labels), data.classes, data.origin, data.meta, info))
    assert not [s for s in secrets if s in text]


# -------------------------------------------------------------------------------------- nifti


def _volume(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), path)
    return path


def test_nifti_synthetic_volume_masks_empty_slices(tmp_path):
    vol = np.zeros((16, 16, 10), np.float32)
    vol[4:12, 4:12, 3:7] = np.linspace(10, 500, 8 * 8 * 4).reshape(8, 8, 4)
    path = _volume(tmp_path / "vol.nii.gz", vol)
    data, info = _read(path)
    assert info.kind == "nifti" and data.classes == ("vol",)
    assert list(data.ids) == [f"vol.nii.gz:z={k}" for k in range(3, 7)]
    assert data.images.shape == (4, 16, 16, 1) and data.images.max() == 255
    every, _ = _read(path, mask=False)
    assert len(every) == 10
    sagittal, _ = _read(path, slice_axis=0, shape={"size": 32})
    assert sagittal.images.shape == (8, 32, 32, 1) and sagittal.ids[0] == "vol.nii.gz:x=4"


def test_nifti_4d_uses_the_first_volume(tmp_path):
    vol = np.zeros((8, 8, 4, 2), np.float32)
    vol[..., 0] = 100.0
    vol[2:6, 2:6, :, 0] = 200.0
    path = _volume(tmp_path / "series.nii", vol)
    data, _ = _read(path)
    assert len(data) == 4 and data.images[0, 0, 0, 0] == 0 and data.images[0, 4, 4, 0] == 255


def test_nifti_bundled_volumes_in_class_folders(tmp_path):
    root = tmp_path / "vols"
    for cls, name in (("fmri", "example4d.nii.gz"), ("anat", "anatomical.nii")):
        (root / cls).mkdir(parents=True)
        shutil.copy(NIFTI_FILES / name, root / cls / name)
    with pytest.raises(InputError, match=r"differ in size: .*set image\.size"):
        _read(root)
    data, info = _read(root, {"size": 32})
    assert info.kind == "nifti" and data.classes == ("anat", "fmri")
    assert data.images.shape[1:] == (32, 32, 1) and len(data) == 25 + 24
    assert data.ids[0] == "anat/anatomical.nii:z=0"


def test_nifti_unreadable_volume(tmp_path):
    (tmp_path / "bad.nii.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError, match=r"bad\.nii\.gz: cannot read the NIfTI volume"):
        _read(tmp_path / "bad.nii.gz")


def test_unknown_suffix_asks_for_format(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"\0" * 200)
    with pytest.raises(InputError, match=r"data\.bin: cannot tell the image format.*source\.format"):
        _read(tmp_path / "data.bin")


# ----------------------------------------------------------------------------------- builtins


def _builtin(name: str, **shape):
    return src.read_images(ImageSourceSpec(builtin=name), ImageShapeSpec(**shape), Path("."))


def test_builtin_mnist():
    data, info = _builtin("mnist")
    assert data.images.shape == (5000, 28, 28, 1) and data.images.dtype == np.uint8
    assert data.classes == tuple(str(d) for d in range(10))
    assert set(data.class_counts().values()) == {500}
    assert info.kind == "builtin" and info.fingerprint.startswith("sha256:") and info.columns == 10
    big, _ = _builtin("mnist", size=32, channels=3)
    assert big.images.shape == (5000, 32, 32, 3)


def test_builtin_mni152():
    data, info = _builtin("mni152")
    assert data.images.shape == (1365, 32, 32, 1) and data.images.dtype == np.uint8
    assert data.classes == ("t1", "grey_matter", "white_matter")
    assert data.class_counts() == {"t1": 455, "grey_matter": 455, "white_matter": 455}
    assert data.ids[0].startswith("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz:x=")
    assert info.rows == 1365 and info.columns == 3
    axial, _ = _builtin("mni152_axial")
    assert axial.class_counts() == {"t1": 141, "grey_matter": 141, "white_matter": 141}
    assert all(":z=" in i for i in axial.ids)
    # the axial set is exactly the z slices of the full set
    z = np.array([":z=" in i for i in data.ids])
    assert np.array_equal(axial.images, data.images[z])


def test_unknown_builtin():
    with pytest.raises(InputError, match=r"unknown built-in image set 'nope' \(available: mni152, mni152_axial, mnist\)"):
        _builtin("nope")
