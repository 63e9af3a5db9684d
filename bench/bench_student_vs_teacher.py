"""MMSLF student vs teacher: CPU latency at batch 1 (torch eager, same process), sizes, ratio.

    python bench/bench_student_vs_teacher.py --teacher runs/mmslf_teacher --student runs/mmslf_student
    python bench/bench_student_vs_teacher.py            # untrained presets: same graphs, same cost

Inputs are the live window at full length (64 tokens, 300 audio frames, 60 vision frames, all
present); the teacher also reads a describer-length prompt (`--prompt-tokens`), as it did in
training. Runs alternate teacher/student so both see the same machine load; the figure is the
median of `--repeats` calls each. Prints figures only, never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from edge_msa.features.spec import LIVE
from edge_msa.features.text import tokenize
from edge_msa.models import create_model
from edge_msa.train.run import load_run

PROMPT = ("The speaker's voice has high pitch (about 240 Hz), rising, with lively, varied intonation; "
          "a loud, energetic voice. The speaker's face shows smiling broadly, nodding.")


def load(run: str | None, preset: str) -> torch.nn.Module:
    return (load_run(run)[0] if run else create_model(preset, LIVE, pretrained=False)).eval()


def time_call(fn, inputs) -> float:
    start = time.perf_counter()
    fn(*inputs)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", help="teacher run folder (default: untrained mmslf_teacher-base)")
    ap.add_argument("--student", help="student run folder (default: untrained mmslf_student-tiny)")
    ap.add_argument("--prompt-tokens", type=int, default=48, help="teacher prompt length (padded)")
    ap.add_argument("--repeats", type=int, default=50, help="timed calls per model")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls per model first")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    teacher, student = load(args.teacher, "mmslf_teacher-base"), load(args.student, "mmslf_student-tiny")
    inputs = student.example_inputs(1)
    prompt = tuple(torch.from_numpy(a) for a in tokenize([PROMPT], args.prompt_tokens))
    calls = {"teacher": (teacher, inputs + prompt), "student": (student, inputs)}
    times: dict[str, list[float]] = {k: [] for k in calls}
    with torch.inference_mode():
        for model, x in calls.values():
            for _ in range(args.warmup):
                model(*x)
        for _ in range(args.repeats):
            for name, (model, x) in calls.items():
                times[name].append(time_call(model, x))

    report = {"threads": args.threads, "repeats": args.repeats, "text_tokens": LIVE.text.max_len,
              "prompt_tokens": int(prompt[1].sum())}
    for name, (model, _) in calls.items():
        text = model.text_encoder
        state = model.state_dict().values()
        report[name] = {"params": model.count_parameters(),
                        "text_encoder_params": sum(p.numel() for p in text.parameters()) if text else 0,
                        "fp32_mb": sum(t.numel() * t.element_size() for t in state) / 1e6,
                        "p50_ms": statistics.median(times[name]),
                        "p90_ms": statistics.quantiles(times[name], n=10)[-1]}
    report["speedup_p50"] = report["teacher"]["p50_ms"] / report["student"]["p50_ms"]
    for name in calls:
        r = report[name]
        print(f"{name:8s} params {r['params'] / 1e6:6.2f} M "
              f"(text encoder {r['text_encoder_params'] / 1e6:5.2f} M)  fp32 {r['fp32_mb']:6.1f} MB  "
              f"p50 {r['p50_ms']:7.2f} ms  p90 {r['p90_ms']:7.2f} ms")
    print(f"student speed-up (teacher p50 / student p50): {report['speedup_p50']:.2f}x "
          f"at batch 1, {args.threads} threads, torch eager")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
