"""Build the demo clip: one CREMA-D actor saying the same sentence in six emotions, back to back.

Each source clip is followed by a pause (silent audio, last frame held) so that a VAD cuts one
utterance per emotion. Video is re-encoded to H.264 at the source size and frame rate, audio to
AAC 16 kHz mono (the rate the speech stages use). `clips.json`, written beside the clip, lists
each segment's time span, source file, intended emotion and CREMA-D's crowd ratings.

Rebuild the committed asset (from the repository root):
    python -m edge_msa.runtime.demo_clip ../shared/data/crema-d-sample \
        edge_msa/assets/demo/crema_d_1001_six_emotions.mp4
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.media import iter_video_frames, read_audio

ORDER = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")
EMOTIONS = {"N": "neutral", "H": "happy", "S": "sad", "A": "anger", "F": "fear", "D": "disgust"}
# The usual valence mapping for emotion corpora (happy positive, the other emotions negative).
VALENCE = {"neutral": "neutral", "happy": "positive", "sad": "negative", "anger": "negative",
           "fear": "negative", "disgust": "negative"}
# Majority vote and its share (%) for this actor's six clips, from CREMA-D's summaryTable.csv
# (see ../shared/data/README.md): voice only, face only, audio-visual.
CROWD = {
    "NEU": (("N", 64), ("N", 77), ("N", 76)), "HAP": (("N", 75), ("H", 67), ("H", 58)),
    "SAD": (("N", 47), ("N", 67), ("N", 64)), "ANG": (("A", 47), ("A", 42), ("A", 42)),
    "FEA": (("F", 61), ("D", 54), ("F", 45)), "DIS": (("D", 39), ("A", 55), ("D", 42)),
}
RATERS = ("voice", "face", "audio_visual")
SOURCE = "1001_DFA_{}_XX.flv"
FPS = Fraction(30000, 1001)
SAMPLE_RATE = 16000
PAUSE_S = 0.8
AAC_FRAME = 1024


def build_demo_clip(src_dir: str | Path, out: str | Path) -> dict:
    """Write the demo MP4 to `out` and its segment list to `out`'s folder as clips.json."""
    src_dir, out = Path(src_dir), Path(out)
    sources = [src_dir / SOURCE.format(code) for code in ORDER]
    missing = [p.name for p in sources if not p.is_file()]
    if missing:
        raise UserError(f"{src_dir} lacks the CREMA-D sample files {missing}")
    out.parent.mkdir(parents=True, exist_ok=True)
    segments, waves, frame_no = [], [], 0
    with av.open(str(out), "w", format="mp4") as mp4:
        video = mp4.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 480, 360, "yuv420p"
        # One thread and fixed settings: the same PyAV/FFmpeg rebuilds a byte-identical file.
        video.options = {"crf": "24", "preset": "slow", "threads": "1"}
        audio = mp4.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio.bit_rate = 32000
        pause_frames = round(PAUSE_S * FPS)
        for code, path in zip(ORDER, sources, strict=True):
            frames, wave = _decode(path)
            start = frame_no
            for frame in frames + [frames[-1]] * pause_frames:
                _encode_video(mp4, video, frame, frame_no)
                frame_no += 1
            spoken = len(frames) / FPS
            # Audio ends where this segment's video ends, so rounding never drifts across clips.
            samples = round(frame_no / FPS * SAMPLE_RATE) - round(start / FPS * SAMPLE_RATE)
            clip_audio = np.zeros(samples, np.float32)
            n = min(len(wave), round(spoken * SAMPLE_RATE))
            clip_audio[:n] = wave[:n]
            segments.append(_segment(code, path.name, start / FPS, start / FPS + spoken))
            waves.append(clip_audio)
        _encode_audio(mp4, audio, np.concatenate(waves))
        for stream in (video, audio):
            for packet in stream.encode(None):
                mp4.mux(packet)
    manifest = {
        "file": out.name,
        "source": "CREMA-D actor 1001, sentence DFA (\"Don't forget a jacket\"), six intended emotions",
        "licence": "ODbL 1.0 + DbCL 1.0 (LICENSE.txt); cite CITATION.txt",
        "fps": round(float(FPS), 3), "sample_rate": SAMPLE_RATE, "pause_s": PAUSE_S,
        "duration_s": round(float(frame_no / FPS), 3),
        "segments": segments,
    }
    (out.parent / "clips.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _decode(path: Path) -> tuple[list[av.VideoFrame], np.ndarray]:
    """Video frames and mono float32 audio at SAMPLE_RATE."""
    frames = [av.VideoFrame.from_ndarray(bgr, format="bgr24") for _, bgr in iter_video_frames(path)]
    wave = read_audio(path, SAMPLE_RATE)
    if not frames or not len(wave):
        raise UserError(f"{path} has no video or no audio")
    return frames, wave


def _encode_video(mp4, stream, frame: av.VideoFrame, index: int) -> None:
    frame.pts, frame.time_base = index, 1 / FPS
    for packet in stream.encode(frame):
        mp4.mux(packet)


def _encode_audio(mp4, stream, wave: np.ndarray) -> None:
    for i in range(0, len(wave), AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(wave[None, i:i + AAC_FRAME], format="flt", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, i
        frame.time_base = Fraction(1, SAMPLE_RATE)
        for packet in stream.encode(frame):
            mp4.mux(packet)


def _segment(code: str, source: str, start_s: float, end_s: float) -> dict:
    ratings = {kind: {"emotion": EMOTIONS[letter], "share": share / 100}
               for kind, (letter, share) in zip(RATERS, CROWD[code], strict=True)}
    emotion = EMOTIONS[code[0]]
    return {"file": source, "emotion": emotion, "valence": VALENCE[emotion],
            "start_s": round(float(start_s), 3), "end_s": round(float(end_s), 3),
            "crowd_majority": ratings}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m edge_msa.runtime.demo_clip CREMA_D_SAMPLE_DIR OUT.mp4")
    try:
        info = build_demo_clip(sys.argv[1], sys.argv[2])
    except UserError as e:
        sys.exit(f"edge-msa: error: {e}")
    print(f"wrote {sys.argv[2]}: {info['duration_s']} s, {len(info['segments'])} segments")
