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
    rows = [(f"bare training loop (SeedCNN, batch {reps['batch_size']}, Adam)", "img/s", "")]
    for key, label in VARIANT_LABELS.items():
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
            f"x{ratios['trainer_epoch_vs_bare_bf16_cl']:.2f} of bare bf16+cl (target >= "
            f"{r['targets']['trainer_epoch_vs_bare_bf16_cl_min']}); epoch {r['trainer_epoch_s']:.1f} s",
        ),
        (
            "  same run, training phase only",
            f"{r['trainer_train_phase_img_s']:,.0f}",
            f"x{ratios['trainer_train_phase_vs_bare_default']:.2f} of the bare loop it runs ({r['default_bare_loop']})",
        ),
    ]
    for name, rate in r["trainer_epoch_img_s_by_precision"].items():
        if name != r["default_precision"]:
            note = f"default is x{ratios['trainer_epoch_default_vs_fp32']:.2f} of this"
            rows.append(
                (
                    f"  {name} (--trainer.precision), {_plural(reps['fp32_trainer_epochs'], 'epoch')}",
                    f"{rate:,.0f}",
                    note,
                )
            )
    rows += [
        (
            f"predict (eval, inference_mode, {r['default_precision']}, batch {reps['predict_batch_size']})",
            f"{r['predict_img_s']:,.0f}",
            "img/s",
        ),
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
            "  epoch (projected from train/val windows)",
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
    if r["noisy_img_s"]:
        spans = "; ".join(f"{name} {low:,.0f}-{high:,.0f}" for name, (low, high) in r["noisy_img_s"].items())
        lines.append(f"NOISY (repeats differ > 1.5x, the CPU was busy elsewhere; rerun when idle): {spans} img/s")
    return "\n".join(lines)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
