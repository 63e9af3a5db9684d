"""A camera through OpenCV: a device index, a V4L2 device path, or a GStreamer pipeline string.

Jetson CSI cameras are read through a GStreamer pipeline (`nvarguscamerasrc ! ... ! appsink`,
see runtime/jetson-csi.yaml); USB cameras by index. Frames are stamped with the pipeline clock
when grabbed. A failed read means the camera is gone: `SourceLost`, and the runner re-opens it.
"""

from __future__ import annotations

from collections.abc import Iterator

from edge_msa.runtime.clock import Clock
from edge_msa.runtime.sources.base import SourceLost, VideoFrame


class CameraSource:
    live = True

    def __init__(self, device: int | str = 0, width: int = 0, height: int = 0, fps: float = 0,
                 name: str = "camera") -> None:
        self.device, self.width, self.height, self.fps, self.name = device, width, height, fps, name

    def _open(self):
        import cv2

        device = self.device
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        if isinstance(device, str) and "!" in device:
            cap = cv2.VideoCapture(device, cv2.CAP_GSTREAMER)
        else:
            cap = cv2.VideoCapture(device)
        if not cap.isOpened():
            cap.release()
            raise SourceLost(f"cannot open camera {self.device!r}")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, self.height), (cv2.CAP_PROP_FPS, self.fps)):
            if value:
                cap.set(prop, value)
        return cap

    def stream(self, clock: Clock) -> Iterator[VideoFrame]:
        cap = self._open()
        try:
            while True:
                ok, image = cap.read()
                if not ok or image is None:
                    raise SourceLost(f"camera {self.device!r} returned no frame")
                yield VideoFrame(clock.now(), image)
        finally:
            cap.release()
