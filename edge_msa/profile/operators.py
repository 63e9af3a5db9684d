"""`edge-msa profile BUNDLE --operators`: where an ExecuTorch program spends its time.

The `.pte` is run with ETDump event tracing on, then `executorch.devtools.Inspector` reads the
dump. Every instruction of the program is either a portable-kernel call (`native_call_<op>`,
wrapped by an `OPERATOR_CALL` event that includes argument handling) or a call into a delegate
(`DELEGATE_CALL`, with the delegate's own per-op events nested inside). Top-level rows (portable
ops and delegate calls) add up to the program's time; delegated ops are reported apart, as shares
of the delegate time, because they are nested in it. The first `warmup` executions are dropped
(each event keeps one sample per execution). Without an ETRecord the names are the runtime's
(kernel names, XNNPACK operator names), which is what a phone profile shows too.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle, load_bundle

NATIVE = "native_call_"
OPERATOR_CALL, DELEGATE_CALL, EXECUTE = "OPERATOR_CALL", "DELEGATE_CALL", "Method::execute"
LOAD_METHOD = "Program::load_method"


def _record_etdump(bundle: Bundle, threads: int, runs: int, warmup: int, out: Path,
                   text_tokens: int | None = None) -> Path:
    """Run the bundle's program warmup + runs times with ETDump on; returns the dump file."""
    # registers quantized_decomposed kernels: int8 embedding tables (embedding_byte) need them
    import executorch.kernels.quantized  # noqa: F401
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    from edge_msa.features.spec import trim_text
    from edge_msa.profile.runner import profile_inputs

    _unsafe_reset_threadpool(threads)  # the pool is process-wide and defaults to the core count
    program = Runtime.get().load_program(bundle.path("model"), enable_etdump=True, debug_buffer_size=0)
    method = program.load_method("forward")
    inputs = profile_inputs(bundle.spec, text_tokens=text_tokens)
    if bundle.manifest.text_varies:  # what the backends run: the text cut
        inputs = trim_text(inputs)
    inputs = [torch.from_numpy(a) for a in inputs]
    for _ in range(warmup + runs):
        method.execute(inputs)
    path = out / "model.etdump"
    try:
        program.write_etdump_result_to_file(str(path), str(out / "debug.bin"))
    except RuntimeError as e:
        raise UserError(f"this ExecuTorch build records no ETDump ({e}); it must be built with "
                        "EXECUTORCH_ENABLE_EVENT_TRACER=ON") from None
    return path


def _ms(event, skip: int) -> float:
    """Mean time of one event per execution, warm-up executions left out."""
    return float(np.mean(event.perf_data.raw[skip:]))


def _op_kind(name: str) -> str:
    """XNNPACK numbers repeated operators ('Fully Connected (NC, F32) GEMM #2'): one kind per op."""
    return re.sub(r"\s*#\d+$", "", name)


def _rows(totals: dict[str, list[float]], whole: float) -> list[dict]:
    rows = [{"name": name, "count": len(ms), "total_ms": sum(ms), "mean_ms": sum(ms) / len(ms),
             "share": sum(ms) / whole if whole > 0 else 0.0} for name, ms in totals.items()]
    return sorted(rows, key=lambda r: -r["total_ms"])


def breakdown(events: list, skip: int, delegate_name: str) -> dict:
    """Operator table from the Inspector's execute events (see the module docstring)."""
    by_instruction: dict[int, list] = defaultdict(list)
    execute = []
    for e in events:
        if e.perf_data is None:
            continue
        if e.name == EXECUTE:
            execute.append(_ms(e, skip))
        else:
            by_instruction[e._instruction_id].append(e)
    if not execute:
        raise UserError("the ETDump holds no executed method (nothing to break down)")
    total = float(np.mean(execute))
    top: dict[str, list[float]] = defaultdict(list)
    inside: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for group in by_instruction.values():
        names = {e.name for e in group}
        for e in group:
            if e.is_delegated_op:
                inside[_op_kind(e.name)].append(_ms(e, skip))
        if DELEGATE_CALL in names:
            name = f"{delegate_name} call"
            top[name] += [_ms(e, skip) for e in group if e.name == DELEGATE_CALL]
            kinds[name] = "delegate"
        for e in group:
            if e.name.startswith(NATIVE):
                name = e.name.removeprefix(NATIVE)
                wrapper = [x for x in group if x.name == OPERATOR_CALL]
                top[name].append(_ms(wrapper[0] if wrapper else e, skip))
                kinds[name] = "portable"
    operators = [{**r, "kind": kinds[r["name"]]} for r in _rows(top, total)]
    delegate_ms = sum(r["total_ms"] for r in operators if r["kind"] == "delegate")
    portable_ms = sum(r["total_ms"] for r in operators if r["kind"] == "portable")
    return {"execute_ms": total, "portable_ms": portable_ms, "delegate_ms": delegate_ms,
            "other_ms": max(total - portable_ms - delegate_ms, 0.0), "delegate": delegate_name,
            "operators": operators, "delegated_ops": _rows(inside, delegate_ms)}


def delegation_line(delegation: dict | None, quantization: dict | None) -> str | None:
    """What the exporter recorded: ops the delegate took vs left on portable kernels, by op, and
    which modules the int8 scheme quantized per call (dynamic) or kept float."""
    if not delegation:
        return None
    left = sorted((delegation.get("non_delegated_by_op") or {}).items(), key=lambda kv: -kv[1])
    line = (f"  export: {delegation.get('delegated_ops', '?')} ops delegated, "
            f"{delegation.get('non_delegated_ops', '?')} left on portable kernels"
            + (": " + ", ".join(f"{op.removeprefix('aten_')} x{n}" for op, n in left[:8]) if left else ""))
    if quantization:
        extra = {k: quantization[k] for k in ("dynamic_modules", "keep_float", "operators")
                 if quantization.get(k)}
        line += f"\n  int8: {quantization.get('scheme')}" + "".join(f", {k} {v}" for k, v in extra.items())
    return line


def summary_text(result: dict, top: int = 12) -> str:
    s = result
    head = (f"ExecuTorch operators ({s['runs']} runs after {s['warmup']} warm-up, {s['threads']} threads, "
            f"ETDump on):\n  {s['execute_ms']:.3f} ms per run = portable {s['portable_ms']:.3f} + "
            f"{s['delegate']} {s['delegate_ms']:.3f} + runtime {s['other_ms']:.3f}")
    lines = [head]
    exported = delegation_line(s.get("delegation"), s.get("quantization"))
    if exported:
        lines.append(exported)
    lines.append(f"  {'operator':<44} {'kind':<9} {'count':>5} {'ms/run':>8} {'share':>6}")
    for r in s["operators"][:top]:
        lines.append(f"  {r['name'][:44]:<44} {r['kind']:<9} {r['count']:>5} {r['total_ms']:>8.4f} "
                     f"{r['share']:>6.1%}")
    if s["delegated_ops"]:
        lines.append(f"  inside {s['delegate']} (share of its time; timer resolution ~1 us):")
        for r in s["delegated_ops"][:top]:
            lines.append(f"    {r['name'][:42]:<42} {'':<9} {r['count']:>5} {r['total_ms']:>8.4f} "
                         f"{r['share']:>6.1%}")
    return "\n".join(lines)


def executorch_operators(bundle_dir: str | Path, threads: int = 2, runs: int = 20, warmup: int = 2,
                         text_tokens: int | None = None) -> dict:
    """Per-operator time of an ExecuTorch bundle (mean per run); the dict carries a printable "summary"."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise UserError("operator profiling needs runs >= 1, warmup >= 0 and threads >= 1")
    bundle = load_bundle(bundle_dir)
    fmt = bundle.manifest.format
    if fmt != "executorch":
        raise UserError(f"--operators needs an ExecuTorch (.pte) bundle; {bundle.root} is a {fmt} bundle")
    from edge_msa.runtime.backends import backend_class

    reason = backend_class("executorch").unavailable()
    if reason is not None:
        raise UserError(f"--operators: the executorch backend cannot run here: {reason}")
    delegation = bundle.manifest.delegation or {}
    delegate_name = str(delegation.get("backend", "delegate"))
    with tempfile.TemporaryDirectory(prefix="edge-msa-etdump-") as tmp:
        path = _record_etdump(bundle, threads, runs, warmup, Path(tmp), text_tokens)
        from executorch.devtools import Inspector

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Output Buffer not found": we ask for timings only
            inspector = Inspector(etdump_path=str(path))
    blocks = {b.name: b for b in inspector.event_blocks}
    execute = [b for b in inspector.event_blocks if any(e.name == EXECUTE for e in b.events)]
    if not execute:
        raise UserError(f"the ETDump of {bundle.root} has no execution events (blocks: {sorted(blocks)})")
    result = {"runs": runs, "warmup": warmup, "threads": threads,
              **breakdown(execute[0].events, warmup, delegate_name),
              "delegation": delegation or None, "quantization": bundle.manifest.quantization}
    load = [e.perf_data.avg for b in inspector.event_blocks for e in b.events
            if e.name == LOAD_METHOD and e.perf_data]
    result["load_method_ms"] = load[0] if load else None
    result["summary"] = summary_text(result)
    return result
