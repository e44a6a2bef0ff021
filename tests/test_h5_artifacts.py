"""The shared HDF5 artifact skeleton: atomic writes and checked opening."""

import h5py
import pytest

from mist_steps.errors import InputError
from mist_steps.formats.h5 import AtomicH5Writer, open_artifact


def test_writer_appears_only_on_success(tmp_path):
    path = tmp_path / "a.h5"
    with pytest.raises(RuntimeError):
        with AtomicH5Writer(path, "fmt-v1") as writer:
            writer.videos.add("v")
            raise RuntimeError("killed half-way")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with AtomicH5Writer(path, "fmt-v1") as writer:
        writer.videos.add("v")
    with h5py.File(path) as h5:
        assert h5.attrs["format"] == "fmt-v1" and h5.attrs["snippet_len"] == 16 and h5.attrs["n_videos"] == 1


def test_open_checks_existence_hdf5_and_format(tmp_path):
    with pytest.raises(InputError, match=r"missing\.h5: score file not found; run the scoring step"):
        open_artifact(tmp_path / "missing.h5", ("fmt-v1",), "score file", "the scoring step")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match=r"text\.h5: not a readable HDF5 file"):
        open_artifact(text, ("fmt-v1",), "score file", "the scoring step")
    other = tmp_path / "other.h5"
    with AtomicH5Writer(other, "fmt-v0"):
        pass
    with pytest.raises(InputError, match=r"format 'fmt-v0', expected fmt-v1 or fmt-v2"):
        open_artifact(other, ("fmt-v1", "fmt-v2"), "score file", "the scoring step")
    open_artifact(other, ("fmt-v0",), "score file", "the scoring step").close()
