"""What ``diagnose`` and ``compare`` compute and print for run folders."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from symbnn.runs import (
    LPPD_PLOT,
    OCCUPANCY_PLOT,
    PLOTS,
    PREDICTIVE_PLOT,
    RANK_PLOT,
    Run,
)

__all__ = ["compare_runs", "diagnose_run", "test_metrics"]


def test_metrics(post, x: np.ndarray, y: np.ndarray) -> dict:
    """Log pointwise predictive density and RMSE or accuracy of the posterior mean."""
    if len(x) == 0:
        return {}
    num = post.num_chains * post.num_draws
    mean = post.predict(x).reshape(num, len(x), -1).mean(0)
    out = {"num_rows": len(x), "lppd": post.lppd(x, y).mean}
    if post.mlp.output == "regression":
        out["rmse"] = float(np.sqrt(np.mean((mean[:, 0] - y) ** 2)))
    else:
        label = (mean[:, 0] > 0.5) if mean.shape[1] == 1 else mean.argmax(-1)
        out["accuracy"] = float(np.mean(label == y))
    return out


def write_plots(run: Run, occupancy) -> list[str]:
    """Write the PNG plots into the run folder; returns their file names."""
    from symbnn import diagnostics

    post, folder = run.post, run.folder
    files = [diagnostics.plot_rank(post, folder / RANK_PLOT)]
    if occupancy is not None:
        files.append(diagnostics.plot_occupancy(occupancy, folder / OCCUPANCY_PLOT))
    if post.mlp.in_features == 1:
        xs = np.concatenate([post.x[:, 0], run.x_test[:, 0]])
        pad = 0.1 * (xs.max() - xs.min() + 1e-9)
        grid = np.linspace(xs.min() - pad, xs.max() + pad, 200)[:, None]
        files.append(diagnostics.plot_predictive(post, grid, folder / PREDICTIVE_PLOT,
                                                 x_data=post.x, y_data=post.y))
    names = [Path(f).name for f in files]
    for stale in set(PLOTS) - set(names):
        (folder / stale).unlink(missing_ok=True)  # left by an earlier diagnose
    return names


def _header(result: dict, num_inputs: int, where: str) -> str:
    return (f"run {result['run']}: {result['data']}, {result['space']} space, "
            f"{result['num_chains']} chains x {result['num_draws']} draws; predictive rows: "
            f"{num_inputs} {where} inputs")


def _test_lines(test: dict) -> list[str]:
    if not test:
        return []
    score = ", ".join(f"{k} {v:.3f}" for k, v in test.items() if k != "num_rows")
    return [f"test ({test['num_rows']} rows, standardised units): {score}"]


def diagnose_run(run: Run, *, plots: bool, progress: bool) -> tuple[dict, str]:
    """The summary of a run folder as JSON-able dict and as printed text (plots written)."""
    from tqdm.auto import tqdm

    from symbnn import diagnostics

    post = run.post
    if post.num_draws < diagnostics.MIN_DRAWS and post.num_chains > 1:
        return many_chain_run(run, plots=plots)
    x_eval, where = run.eval_inputs
    bar = tqdm(total=4 if plots else 3, desc="diagnose: R-hat/ESS", disable=not progress,
               leave=False, file=sys.stderr)
    summ = diagnostics.summary(post, x=x_eval)
    bar.update()
    bar.set_description("diagnose: orbit occupancy")
    occupancy, occ = None, {"tested": False}
    if post.space != "full":
        occ["reason"] = f"draws of the {post.space} space are canonical by construction"
    else:
        try:
            occupancy = diagnostics.orbit_occupancy(post)
            occ = {"tested": True, "p_value": occupancy.p_value,
                   "pooled_p_value": occupancy.pooled_p_value,
                   "chain_p_values": occupancy.chain_p_values, "rejects": occupancy.rejects()}
        except ValueError as err:  # nothing the group can move, e.g. one ReLU unit per layer
            occ["reason"] = str(err)
    bar.update()
    bar.set_description("diagnose: test metrics")
    test = test_metrics(post, run.x_test, run.y_test)
    bar.update()
    files = []
    if plots:
        bar.set_description("diagnose: plots")
        files = write_plots(run, occupancy)
        bar.update()
    bar.close()
    result = {
        "run": str(run.folder), "data": run.meta.get("data", {}).get("name"),
        "space": post.space, "num_chains": post.num_chains, "num_draws": post.num_draws,
        "verdict": summ.verdict, "rhat_threshold": summ.rhat_threshold,
        "table": summ.table.to_dict(orient="index"), "num_divergences": summ.num_divergences,
        "divergences_per_chain": summ.divergences_per_chain, "bfmi": summ.bfmi,
        "orbit_members_visited": summ.orbit_members_visited, "notes": list(summ.notes),
        "predictive_inputs": {"rows": where, "num": len(x_eval)},
        "occupancy": occ, "test": test, "plots": files,
    }
    lines = [_header(result, len(x_eval), where), str(summ)]
    if occ["tested"]:
        verdict = "rejected" if occ["rejects"] else "not rejected"
        chains = np.asarray(occ["chain_p_values"], float)
        least = f", smallest chain p = {np.min(chains):.3g}" if chains.size else ""
        lines.append(f"orbit occupancy: p = {occ['p_value']:.3g} (pooled p = "
                     f"{occ['pooled_p_value']:.3g}{least}, Bonferroni over the pooled and the "
                     f"{chains.size} chain tests): uniform visits to orbit members {verdict} at "
                     "level 0.01")
    else:
        lines.append(f"orbit occupancy: not tested ({occ['reason']})")
    lines += _test_lines(test)
    return result, "\n".join(lines)


def many_chain_run(run: Run, *, plots: bool) -> tuple[dict, str]:
    """:func:`diagnose_run` for many short chains: the many-chain report instead of R-hat."""
    from symbnn import diagnostics

    post = run.post
    x_eval, where = run.eval_inputs
    y_eval = run.y_test if where == "test" else post.y
    report = diagnostics.many_chain_report(post, x=x_eval, y=y_eval)
    files = []
    if plots and report.lppd_curve is not None:
        files.append(diagnostics.plot_lppd_curve(report.lppd_curve, run.folder / LPPD_PLOT))
    for stale in set(PLOTS) - {Path(f).name for f in files}:
        (run.folder / stale).unlink(missing_ok=True)
    test = test_metrics(post, run.x_test, run.y_test)
    result = {
        "run": str(run.folder), "data": run.meta.get("data", {}).get("name"),
        "space": post.space, "num_chains": post.num_chains, "num_draws": post.num_draws,
        "verdict": "many short chains: R-hat and ESS are not defined; see many_chain",
        "many_chain": report.to_dict(), "predictive_inputs": {"rows": where, "num": len(x_eval)},
        "test": test, "plots": files,
    }
    lines = [_header(result, len(x_eval), where), str(report)]
    lines += _test_lines(test)
    return result, "\n".join(lines)


def compare_runs(run_a: Run, run_b: Run) -> tuple[dict, str]:
    """The comparison of two run folders as JSON-able dict and as printed text."""
    import jax

    from symbnn import diagnostics

    a, b = run_a.post, run_b.post
    for part in ("mlp", "prior", "likelihood"):
        pa, pb = getattr(a.model, part), getattr(b.model, part)
        if pa != pb:
            raise ValueError(f"RUN_A and RUN_B must be runs of the same model, but their {part} "
                             f"differ: {pa} vs {pb}")
    if a.x.shape != b.x.shape or not (np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)):
        raise ValueError("RUN_A and RUN_B were fitted to different training data (check --data, "
                         "--data-seed, --num-train and --standardize)")
    x_eval, where = run_a.eval_inputs
    names = (str(run_a.folder), str(run_b.folder))
    names = names if names[0] != names[1] else ("a", "b")
    cmp = diagnostics.compare(jax.random.key(0), a, b, x=x_eval, labels=names,
                              log_likelihood=(a.log_likelihood(), b.log_likelihood()))
    z = cmp.parameters["mean_z"].abs()
    result = {
        "runs": list(names), "space": cmp.space, "num_draws": cmp.num_draws,
        "energy_distance": cmp.energy_distance, "energy_p_value": cmp.energy_p_value,
        "mmd": cmp.mmd, "mmd_p_value": cmp.mmd_p_value, "max_abs_mean_z": cmp.max_abs_mean_z,
        "worst_parameter": str(z.idxmax()) if z.notna().any() else None,
        "function": cmp.function, "function_inputs": {"rows": where, "num": len(x_eval)},
        "loo": None if cmp.loo is None else cmp.loo.to_dict(orient="index"),
        "loo_error": cmp.loo_error,
    }
    function = ", ".join(f"{k} {v:.4g}" for k, v in cmp.function.items())
    result["verdict"] = cmp.verdict()
    lines = [
        f"verdict: {result['verdict']}",
        f"compare {names[0]} vs {names[1]} ({cmp.space} draws; {cmp.num_draws[0]} and "
        f"{cmp.num_draws[1]} draws in the permutation tests)",
        f"  energy distance  {cmp.energy_distance:10.4g}   p = {cmp.energy_p_value:.3f}",
        f"  MMD^2            {cmp.mmd:10.4g}   p = {cmp.mmd_p_value:.3f}",
        f"  max |difference of means| / MCSE: {cmp.max_abs_mean_z:.3g} "
        f"({result['worst_parameter']})",
        f"  function space at {len(x_eval)} {where} inputs: {function}",
    ]
    if cmp.loo is not None:
        lines += ["PSIS-LOO on the training data:", cmp.loo.to_string()]
    else:
        lines.append(f"PSIS-LOO on the training data failed: {cmp.loo_error}")
    return result, "\n".join(lines)
