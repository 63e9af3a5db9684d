"""`edge-msa profile BUNDLE --stages MEDIA`: the whole live runtime, per stage, on a media file.

This is `edge-msa run --video MEDIA --fast` (the same launch code: sources, VAD, ASR, audio
features, face, fusion, backend) with sinks off; the per-stage timings are the ones the pipeline
records for every run (`edge_msa.runtime.stats.StageStats`), so the profiler and the runtime
report the same numbers. Fast mode processes the file as fast as possible, so the real-time
factor says how much headroom the device has (< 1: faster than real time).
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.errors import UserError

# Stage keys the runtime records -> what a person calls them (others are listed under their key).
STAGE_NAMES = {
    "vad_ms": "VAD per audio chunk", "asr_ms": "ASR per audio chunk", "asr_final_ms": "ASR utterance end",
    "audio_features_ms": "audio features per chunk", "face_ms": "face per frame",
    "assemble_ms": "window assembly", "video_wait_ms": "wait for late video", "backend_ms": "model",
    "evidence_ms": "per-modality evidence", "event_ms": "event latency (total)",
}


def profile_stages(media_path: str | Path, bundle_dir: str | Path) -> dict:
    """Run the default pipeline in fast mode on `media_path`; per-stage p50/p95, real-time factor, events."""
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle

    media = Path(media_path)
    if not media.is_file():
        raise UserError(f"--stages: media file {media} does not exist")
    cfg = RuntimeConfig().with_overrides(**{"sinks.console": "off"})
    sensors = build_sensors(cfg, video=media, fast=True)  # same order as `edge-msa run`: cheap checks first
    backend, spec, scale = open_bundle(bundle_dir, cfg.backend, cfg.backend_threads)
    summary = build_pipeline(cfg, sensors, backend, spec, scale, fast=True).run()
    if summary.errors:
        raise UserError(f"--stages: the pipeline failed on {media}: {summary.errors[0]}")
    stages = {key: {"name": STAGE_NAMES.get(key, key), **s} for key, s in summary.stages.items()}
    result = {"media": str(media), "backend": backend.name, "threads": cfg.backend_threads,
              "events": summary.events, "media_s": summary.media_s, "wall_s": summary.wall_s,
              "rtf": summary.rtf, "stages": stages,
              "health": {k: h["state"] for k, h in summary.health.items()}}
    result["summary"] = summary_text(result)
    return result


def summary_text(result: dict) -> str:
    rtf = f"{result['rtf']:.3f}" if result["rtf"] is not None else "n/a"
    lines = [f"runtime stages on {Path(result['media']).name} ({result['backend']}, fast mode):",
             f"  {result['events']} events over {result['media_s']:.1f} s of media in "
             f"{result['wall_s']:.1f} s, real-time factor {rtf}",
             f"  {'stage':<28} {'count':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"]
    for s in result["stages"].values():
        lines.append(f"  {s['name']:<28} {s['count']:>6} {s['p50_ms']:>9.2f} {s['p95_ms']:>9.2f} "
                     f"{s['max_ms']:>9.2f}")
    return "\n".join(lines)
