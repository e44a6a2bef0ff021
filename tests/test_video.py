"""mist_steps.data.video: probing and frame iteration of video files and frame folders."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mist_steps.data.snippets import (
    SnippetBatch,
    SnippetReader,
    VideoDone,
    VideoFailed,
    snippet_batches,
)
from mist_steps.data.video import (
    FrameFolder,
    VideoFile,
    VideoSource,
    list_frame_files,
    natural_key,
    open_video,
    probe,
)
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError

# --- the real H.264 clip -------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_eye(shared_data):
    return shared_data / "videos" / "GoldenEye.mp4"


def test_probe_real_clip_matches_packet_count(golden_eye):
    with av.open(str(golden_eye)) as container:  # independent count: demuxed packets
        stream = container.streams.video[0]
        packets = sum(1 for p in container.demux(stream) if p.size > 0)
    assert packets == 961
    assert probe(golden_eye) == (961, 24.0)


def test_iterate_real_clip(golden_eye):
    video = open_video(golden_eye)
    assert isinstance(video, VideoFile)
    assert (video.path, video.frame_count, video.fps) == (golden_eye, 961, 24.0)
    n = 0
    means = []
    for frame in video.iter_frames():
        if n == 0:
            assert frame.shape == (800, 1200, 3) and frame.dtype == np.uint8
        if n % 100 == 0:
            means.append(float(frame.mean()))
        n += 1
    assert n == video.frame_count  # every frame decoded, as many as probed
    assert len(set(np.round(means, 1))) > 5  # real, changing footage


def test_iter_frames_is_lazy(golden_eye):
    frames = open_video(golden_eye).iter_frames()
    first = next(frames)  # one frame decoded, the rest untouched
    assert first.shape == (800, 1200, 3)
    frames.close()


# --- small synthetic files -----------------------------------------------------------------


@pytest.mark.parametrize("name, codec", [("a.mp4", "libx264"), ("a.avi", "mpeg4"), ("a.mkv", "libx264")])
def test_video_files_in_order(tmp_path, make_video, frame_pixels, name, codec):
    path = make_video(tmp_path / name, 40, fps=25, codec=codec)
    video = open_video(path)
    assert (video.frame_count, video.fps) == (40, 25.0)
    frames = list(video.iter_frames())
    assert len(frames) == 40
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)
    levels = np.array([f.mean() for f in frames])
    expected = np.array([frame_pixels(i).mean() for i in range(40)])  # grey level encodes i
    assert np.abs(levels - expected).max() < 6  # every frame decoded, in order


def test_probe_counts_packets_when_container_has_no_frame_count(tmp_path, make_video):
    path = make_video(tmp_path / "v.mkv", 37)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # Matroska stores no frame count
    assert probe(path) == (37, 25.0)


def test_frame_folder_natural_order(tmp_path, make_jpeg, frame_pixels):
    folder = tmp_path / "01_0014"
    for i in (0, 1, 2, 9, 10, 11):  # 10.jpg must come after 9.jpg
        make_jpeg(folder / f"{i}.jpg", frame_pixels(i))
    (folder / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frame_files(folder)] == ["0.jpg", "1.jpg", "2.jpg", "9.jpg", "10.jpg", "11.jpg"]
    assert probe(folder) == (6, None)
    assert probe(folder, fps_for_frames=24) == (6, 24.0)
    video = open_video(folder, fps_for_frames=24)
    assert isinstance(video, FrameFolder) and video.fps == 24.0 and video.frame_count == 6
    frames = list(video.iter_frames())
    assert [round(float(f.mean())) for f in frames] == [20, 30, 40, 110, 120, 130]
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)


def test_shanghaitech_style_folder(tmp_path, make_frame_folder):
    folder = make_frame_folder(tmp_path / "frames" / "01_0015", 18, size=(24, 40))
    video = open_video(folder, fps_for_frames=24.0)
    frames = list(video.iter_frames())
    assert len(frames) == video.frame_count == 18
    assert frames[0].shape == (24, 40, 3)


def _red(i, size=(32, 32)):
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[..., 0] = 200  # R
    pixels[..., 2] = 40  # B
    return pixels


def test_frames_are_rgb(tmp_path, make_video, make_jpeg):
    video = open_video(make_video(tmp_path / "red.mp4", 3, pixels=_red))
    folder = tmp_path / "red_frames"
    make_jpeg(folder / "000.jpg", _red(0))
    for frame in [*video.iter_frames(), *open_video(folder).iter_frames()]:
        r, g, b = frame.reshape(-1, 3).mean(axis=0)
        assert abs(r - 200) < 12 and g < 20 and abs(b - 40) < 12


def test_natural_key():
    assert sorted(["b10", "b2", "a1", "B3"], key=natural_key) == ["a1", "b2", "B3", "b10"]


# --- errors name the path ------------------------------------------------------------------


def _error(path, *args):
    with pytest.raises(InputError) as err:
        probe(path, *args)
    assert str(path) in str(err.value)
    with pytest.raises(InputError):
        open_video(path, *args)
    return str(err.value)


def test_missing_path(tmp_path):
    assert "not found" in _error(tmp_path / "nope.mp4")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    assert "empty" in _error(path)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("this is not a video\n" * 20)
    assert "not a readable video" in _error(path)


def test_empty_frame_folder(tmp_path):
    folder = tmp_path / "01_0016"
    folder.mkdir()
    (folder / "readme.txt").write_text("no frames")
    assert "no .jpg/.jpeg/.png images" in _error(folder)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.time_base = Fraction(1, 8000)
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert "no video stream" in _error(path)


def test_corrupt_frame_in_folder(tmp_path, make_frame_folder):
    folder = make_frame_folder(tmp_path / "f", 3)
    bad = folder / "001.jpg"
    bad.write_bytes(b"garbage" * 10)
    video = open_video(folder)  # probing counts files only
    with pytest.raises(InputError, match=str(bad)):
        list(video.iter_frames())


# --- awkward but valid files decode correctly ------------------------------------------------


def _set_mp4_rotation(path, matrix):
    """Patch the track header's display matrix of an mp4 (as a phone camera writes it)."""
    import struct

    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    offset = i + 8 + (20 if version == 0 else 32) + 8 + 8  # box header, times, reserved...
    data[offset:offset + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))


def _band_left(i, size=(32, 48)):
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[:, :8] = 255  # white band along the left edge
    return pixels


def test_rotated_video_is_turned_upright(tmp_path, make_video):
    path = make_video(tmp_path / "portrait.mp4", 3, size=(32, 48), pixels=_band_left)
    # the matrix of a phone video shot in portrait: display rotated 90 degrees clockwise
    _set_mp4_rotation(path, [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000])
    frames = list(open_video(path).iter_frames())
    assert len(frames) == 3
    frame = frames[0]
    assert frame.shape == (48, 32, 3)  # width and height swapped
    assert frame[:8].mean() > 200 and frame[12:].mean() < 30  # left band is now on top


def test_odd_frame_size(tmp_path, make_video, frame_pixels):
    path = make_video(tmp_path / "odd.mp4", 20, size=(31, 45), pix_fmt="yuv444p")
    frames = list(open_video(path).iter_frames())
    assert len(frames) == 20 and frames[0].shape == (31, 45, 3)
    assert abs(frames[7].mean() - frame_pixels(7).mean()) < 6


def test_grayscale_video(tmp_path, frame_pixels):
    path = tmp_path / "gray.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.height, stream.width, stream.pix_fmt = 24, 32, "gray"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, (24, 32))[..., 0], format="gray")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gray"
    frames = list(open_video(path).iter_frames())
    assert len(frames) == 20 and frames[0].shape == (24, 32, 3)
    assert all((f[..., 0] == f[..., 1]).all() and (f[..., 1] == f[..., 2]).all() for f in frames)
    assert frames[5][0, 0, 0] == frame_pixels(5)[0, 0, 0]  # lossless: exact grey levels


def write_vfr_video(path, n_frames=40, size=(32, 32)):
    """An mp4 whose frame durations alternate 15 ms / 60 ms (variable frame rate)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"bf": "0"})
        stream.height, stream.width, stream.pix_fmt = *size, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        t = 0
        packets = []
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), 5 * i, np.uint8), format="rgb24")
            packets += stream.encode(frame)
        packets += stream.encode()
        for i, packet in enumerate(packets):
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = t
            t += 15 if i % 2 else 60
            container.mux(packet)
    return path


def test_variable_frame_rate_video(tmp_path):
    path = write_vfr_video(tmp_path / "vfr.mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        gaps = np.diff([p.pts for p in container.demux(stream) if p.size])
        assert len(set(gaps.tolist())) > 1  # really variable
    video = open_video(path)
    frames = list(video.iter_frames())
    assert len(frames) == video.frame_count == 40  # every frame, none resampled
    levels = [round(float(f.mean())) for f in frames]
    assert all(abs(level - 5 * i) <= 3 for i, level in enumerate(levels))
    assert video.fps is not None and video.fps > 0


# --- snippets ------------------------------------------------------------------------------------


class _CountingVideo(VideoSource):
    """A fake video that counts the frames pulled from it (``n_frames=None``: endless)."""

    def __init__(self, n_frames, size=(8, 8)):
        super().__init__(Path(f"fake-{n_frames}"), n_frames or 10**9, 25.0)
        self.n_frames, self.size, self.pulled = n_frames, size, 0

    def iter_frames(self, threads=0):
        i = 0
        while self.n_frames is None or i < self.n_frames:
            self.pulled += 1
            yield np.full((*self.size, 3), i % 250, np.uint8)
            i += 1


def test_snippet_reader_is_lazy_and_drops_the_tail():
    video = _CountingVideo(16 * 3 + 7)
    reader = SnippetReader(video)
    snippets = iter(reader)
    first = next(snippets)
    assert first.shape == (16, 8, 8, 3) and video.pulled == 16  # nothing decoded ahead
    assert [int(f[0, 0, 0]) for f in first] == list(range(16))
    rest = list(snippets)
    assert len(rest) == 2 and int(rest[-1][-1, 0, 0, 0]) == 47  # trailing 7 frames dropped
    assert (reader.frames_decoded, reader.snippets) == (55, 3)


def test_snippet_reader_applies_transform_per_frame():
    calls = []

    def halve(frame):
        calls.append(frame.shape)
        return frame[::2, ::2]

    snippets = list(SnippetReader(_CountingVideo(32, size=(8, 10)), transform=halve))
    assert len(calls) == 32 and snippets[0].shape == (16, 4, 5, 3)


def test_video_shorter_than_a_snippet(tmp_path, make_video):
    path = make_video(tmp_path / "short.mp4", 15)
    with pytest.raises(InputError, match="short.mp4.*shorter than one 16-frame snippet"):
        list(SnippetReader(open_video(path)))


def write_truncated_mp4(tmp_path, faststart):
    path = tmp_path / ("faststart.mp4" if faststart else "plain.mp4")
    options = {"movflags": "+faststart"} if faststart else {}
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(64):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
                                               format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_mp4_index_at_end(tmp_path):
    path = write_truncated_mp4(tmp_path, faststart=False)  # index (moov) cut off
    with pytest.raises(InputError, match=str(path)):
        open_video(path)


def test_truncated_mp4_index_first(tmp_path):
    path = write_truncated_mp4(tmp_path, faststart=True)  # opens, then the data runs out
    video = open_video(path)
    assert video.frame_count == 64
    with pytest.raises(InputError, match=f"{path}.*(truncated|decoding failed)"):
        list(SnippetReader(video))


def test_missing_frames_at_the_end_are_an_error():
    video = _CountingVideo(40)
    video.frame_count = 100  # the container promises more than decodes
    with pytest.raises(InputError, match="declares 100 frames but only 40 decode"):
        list(SnippetReader(video))
    video = _CountingVideo(40)
    video.frame_count = 41  # a frame short: tolerated (dropped-frame placeholders)
    assert len(list(SnippetReader(video))) == 2


# --- background decoding into batches ------------------------------------------------------------


def test_batches_cross_video_boundaries_and_report_each_video(tmp_path):
    videos = [_CountingVideo(20), _CountingVideo(40), tmp_path / "missing.mp4", _CountingVideo(16)]
    events = list(snippet_batches(videos, batch_size=2))
    batches = [e for e in events if isinstance(e, SnippetBatch)]
    assert [b.owners for b in batches] == [[0, 1], [1, 3]]  # full batches across videos
    done = {e.index: e for e in events if isinstance(e, VideoDone)}
    assert {i: (e.n_snippets, e.frames_decoded) for i, e in done.items()} == {
        0: (1, 20), 1: (2, 40), 3: (1, 16)}
    failed = [e for e in events if isinstance(e, VideoFailed)]
    assert len(failed) == 1 and failed[0].index == 2 and "missing.mp4" in failed[0].reason


def test_failed_video_snippets_never_follow_its_failure():
    bad = _CountingVideo(40)
    bad.frame_count = 100  # fails at its end, after two snippets were batched
    events = list(snippet_batches([_CountingVideo(16), bad, _CountingVideo(16)], batch_size=4))
    failed_at = next(i for i, e in enumerate(events) if isinstance(e, VideoFailed))
    after = [o for e in events[failed_at:] if isinstance(e, SnippetBatch) for o in e.owners]
    assert 1 not in after and after.count(2) == 1
    assert sum(o == 0 for e in events if isinstance(e, SnippetBatch) for o in e.owners) == 1


def test_memory_is_bounded_for_an_endless_video():
    video = _CountingVideo(None)  # never ends: only a bounded reader can work through it
    batches = snippet_batches([video], batch_size=4, max_batches=2)
    for _ in range(3):
        assert isinstance(next(batches), SnippetBatch)
    time.sleep(0.3)  # give an unbounded producer time to run away
    # consumed 3 batches; at most 2 waiting, 1 being filled, 1 blocked in put
    assert video.pulled <= (3 + 2 + 1 + 1) * 4 * 16
    batches.close()


def test_decoder_errors_reach_the_consumer():
    class Broken(_CountingVideo):
        def iter_frames(self, threads=0):
            yield np.zeros((8, 8, 3), np.uint8)
            raise RuntimeError("bug in a decoder")

    with pytest.raises(RuntimeError, match="bug in a decoder"):
        list(snippet_batches([Broken(20)], batch_size=2))


def test_read_video_table(tmp_path):
    good = tmp_path / "videos.csv"
    good.write_text("video_id,path,split,label,class,frame_count,fps\n"
                    "a,v/a.mp4,test,1,Abuse,100,30.0\nb,v/b,train,0,Normal,-1,\n")
    table = read_video_table(good)
    assert table["video_id"].tolist() == ["a", "b"] and np.isnan(table["fps"][1])
    dup = tmp_path / "dup.csv"
    dup.write_text(good.read_text() + "a,v/c.mp4,test,0,Normal,5,30.0\n")
    with pytest.raises(InputError, match=f"{dup}.*more than once.*'a'"):
        read_video_table(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,path\na,b\n")
    with pytest.raises(InputError, match="missing column"):
        read_video_table(bad)
    with pytest.raises(InputError, match="not found"):
        read_video_table(tmp_path / "none.csv")


def test_frames_of_one_video_share_a_size(tmp_path, make_jpeg, frame_pixels):
    folder = tmp_path / "mixed"
    for i in range(20):
        make_jpeg(folder / f"{i:03d}.jpg", frame_pixels(i, (32, 32) if i < 17 else (24, 32)))
    with pytest.raises(InputError, match=f"{folder}: frame 17 is \\(24, 32\\)"):
        list(SnippetReader(open_video(folder)))
    # with a resize fixed per video (as extraction uses) the odd frames are resized instead
    from mist_steps.data.preprocess import Preprocess

    reader = SnippetReader(open_video(folder), transform=Preprocess("i3d", 16).frame_resizer())
    assert len(list(reader)) == 1
