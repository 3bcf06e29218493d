"""The benchmark's printed tables: medians with interquartile ranges, ratios from interleaved rounds."""

from __future__ import annotations


def _cell(summary, who, scale=1e3, width=8):
    """``median [q1, q3]`` of a contender's seconds, scaled (ms by default), or a dash."""
    if who not in summary["seconds"]:
        return f"{'-':>{width}}"
    q1, q3 = summary["quartiles"][who]
    return f"{summary['seconds'][who] * scale:{width}.3g} [{q1 * scale:.3g}, {q3 * scale:.3g}]"


def _quartiles(q):
    """``median [q1, q3]`` of a ratio's quartiles ``[q1, median, q3]``."""
    q1, med, q3 = q
    return f"{med:.2f} [{q1:.2f}, {q3:.2f}]"


def _ratio(summary, who):
    """Median ratio *who / reference* over the rounds, with its quartiles, or a dash."""
    if who not in summary.get("ratio", {}):
        return "-"
    return _quartiles(summary["ratio"][who])


def report_machine(results):
    m = results["machine"]
    caches = ", ".join(f"L{c['level']}{c['type'][0].lower() if c['type'] != 'Unified' else ''} "
                       f"{c['bytes'] // 1024} KiB/{c['shared_by']} cpu" for c in m["caches"])
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} threads used; SIMD {' '.join(m['simd'])}",
             f"  caches: {caches}",
             f"  numpy {m['numpy']}, numba {m['numba']} ({m['threading_layer']}), torch {m['torch']}, "
             f"deepspeed {m['deepspeed']}",
             f"  load average at the start and after each section: "
             + "; ".join(f"{k} {v[0]}" for k, v in results["load"].items())]
    for peer, why in results.get("unavailable", {}).items():
        lines.append(f"  not measured: {peer} ({why})")
    lines += ["", "Bandwidth, best round of each loop (GB/s moved if every write allocates; STREAM's own count "
                  "in brackets)"]
    for row in results["stream"]:
        loops = "  ".join(f"{k} {v['moved']:.1f} ({v['counted']:.1f})" for k, v in row["bandwidth"].items())
        lines.append(f"  {row['level']:7} {row['working_set'] / 2**20:8.2f} MiB: best {row['ceiling_GBps']:.1f} "
                     f"({row['ceiling_loop']})")
        lines.append(f"    {loops}")
    return lines


def report_adam(results):
    lines = ["Adam step, one flat array: ms per step, median [quartiles]; ratio = other / adamlib per round",
             "(above 1: adamlib faster); roof = 7 streams at the bandwidth of the row's best in-place loop (by median),",
             "round by round; of roof = roof time / the contender's time, per round"]
    peers = ("numpy_careful", "torch_fused", "deepspeed")
    for row in results["adam"]:
        lines.append(f"  {row['dtype']} n={row['n']:.0e} ({row['level']}, {row['working_set'] / 2**20:.1f} MiB, "
                     f"{row['threads']} thr, {row['rounds']} rounds)")
        lines.append(f"    adamlib {_cell(row, 'adamlib')}  roof {row['seconds']['roof'] * 1e3:.3g} "
                     f"({row['ceiling_GBps']:.1f} GB/s, {row['ceiling_loop']})  of roof "
                     + "  ".join(f"{k} {v[1]:.0%}" for k, v in row["of_roof"].items()))
        lines.append("    " + "  ".join(f"{p}: {_ratio(row, p)}" for p in peers if p in row["seconds"]))
        if row["roof_beaten_by"]:
            lines.append(f"    ROOF BEATEN in three rounds of four by {', '.join(row['roof_beaten_by'])}: "
                         "the ceiling is wrong")
    lines += ["", "Contenders that allocate every step (ratio to adamlib, interleaved)"]
    for row in results["allocating"]:
        lines.append(f"  {row['dtype']} n={row['n']:.0e}  adamlib {_cell(row, 'adamlib')}  " + "  ".join(
            f"{k}: {_ratio(row, k)}" for k in row["seconds"] if k != "adamlib"))
    return lines


def report_lists(results):
    arrays = results["arrays"]
    lines = [f"Step time against the number of arrays, {arrays['total']:.0e} {arrays['dtype']} elements in all (µs)"]
    names = list(arrays["rows"][0]["seconds"])
    lines.append(f"  {'arrays':>6} " + " ".join(f"{n:>24}" for n in names))
    for row in arrays["rows"]:
        lines.append(f"  {row['arrays']:6d} " + " ".join(f"{_cell(row, n, 1e6, 7):>24}" for n in names))
    for who, fit in arrays["fit"].items():
        lines.append(f"  {who:24} {fit['per_array_us']:7.2f} µs per array + {fit['fixed_us']:7.1f} µs "
                     f"(fit from {arrays['fit_from']} arrays)")
    for key in ("small_model", "model"):
        m = results[key]
        lines += ["", f"{key}: {m['arrays']} arrays of {m['smallest']}…{m['largest']}, {m['elements']:.2e} "
                      f"{m['dtype']} elements (µs per step; ratio to adamlib)"]
        for who in m["seconds"]:
            lines.append(f"  {who:24} {_cell(m, who, 1e6, 9)}  {_ratio(m, who)}")
        lines.append(f"  compiled calls alone, list time / flat array's: {_quartiles(m['calls_only_list_over_flat'])}")
        if "warm" in m:
            lines.append("  warm (each timed step after an untimed one of the same optimizer):")
            for who in m["warm"]["seconds"]:
                lines.append(f"    {who:22} {_cell(m['warm'], who, 1e6, 9)}  {_ratio(m['warm'], who)}")
            lines.append(f"    compiled calls alone, list / flat: {_quartiles(m['warm']['calls_only_list_over_flat'])}")
    return lines


def report_torch_models(rows):
    lines = ["Adam opt.step() on torch.nn models, float32 (ms per step, [quartiles], ratio to torch fused)"]
    for row in rows:
        lines.append(f"  {row['model']}: {row['tensors']} tensors, {row['elements']:.2e} elements")
        for protocol, what in (("fixed", "gradients set once"),
                               ("training", f"each step after forward and backward on a batch {row['batch']}")):
            cell = row[protocol]
            lines.append(f"    {protocol} ({what}; the allocating steps in rounds of their own), "
                         f"{cell['rounds']} rounds")
            for who in cell["seconds"]:
                share = f"  share of the roof {_quartiles(cell['of_roof'][who])}" if who in cell.get("of_roof", {}) else ""
                lines.append(f"      {who:14} {_cell(cell, who)}  {_ratio(cell, who) if who != 'torch_fused' else ''}"
                             + share)
            if "roof_loop" in cell:
                lines.append(f"      (roof: Adam's bytes at the speed of {cell['roof_loop']} in the same rounds; "
                             f"working set {cell['level']})")
            for pair, q in cell.get("paired", {}).items():
                lines.append(f"      {pair}, round by round: {_quartiles(q)}")
    return "\n".join(lines)


def report(results):
    lines = report_machine(results) + [""] + report_adam(results) + [""]
    lines.append("Other algorithms: adamlib (ms) and torch's implementations (ratio to adamlib)")
    for row in results["algorithms"]:
        lines.append(f"  {row['algorithm']:14} {row['dtype']:8} {row['n']:6.0e} {_cell(row, 'adamlib')}  "
                     + "  ".join(f"{k}: {_ratio(row, k)}" for k in row["seconds"] if k != "adamlib"))
    lines += [""] + report_lists(results) + ["", "Serial against multi-threaded kernel (µs)"]
    for row in results["threshold"]:
        s = row["seconds"]
        lines.append(f"  {row['dtype']:8} {row['n']:8d} serial {_cell(row, 'serial', 1e6)} parallel "
                     f"{_cell(row, 'parallel', 1e6)}  serial/parallel {s['serial'] / s['parallel']:.2f}")
    if results.get("torch_models"):
        lines += ["", report_torch_models(results["torch_models"])]
    st = results.get("startup")
    if st:
        lines.append("")
        for k in ("warm", "cold"):
            lines.append(f"Start-up, {k} cache: import numba {st[k]['import_numba']:.3f} s, then import "
                         f"adamlib + first step {st[k]['adamlib_first_step']:.3f} s")
    return "\n".join(lines)
