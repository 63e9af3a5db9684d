"""A microphone through `sounddevice` (PortAudio), opened at 16 kHz mono float32.

`sounddevice` is imported only here and only when a mic is used: without the PortAudio library
its import fails, which becomes a clear message instead of breaking file-only runs. Use a device
that resamples (ALSA `default` or `pulse`) when the hardware refuses 16 kHz.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

from edge_msa.errors import UserError
from edge_msa.features.audio import SAMPLE_RATE
from edge_msa.runtime.clock import Clock
from edge_msa.runtime.sources.base import AudioChunk, SourceLost


def import_sounddevice():
    try:
        import sounddevice
    except OSError as e:  # "PortAudio library not found"
        raise UserError(f"the microphone needs the PortAudio library ({e}); install it "
                        "(Debian/Ubuntu: apt install libportaudio2) or use --audio FILE") from None
    return sounddevice


class MicSource:
    live = True

    def __init__(self, device: str | int | None = None, block_s: float = 0.032,
                 stall_s: float = 2.0, name: str = "mic") -> None:
        self.device, self.block_s, self.stall_s, self.name = device, block_s, stall_s, name
        import_sounddevice()  # fail at construction, before any thread starts

    def stream(self, clock: Clock) -> Iterator[AudioChunk]:
        sd = import_sounddevice()
        blocks: queue.Queue = queue.Queue(maxsize=64)

        def on_block(indata, frames, time_info, status) -> None:
            try:
                blocks.put_nowait((clock.now() - frames / SAMPLE_RATE, indata[:, 0].copy()))
            except queue.Full:  # the consumer is behind: the runner's queue drops, not PortAudio's
                pass

        device = int(self.device) if isinstance(self.device, str) and self.device.isdigit() else self.device
        try:
            stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", device=device,
                                    blocksize=round(self.block_s * SAMPLE_RATE), callback=on_block)
        except (sd.PortAudioError, ValueError) as e:
            raise SourceLost(f"cannot open microphone {self.device!r}: {e}") from None
        with stream:
            while True:
                try:
                    t, samples = blocks.get(timeout=self.stall_s)
                except queue.Empty:
                    raise SourceLost(f"microphone delivered nothing for {self.stall_s:g} s") from None
                yield AudioChunk(t, samples, SAMPLE_RATE)
