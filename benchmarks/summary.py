"""The JSON document ``benchmarks.speed`` writes: headline numbers, ratios inside this one run, raw windows."""

from __future__ import annotations

import dataclasses
import statistics

from benchmarks.bare_loop import variant_for
from benchmarks.baseline import paired_ratios
from benchmarks.budget import Budget
from benchmarks.inference import summarise_paths
from benchmarks.timing import noisy


def per_round(windows: dict[str, list[float]], name: str, other: str) -> list[float]:
    """``name``'s rate over ``other``'s, window by window (windows of one ``in_turn`` round ran side by side)."""
    return [a / b for a, b in zip(windows[name], windows[other], strict=False)]


def summarise(m: dict, budget: Budget) -> dict:
    """The JSON document: headline numbers, ratios between numbers of this same run, raw windows."""
    bare, trainer_runs = m["bare"]["img_s"], m["trainer_runs"]
    trainer, baseline, predict = trainer_runs[m["default_precision"]], m["baseline"], m["predict"]
    default_variant = variant_for(trainer["precision"], trainer["channels_last"])
    paths = summarise_paths(predict)
    base = baseline["by_run"]
    # Every ratio divides rates measured in turn (A, B, A, B, ...); its spread is the min-max of the paired ratios.
    paired, spread = {}, {}
    for name, run in trainer_runs.items():
        warm = run["warmup_epochs"]
        epoch_rates = run["epoch_rates"]
        train_rates = [e["train_images"] / e["train_s"] for e in run["epochs"][warm:]][: len(epoch_rates)]
        paired[name] = {
            "vs_baseline": paired_ratios(epoch_rates, [t["img_s"] for t in base[name]["turns"]][warm:]),
            "vs_bare": paired_ratios(epoch_rates, baseline["bare_turns"][name][warm:]),
            "train_vs_bare": paired_ratios(train_rates, baseline["bare_turns"][name][warm:]),
            # the ceiling: the bare loop (no data, augmentation or logging) over the tutorial turn just before it
            "bare_vs_baseline": [
                bare / turn["img_s"]
                for bare, turn in zip(baseline["bare_turns"][name], base[name]["turns"], strict=False)
            ],
        }
    default = paired[m["default_precision"]]
    pairs = {
        "trainer_epoch_vs_bare_default": default["vs_bare"],
        "trainer_train_phase_vs_bare_default": default["train_vs_bare"],
        **{
            f"bare_{name}_vs_fp32": per_round(m["bare"]["windows_img_s"], name, "fp32")
            for name in bare
            if name != "fp32"
        },
        "speedup_epoch_vs_baseline": default["vs_baseline"],
        "speedup_predict_vs_baseline": per_round(
            {**predict["windows_img_s"], "baseline": baseline["predict_windows"]}, "eager", "baseline"
        ),
        "speedup_csv_read_vs_baseline": per_round(
            {"ours": m["csv_read_times"], "tutorial": baseline["csv_read_times"]}, "tutorial", "ours"
        ),
        **{
            f"predict_{name}_vs_eager": per_round(predict["windows_img_s"], name, "eager")
            for name in predict["img_s"]
            if name != "eager"
        },
    }
    pairs["bare_loop_vs_baseline_default"] = default["bare_vs_baseline"]
    if "32-true" in paired and len(paired) > 1:
        pairs["speedup_epoch_fp32_vs_baseline"] = paired["32-true"]["vs_baseline"]
        pairs["bare_loop_vs_baseline_fp32"] = paired["32-true"]["bare_vs_baseline"]
    ratios = {name: statistics.median(values) for name, values in pairs.items() if values}
    spread = {name: [min(values), max(values)] for name, values in pairs.items() if values}
    if "speedup_epoch_fp32_vs_baseline" in ratios:
        # Both runs against the tutorial loop beside them: the common yardstick cancels load that came and went.
        ratios["trainer_epoch_default_vs_fp32"] = (
            ratios["speedup_epoch_vs_baseline"] / ratios["speedup_epoch_fp32_vs_baseline"]
        )
    series = {f"bare_{name}": rates for name, rates in m["bare"]["windows_img_s"].items()}
    for name, run in trainer_runs.items():
        series[f"trainer_{name}"] = [(e["train_images"] + e["val_images"]) / e["seconds"] for e in run["epochs"]]
    series.update({f"predict_{name}": rates for name, rates in predict["windows_img_s"].items()})
    for name, turns in base.items():
        series[f"baseline_beside_{name}"] = [t["img_s"] for t in turns["turns"]]
    series["baseline_predict"] = baseline["predict_windows"]
    targets = {"trainer_epoch_vs_bare_default_min": 0.85, "csv_read_s_max": 3.0}
    if m["native_bf16"]:
        targets["fastest_predict_img_s_min"] = 20_000
    else:
        targets["fastest_predict_vs_eager_min"] = 1.5
    return {
        "bare_loop_img_s": bare,
        "bare_loop_skipped": m["bare"]["skipped"],
        "native_bf16": m["native_bf16"],
        "default_precision": m["default_precision"],
        "trainer_precision": trainer["precision"],
        "trainer_channels_last": trainer["channels_last"],
        "default_bare_loop": default_variant,
        "trainer_epoch_img_s": trainer["epoch_img_s"],
        "trainer_train_phase_img_s": trainer["train_phase_img_s"],
        "trainer_epoch_s": trainer["epoch_s"],
        "trainer_images_per_epoch": trainer["images_per_epoch"],
        "trainer_epoch_img_s_by_precision": {name: run["epoch_img_s"] for name, run in trainer_runs.items()},
        "trainer_compile": trainer["compile"],
        "baseline_img_s_by_run": {name: turns["epoch_img_s"] for name, turns in base.items()},
        "trainer_plan": m["trainer_plans"],
        "predict_img_s": predict["img_s"]["eager"],
        "predict_paths_img_s": predict["img_s"],
        "predict_startup_s": predict["startup_s"],
        "predict_fastest": paths["fastest"],
        "compiled_break_even_images": paths.get("compiled_break_even_images"),
        "predict_command_s": m["predict_command"]["seconds"],
        "predict_command_rows": m["predict_command"]["rows"],
        "csv_read_s": m["csv_read_s"],
        "train_csv_rows": m["train_csv_rows"],
        "baseline_img_s": baseline["epoch_img_s"],
        **{f"baseline_{key}": baseline[key] for key in ("train_img_s", "val_img_s", "predict_img_s", "csv_read_s")},
        "ratios": ratios,
        "ratio_spread": spread,
        "targets": targets,
        "notes": m["notes"],
        "repeats": dataclasses.asdict(budget),
        "raw": {
            "bare_loop_windows_img_s": m["bare"]["windows_img_s"],
            "trainer_epochs": {name: run["epochs"] for name, run in trainer_runs.items()},
            "trainer_fit_wall_s": {name: run["fit_wall_s"] for name, run in trainer_runs.items()},
            "predict_windows_img_s": predict["windows_img_s"],
            "csv_read_s": m["csv_read_times"],
            "baseline_turns": {name: turns["turns"] for name, turns in base.items()},
            "baseline_turn_size": {name: turns["turn"] for name, turns in base.items()},
            "bare_turns_img_s": baseline["bare_turns"],
            "baseline_predict_windows": baseline["predict_windows"],
            "baseline_csv_read_s": baseline["csv_read_times"],
        },
        "noisy_img_s": noisy(series),
        "section_s": m["section_s"],
    }
