"""The table ``benchmarks.speed`` prints, built from the same dict it writes to JSON."""

from __future__ import annotations

VARIANT_LABELS = {
    "fp32": "fp32",
    "fp32_cl": "fp32 + channels_last",
    "bf16": "bf16 autocast",
    "bf16_cl": "bf16 autocast + channels_last",
}


def format_table(r: dict) -> str:
    """Rows of ``what | value | note``; every rate is a median, the header says over how many."""
    reps, ratios, bare = r["repeats"], r["ratios"], r["bare_loop_img_s"]
    rows = [(f"bare training loop (TutorialCNN, batch {reps['batch_size']}, Adam)", "img/s", "")]
    for key, label in VARIANT_LABELS.items():
        if key not in bare:
            rows.append((f"  {label}", "skipped", "bf16 is emulated on this CPU (see notes)"))
            continue
        note = f"x{bare[key] / bare['fp32']:.2f} vs fp32"
        if key == r["default_bare_loop"]:
            note += f"  <- default ({r['trainer_precision']}, channels_last={r['trainer_channels_last']})"
        rows.append((f"  {label}", f"{bare[key]:,.0f}", note))
    per_epoch = r["trainer_images_per_epoch"]
    rows += [
        (
            "Trainer epoch, configs/mnist.yaml",
            "img/s",
            f"{per_epoch['train']:,} train + {per_epoch['val']:,} val images",
        ),
        (
            f"  {r['default_precision']} (default), train+val / epoch wall",
            f"{r['trainer_epoch_img_s']:,.0f}",
            f"x{ratios['trainer_epoch_vs_bare_default']:.2f} of the bare {r['default_bare_loop']} loop (target >= "
            f"{r['targets']['trainer_epoch_vs_bare_default_min']}); epoch {r['trainer_epoch_s']:.1f} s; "
            f"{r['trainer_plan'][r['default_precision']]}",
        ),
        (
            "  same run, training phase only",
            f"{r['trainer_train_phase_img_s']:,.0f}",
            f"x{ratios['trainer_train_phase_vs_bare_default']:.2f} of the bare loop it runs ({r['default_bare_loop']})",
        ),
    ]
    rows.append(
        (
            "  same run, against the tutorial loop's turns between its epochs",
            f"x{ratios['speedup_epoch_vs_baseline']:.2f}",
            spread(r, "speedup_epoch_vs_baseline") + f"; compile={r['trainer_compile']}",
        )
    )
    rows.append(ceiling_row(r, "default", r["default_bare_loop"]))
    for name, rate in r["trainer_epoch_img_s_by_precision"].items():
        if name != r["default_precision"]:
            note = (
                f"x{ratios['speedup_epoch_fp32_vs_baseline']:.2f} the tutorial loop beside it "
                f"({spread(r, 'speedup_epoch_fp32_vs_baseline')[1:-1]}); default is "
                f"x{ratios['trainer_epoch_default_vs_fp32']:.2f} of this"
            )
            rows.append(
                (
                    f"  {name} (--trainer.precision), {r['trainer_plan'][name]}",
                    f"{rate:,.0f}",
                    note,
                )
            )
            if "bare_loop_vs_baseline_fp32" in ratios:
                rows.append(ceiling_row(r, "fp32", "fp32_cl"))
    rows += [
        *predict_rows(r),
        (
            f"predict command, whole ({r['predict_command_rows']:,} rows, start-up + CSV + submission)",
            f"{r['predict_command_s']:.1f}",
            "s (target < 20 s)",
        ),
        (
            "read train.csv (read_digit_csv)",
            f"{r['csv_read_s']:.2f}",
            f"s (target < {r['targets']['csv_read_s_max']} s)",
        ),
        ("tutorial baseline (fp32, per-item torchvision, DataLoader)", "", ""),
        (
            "  epoch mix (train + val turns beside the default run)",
            f"{r['baseline_img_s']:,.0f}",
            f"img/s; ours x{ratios['speedup_epoch_vs_baseline']:.2f}",
        ),
        ("  training only", f"{r['baseline_train_img_s']:,.0f}", "img/s"),
        (
            "  predict",
            f"{r['baseline_predict_img_s']:,.0f}",
            f"img/s; ours x{ratios['speedup_predict_vs_baseline']:.2f}",
        ),
        (
            "  read train.csv (pd.read_csv)",
            f"{r['baseline_csv_read_s']:.2f}",
            f"s; ours x{ratios['speedup_csv_read_vs_baseline']:.2f}",
        ),
    ]
    width = max(len(row[0]) for row in rows)
    machine = r["machine"]
    repeats = (
        f"medians of {reps['windows']} windows x {reps['steps_per_window']} steps, "
        f"{_plural(reps['trainer_epochs'], 'epoch')}, {_plural(reps['csv_repeats'], 'CSV read')}"
    )
    load = f"load {r['load_average_before'][0]:.2f} -> {r['load_average_after'][0]:.2f}"
    header = f"{machine['cpu_model']}, {machine['torch_threads']} torch threads, torch {machine['torch_version']}; "
    header += f"{repeats}; {load}"
    if r["quick"]:
        header += "  [QUICK: tiny synthetic data, numbers are not speeds]"
    lines = [header] + [f"{name:<{width}}  {value:>9}  {note}".rstrip() for name, value, note in rows]
    lines.append("ratios: median of the ratios of rates measured in turn (A, B, A, B, ...) [min-max over the pairs]")
    lines += [f"  {name:<{width - 2}}  {value:>9.3f}  {spread(r, name)}" for name, value in ratios.items()]
    lines += [f"NOTE: {note}" for note in r["notes"]]
    if r["noisy_img_s"]:
        spans = "; ".join(f"{name} {low:,.0f}-{high:,.0f}" for name, (low, high) in r["noisy_img_s"].items())
        lines.append(f"NOISY (repeats differ > 1.5x, the CPU was busy elsewhere; rerun when idle): {spans} img/s")
    return "\n".join(lines)


PATH_LABELS = {
    "eager": "eager predict_step (today's path)",
    "compiled": "torch.compile (inductor, frozen weights)",
    "onnx": "ONNX Runtime (fp32, file from src.tools.export)",
}


def predict_rows(r: dict) -> list[tuple[str, str, str]]:
    """Prediction throughput per path, its start-up cost, and the fastest path against its target."""
    rates, startup, ratios = r["predict_paths_img_s"], r["predict_startup_s"], r["ratios"]
    setting = f"{r['default_precision']}, batch {r['repeats']['predict_batch_size']}"
    header = f"predict, uint8 test images -> probabilities ({setting})"
    rows = [(header, "img/s", "")]
    for name, label in PATH_LABELS.items():
        if name not in rates:
            rows.append((f"  {label}", "skipped", "see notes"))
            continue
        note = "" if name == "eager" else f"x{ratios[f'predict_{name}_vs_eager']:.2f} vs eager; "
        if name == "compiled":
            images = r["compiled_break_even_images"]
            pays = f"pays for itself after {images:,.0f} images" if images else "never pays for itself here"
            note += f"compiling {startup['compile_s']:.1f} s, {pays}"
        elif name == "onnx":
            note += f"export {startup['onnx_export_s']:.1f} s (once), session start {startup['onnx_session_s']:.2f} s"
        rows.append((f"  {label}", f"{rates[name]:,.0f}", note))
    fastest, targets = r["predict_fastest"], r["targets"]
    if "fastest_predict_img_s_min" in targets:
        goal = targets["fastest_predict_img_s_min"]
        verdict = f"target >= {goal:,} img/s with native bf16: {'met' if rates[fastest] >= goal else 'MISSED'}"
    else:
        goal = targets["fastest_predict_vs_eager_min"]
        ratio = rates[fastest] / rates["eager"]
        verdict = f"target >= x{goal} of eager without native bf16: {'met' if ratio >= goal else 'MISSED'}"
    rows.append((f"  fastest: {fastest}", f"{rates[fastest]:,.0f}", verdict))
    return rows


def ceiling_row(r: dict, run: str, variant: str) -> tuple[str, str, str]:
    """The bare loop's turns beside a Trainer run over the tutorial loop's: training alone at its fastest (an epoch
    beats it only by what its cheaper validation images save)."""
    name = f"bare_loop_vs_baseline_{run}"
    label = f"  ceiling: the bare {variant} loop beside it / the tutorial loop"
    return label, f"x{r['ratios'][name]:.2f}", f"{spread(r, name)}; no data, augmentation, validation or logging"


def spread(r: dict, name: str) -> str:
    """``[min-max]`` of a ratio's pairs, or what it is derived from."""
    if name not in r["ratio_spread"]:
        return "(from the two runs' ratios to the tutorial loop)"
    low, high = r["ratio_spread"][name]
    return f"[{low:.2f}-{high:.2f}]"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
