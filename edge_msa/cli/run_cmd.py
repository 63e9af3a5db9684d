"""`edge-msa run` (live sentiment from camera/mic or files) and `edge-msa demo` (the bundled clip).

    edge-msa run                                  # the config's camera + microphone
    edge-msa run --video talk.mp4 --fast --jsonl events.jsonl --overlay annotated.mp4
    edge-msa run --camera 0 --mic default --http 8765 --bundle bundles/lnln-int8   # dashboard on :8765/
    edge-msa demo                                 # no camera, mic or GPU needed
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_msa.errors import UserError

BUNDLE_HELP = ("Bundle folder written by `edge-msa export`, or a shipped tier: default (the default), nano, "
               "or TIER/FORMAT such as default/onnx-int8. A bare tier runs its fastest bundle on this "
               "device (devices/*.yaml).")
BACKEND_HELP = ("Backend that runs the bundle (torch, onnxruntime, executorch, tensorrt); "
                "default: the bundle's first.")
JSONL_HELP = "Write every event as one JSON line to this file."
DEMO_JSONL_HELP = JSONL_HELP + " Default: events.jsonl in a new temporary folder (printed)."
OVERLAY_HELP = "Write the video annotated with score, modality badges and transcript (.mp4)."
JSON_HELP = "Write the run summary (events, real-time factor, per-stage latency, health) as JSON."
CONFIG_HELP = ("Pipeline config: a name in runtime/ (default, jetson-csi; edge-msa carries them) or a YAML "
               "file.")
FORCE_HELP = "Replace output files (--jsonl, --overlay, --json) that exist."
HTTP_HELP = ("Serve a live dashboard on http://127.0.0.1:PORT/ and the events as JSON (/latest, /events, "
             "/health, /stream). The events hold what people said (transcripts): anyone who can open "
             "the page reads them.")
HTTP_HOST_HELP = ("Address for --http (default 127.0.0.1). Any address beyond the loopback needs a token "
                  "on every request (generated and printed unless --http-token).")
FRONTEND_HELP = ("Voice features: python (edge-msa's extractor) or bundle (the bundle's exported front-end "
                 "graph, frontend.onnx through onnxruntime: what an app holding the bundle computes).")
HTTP_TOKEN_HELP = "Token for --http: required as ?token= or 'Authorization: Bearer' (also on the loopback)."
LINGER_HELP = ("With --http: after a file ends, keep serving the dashboard's final state until Ctrl-C "
               "(default with --http on a file; --no-linger exits).")


def _print_summary(summary, console) -> None:
    from rich.table import Table

    labels = ", ".join(f"{k} {v}" for k, v in sorted(summary.labels.items())) or "none"
    speed = f": real-time factor {summary.rtf:.3f}" if summary.fast and summary.rtf is not None else ""
    console.print(f"{summary.events} events ({labels}) over {summary.media_s:.1f} s of stream in "
                  f"{summary.wall_s:.1f} s{speed}", soft_wrap=True)
    table = Table(title="per-stage latency (ms)", title_justify="left")
    for col in ("stage", "count", "p50", "p95", "max"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, s in summary.stages.items():
        table.add_row(stage, str(s["count"]), *(f"{s[k]:.2f}" for k in ("p50_ms", "p95_ms", "max_ms")))
    console.print(table)
    troubled = {k: h for k, h in summary.health.items() if h["state"] not in ("ok", "ended")}
    for name, h in troubled.items():
        console.print(f"{name}: {h['state']} {h['error']} (re-opened {h['reopens']} times)", markup=False)
    dropped = {k: v for k, v in summary.dropped.items() if v}
    if dropped:
        console.print(f"dropped (queues full): {dropped}")
    for error in summary.errors:
        console.print(f"error: {error}", markup=False)
    for note in summary.notes:
        console.print(f"note: {note}", markup=False)


def _write_json(path: Path | None, summary) -> None:
    if path is not None:
        path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")


def _check_outputs(config, json_out: Path | None, force: bool, bundle: Path | None, **inputs) -> None:
    """The outputs (from the options or the config file) before any model loads: never an input,
    never replaced without --force, in a folder that exists."""
    from edge_msa.outputs import check_outputs
    from edge_msa.runtime.launch import default_bundle_path
    from edge_msa.runtime.sinks.overlay import check_overlay_path

    if config.sinks.overlay is not None:
        check_overlay_path(config.sinks.overlay)
    check_outputs({"--jsonl": config.sinks.jsonl, "--overlay": config.sinks.overlay, "--json": json_out},
                  force=force, inputs={"--bundle": bundle or default_bundle_path(), **inputs})


def check_frontend(frontend: str) -> None:
    from edge_msa.export.frontend import FRONTENDS

    if frontend not in FRONTENDS:
        raise UserError(f"unknown --frontend {frontend!r}; expected one of {', '.join(FRONTENDS)}")


def _linger(pipeline) -> None:
    """Serve the dashboard's final state until Ctrl-C (not after a Ctrl-C that ended the run)."""
    import time

    from rich.console import Console

    try:
        if not pipeline.interrupted:
            Console(stderr=True).print(f"the run is over; the dashboard shows its final state at "
                                       f"{pipeline.http.dashboard_url} until Ctrl-C", soft_wrap=True,
                                       markup=False)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        pipeline.http.close()


def _execute(config, bundle, fast, duration_s, json_out, frontend: str = "python", linger: bool = False,
             **inputs):
    """Check the inputs (cheap, clear errors), open the bundle, run, summarise."""
    from rich.console import Console

    from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle

    if duration_s is not None and not duration_s > 0:  # also refuses nan
        raise UserError(f"--duration must be a positive number of seconds, got {duration_s}")
    check_frontend(frontend)
    sensors = build_sensors(config, fast=fast, **inputs)
    runner, spec, scale = open_bundle(bundle, config.backend, config.backend_threads)
    featurizer = None
    if frontend == "bundle":
        from edge_msa.export.frontend import bundle_featurizer

        featurizer = bundle_featurizer(runner.bundle)
    pipeline = build_pipeline(config, sensors, runner, spec, scale, fast=fast, audio_featurizer=featurizer)
    if pipeline.http is not None:
        http = pipeline.http
        token = f"; token {http.token}" if http.token else ""
        Console(stderr=True).print(f"dashboard at {http.dashboard_url} (events at {http.url}/latest, "
                                   f"/events, /stream{token})", soft_wrap=True, markup=False)
    linger = linger and pipeline.http is not None
    summary = pipeline.run(duration_s, keep_serving=linger)
    _print_summary(summary, Console(stderr=config.sinks.console == "off"))
    _write_json(json_out, summary)
    if pipeline.overlay is not None and pipeline.overlay.error:  # the events are saved; the video is not
        raise UserError(pipeline.overlay.error)
    if linger:
        _linger(pipeline)
    return summary


def run(
    video: Annotated[Path | None, typer.Option("--video", help="Media file as camera (its audio track is the "
                                               "mic unless --audio/--mic).")] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Camera: index, /dev/videoN or a GStreamer "
                                               "pipeline string.")] = None,
    audio: Annotated[Path | None, typer.Option("--audio", help="Audio file as microphone (WAV, FLAC, MP3, "
                                               "MP4, ... at any sample rate).")] = None,
    mic: Annotated[str | None, typer.Option("--mic", help="Microphone name or index ('default' for the "
                                            "system default).")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help=BUNDLE_HELP)] = None,
    backend: Annotated[str | None, typer.Option("--backend", help=BACKEND_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    jsonl: Annotated[Path | None, typer.Option("--jsonl", help=JSONL_HELP)] = None,
    overlay: Annotated[Path | None, typer.Option("--overlay", help=OVERLAY_HELP)] = None,
    http: Annotated[int | None, typer.Option("--http", help=HTTP_HELP)] = None,
    http_host: Annotated[str | None, typer.Option("--http-host", help=HTTP_HOST_HELP)] = None,
    http_token: Annotated[str | None, typer.Option("--http-token", help=HTTP_TOKEN_HELP)] = None,
    fast: Annotated[bool, typer.Option("--fast", help="Process files as fast as possible instead of in "
                                       "real time.")] = False,
    console: Annotated[str | None, typer.Option("--console", help="Console view: auto, live, lines or "
                                                "off.")] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Also score the last window every "
                                                   "N seconds (0: only at utterance ends).")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds "
                                                   "(live sensors run until Ctrl-C otherwise).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help=JSON_HELP)] = None,
    frontend: Annotated[str, typer.Option("--frontend", help=FRONTEND_HELP)] = "python",
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    linger: Annotated[bool | None, typer.Option("--linger/--no-linger", help=LINGER_HELP)] = None,
    enrol: Annotated[float | None, typer.Option("--enrol", min=0, help="The first N seconds are you at rest "
                                                "(neutral face, calm voice): they set your baseline for "
                                                "the session (docs/calibration.md)")] = None,
) -> None:
    """Live sentiment from a person talking: camera/video + mic/audio + speech recognition."""
    from edge_msa.runtime.config import find_config, load_config

    config = find_config(config) if config is not None else None
    cfg = load_config(config).with_overrides(**{
        "sinks.jsonl": str(jsonl) if jsonl else None, "sinks.overlay": str(overlay) if overlay else None,
        "sinks.console": console, "sinks.http.enabled": True if http is not None else None,
        "sinks.http.port": http, "sinks.http.host": http_host, "sinks.http.token": http_token,
        "scheduler.interval_s": interval, "backend": backend, "calibration.enrol_s": enrol})
    if (http_host is not None or http_token is not None or linger) and not cfg.sinks.http.enabled:
        raise UserError("--http-host, --http-token and --linger go with --http PORT")
    if cfg.sinks.http.enabled:  # a bad address is refused now, not after the models load
        from edge_msa.runtime.sinks.addresses import bind_address

        bind_address(cfg.sinks.http.host, cfg.sinks.http.port)
    _check_outputs(cfg, json_out, force, bundle, **{"--video": video, "--audio": audio, "--config": config})
    if linger is None:
        linger = video is not None or audio is not None
    _execute(cfg, bundle, fast, duration, json_out, frontend, linger, video=video, camera=camera, audio=audio,
             mic=mic)


def _print_acted(jsonl: Path, clip: Path) -> None:
    """Beside each event, what the actor meant and what CREMA-D's raters read from voice and face."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from edge_msa.runtime.events import EVENT_MODALITIES
    from edge_msa.runtime.sinks.jsonl import read_jsonl

    segments = json.loads((clip.parent / "clips.json").read_text())["segments"]
    table = Table(title="acted emotion; CREMA-D raters' majority from voice (V) or face (F) alone",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("time s", "acted", "crowd V", "crowd F", "ours", "fused", "text", "voice", "face"):
        table.add_column(col, no_wrap=True)
    for e in read_jsonl(jsonl):
        seg = max(segments, key=lambda s: min(e.end, s["end_s"]) - max(e.start, s["start_s"]))
        crowd = seg["crowd_majority"]
        said = [f"{e.evidence[m].score:+.2f}" if e.evidence[m].present else "-" for m in EVENT_MODALITIES]
        table.add_row(f"{e.start:.1f}-{e.end:.1f}", seg["emotion"], crowd["voice"]["emotion"],
                      crowd["face"]["emotion"], e.label[:3], f"{e.score:+.2f}", *said)
    Console().print(table)


def demo(
    bundle: Annotated[Path | None, typer.Option("--bundle", help=BUNDLE_HELP)] = None,
    backend: Annotated[str | None, typer.Option("--backend", help=BACKEND_HELP)] = None,
    jsonl: Annotated[Path | None, typer.Option("--jsonl", help=DEMO_JSONL_HELP)] = None,
    overlay: Annotated[Path | None, typer.Option("--overlay", help=OVERLAY_HELP)] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Play the clip in real time instead of as "
                                           "fast as possible.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help=JSON_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Run the whole pipeline on the bundled clip (one actor, six emotions); print and save the events."""
    from edge_msa.features.media import demo_clip_path
    from edge_msa.runtime.config import RuntimeConfig

    if jsonl is None:  # the demo's own events, not a user's file: a fresh folder per run never collides
        import tempfile

        jsonl = Path(tempfile.mkdtemp(prefix="edge-msa-demo-")) / "events.jsonl"
    cfg = RuntimeConfig().with_overrides(**{
        "sinks.jsonl": str(jsonl), "sinks.overlay": str(overlay) if overlay else None,
        "sinks.console": "lines", "backend": backend})
    clip = demo_clip_path()
    _check_outputs(cfg, json_out, force, bundle,
                   **{"demo clip": clip, "clips.json": clip.parent / "clips.json"})
    summary = _execute(cfg, bundle, not realtime, None, json_out, video=clip)
    _print_acted(jsonl, clip)
    typer.echo(f"wrote {summary.events} events to {jsonl}" + (f" and the annotated video to {overlay}"
                                                               if overlay else ""))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
