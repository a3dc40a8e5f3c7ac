"""The JSON document ``benchmarks.speed`` writes: headline numbers, ratios inside this one run, raw windows."""

from __future__ import annotations

import dataclasses

from benchmarks.bare_loop import variant_for
from benchmarks.budget import Budget
from benchmarks.inference import summarise_paths
from benchmarks.timing import noisy


def summarise(m: dict, budget: Budget) -> dict:
    """The JSON document: headline numbers, ratios between numbers of this same run, raw windows."""
    bare, trainer_runs = m["bare"]["img_s"], m["trainer_runs"]
    trainer, baseline, predict = trainer_runs[m["default_precision"]], m["baseline"], m["predict"]
    default_variant = variant_for(trainer["precision"], trainer["channels_last"])
    paths = summarise_paths(predict)
    ratios = {
        "trainer_epoch_vs_bare_default": trainer["epoch_img_s"] / bare[default_variant],
        "trainer_train_phase_vs_bare_default": trainer["train_phase_img_s"] / bare[default_variant],
        **{f"bare_{name}_vs_fp32": bare[name] / bare["fp32"] for name in bare if name != "fp32"},
        "speedup_epoch_vs_baseline": trainer["epoch_img_s"] / baseline["epoch_img_s"],
        "speedup_predict_vs_baseline": predict["img_s"]["eager"] / baseline["predict_img_s"],
        "speedup_csv_read_vs_baseline": baseline["csv_read_s"] / m["csv_read_s"],
        **{f"predict_{name}_vs_eager": ratio for name, ratio in paths["vs_eager"].items() if name != "eager"},
    }
    if "bf16_cl" in bare:
        ratios["trainer_epoch_vs_bare_bf16_cl"] = trainer["epoch_img_s"] / bare["bf16_cl"]
    if "32-true" in trainer_runs and len(trainer_runs) > 1:
        ratios["trainer_epoch_default_vs_fp32"] = trainer["epoch_img_s"] / trainer_runs["32-true"]["epoch_img_s"]
    series = {f"bare_{name}": rates for name, rates in m["bare"]["windows_img_s"].items()}
    for name, run in trainer_runs.items():
        series[f"trainer_{name}"] = [(e["train_images"] + e["val_images"]) / e["seconds"] for e in run["epochs"]]
    series.update({f"predict_{name}": rates for name, rates in predict["windows_img_s"].items()})
    series.update({f"baseline_{name}": baseline["windows"][name] for name in ("train", "val", "predict")})
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
        "targets": targets,
        "notes": m["notes"],
        "repeats": dataclasses.asdict(budget),
        "raw": {
            "bare_loop_windows_img_s": m["bare"]["windows_img_s"],
            "trainer_epochs": {name: run["epochs"] for name, run in trainer_runs.items()},
            "trainer_fit_wall_s": {name: run["fit_wall_s"] for name, run in trainer_runs.items()},
            "predict_windows_img_s": predict["windows_img_s"],
            "csv_read_s": m["csv_read_times"],
            "baseline_windows": baseline["windows"],
        },
        "noisy_img_s": noisy(series),
        "section_s": m["section_s"],
    }
