"""The report's sections, in page order.

Each section is an object with an ``id``, a ``title`` and ``build(ctx) -> SectionView``.
``SECTIONS`` is the page; later issues (training, device) append their own section objects
to it. A section whose stage has not run returns ``missing(...)``: a short note, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from portraitkit.params import Params, ReportParams
from portraitkit.reports import charts, gallery
from portraitkit.reports.blocks import (
    Columns,
    Details,
    Figure,
    FigureGrid,
    Fingerprint,
    Gallery,
    HashList,
    Kpi,
    Legend,
    Note,
    Paragraph,
    SectionView,
    Stats,
    Table,
)
from portraitkit.curate.rules import REASONS
from portraitkit.reports.collect import SPLITS, ReportData, as_list, points, reason_list
from portraitkit.reports.gallery import GalleryItem
from portraitkit.reports.identity import Identity
from portraitkit.reports.device_section import DeviceSection
from portraitkit.reports.training_section import TrainingSection

# The curate rules in the order they run: a dropped image carries the first that failed.
RULE_ORDER = REASONS


@dataclass
class BuildContext:
    data: ReportData
    params: Params
    identity: Identity

    @property
    def report(self) -> ReportParams:
        return self.params.report


class Section(Protocol):
    id: str
    title: str

    def build(self, ctx: BuildContext) -> SectionView: ...


def missing(section: Section, stage: str, path: Path, what: str) -> SectionView:
    return SectionView(
        section.id,
        section.title,
        blocks=[Note(f"Stage not run: {path} has no {what}. Run the {stage} stage (dvc repro) and rebuild the report.", "missing")],
        available=False,
        nav=getattr(section, "nav", ""),
    )


def view(section: Section, lead: str, blocks: list[Any]) -> SectionView:
    return SectionView(section.id, section.title, lead, blocks, nav=getattr(section, "nav", ""))


def summary_details(name: str, summary: Any) -> list[Any]:
    """A stage's summary.json, folded away, for whoever wants every number."""
    if summary is None:
        return []
    import json

    return [Details(f"{name} (all numbers)", json.dumps(summary, indent=2, ensure_ascii=False, default=str))]


# --- numbers -------------------------------------------------------------------------------


def funnel_steps(data: ReportData) -> tuple[int | None, list[dict[str, Any]]]:
    """(source image count, rule steps) from funnel.json, whether or not it lists the source first."""
    cur = data.curated
    if cur is None:
        return None, []
    steps = [dict(s) for s in cur.funnel]
    if not steps:
        return len(cur.manifest), []
    first = steps[0]
    if str(first["rule"]) not in RULE_ORDER and int(first.get("dropped") or 0) == 0:
        return int(first["remaining"]), steps[1:]
    return int(first["remaining"]) + int(first["dropped"]), steps


def headline(data: ReportData) -> dict[str, Any]:
    """The report's headline numbers (DVC metrics). Only stages that ran contribute keys."""
    out: dict[str, Any] = {}
    cur = data.curated
    if cur is not None:
        source, _ = funnel_steps(data)
        kept = cur.kept
        out["source_images"] = int(source or 0)
        out["kept_images"] = int(len(kept))
        out["kept_fraction"] = round(len(kept) / source, 4) if source else 0.0
        if "n_persons" in kept.columns:
            out["persons"] = int(pd.to_numeric(kept["n_persons"], errors="coerce").fillna(0).sum())
        if "coverage" in kept.columns and len(kept):
            out["mean_coverage"] = round(float(pd.to_numeric(kept["coverage"], errors="coerce").mean()), 4)
        out["splits"] = {s: int(cur.split_sizes.get(s, 0)) for s in SPLITS if s in cur.split_sizes}
    if data.flags is not None:
        f = data.flags.flags
        out["persons_scored"] = int(len(f))
        if "flagged" in f.columns:
            n = int(f["flagged"].astype(bool).sum())
            out["flagged_persons"] = n
            out["flagged_fraction"] = round(n / len(f), 4) if len(f) else 0.0
    if data.clicks is not None:
        c = data.clicks.clicks
        out["click_sets"] = int(len(c))
        out["click_strategies"] = int(c["strategy"].nunique())
    if data.augmented is not None and data.augmented.n_variants is not None:
        out["augmented_variants"] = int(data.augmented.n_variants)
    return out


def kpis(metrics: dict[str, Any]) -> list[Kpi]:
    def num(key: str) -> str:
        return f"{metrics[key]:,}" if key in metrics else "—"

    def pct(key: str) -> str:
        return f"{metrics[key] * 100:.1f}%" if key in metrics else "—"

    splits = metrics.get("splits") or {}
    return [
        Kpi("Source images", num("source_images"), "before curation", "#funnel"),
        Kpi("Kept", num("kept_images"), " · ".join(f"{k} {v:,}" for k, v in splits.items()), "#distributions"),
        Kpi("Kept %", pct("kept_fraction"), "of source images", "#funnel"),
        Kpi("Persons", num("persons"), "in kept images", "#distributions"),
        Kpi("Flagged %", pct("flagged_fraction"),
            f"{metrics['flagged_persons']:,} coarse masks" if "flagged_persons" in metrics else "flag stage not run", "#coarse"),
        Kpi("Click sets", num("click_sets"),
            f"{metrics['click_strategies']} strategies" if "click_strategies" in metrics else "clicks stage not run", "#clicks"),
        Kpi("Augmented variants", num("augmented_variants"),
            "" if "augmented_variants" in metrics else "augment stage not run", "#augmentation"),
    ]


# --- helpers ---------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return "—"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(_fmt(v) for v in as_list(value)) or "—"
    if value is None:
        return "—"
    return str(value)


def _image_info(data: ReportData, image_id: int) -> tuple[str | None, int | None, int | None]:
    img = data.coco.images.get(int(image_id))
    if img is not None:
        return img.get("file_name"), img.get("width"), img.get("height")
    cur = data.curated
    if cur is not None:
        rows = cur.manifest[cur.manifest["image_id"] == image_id]
        if len(rows):
            r = rows.iloc[0]
            return r.get("file_name"), r.get("width"), r.get("height")
    return None, None, None


def _photo(ctx: BuildContext, image_id: int, box=None) -> tuple[np.ndarray, gallery.Xform, tuple[int, int]]:
    """Thumbnail of an image (cropped around ``box``, COCO x, y, w, h), its transform and COCO size."""
    file_name, w, h = _image_info(ctx.data, image_id)
    full = gallery.load_photo(Path(ctx.data.inputs.images), file_name, w, h)
    full_size = (int(h or full.shape[0]), int(w or full.shape[1]))
    thumb, xform = gallery.framed(full, full_size, ctx.report.thumb_px, box)
    return thumb, xform, full_size


def _box(ann: dict[str, Any] | None, extra: list[tuple[float, float]] = ()) -> list[float] | None:
    """Bounding box (x, y, w, h) of an annotation and any extra points."""
    xs: list[float] = []
    ys: list[float] = []
    if ann is not None:
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            for poly in seg:
                xs += [float(v) for v in poly[0::2]]
                ys += [float(v) for v in poly[1::2]]
        elif ann.get("bbox"):
            x, y, bw, bh = (float(v) for v in ann["bbox"][:4])
            xs += [x, x + bw]
            ys += [y, y + bh]
    xs += [p[0] for p in extra]
    ys += [p[1] for p in extra]
    if not xs:
        return None
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


# --- sections --------------------------------------------------------------------------------


class FunnelSection:
    id = "funnel"
    title = "Curation funnel"
    nav = "Funnel"

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        if data.curated is None:
            return missing(self, "curate", data.inputs.curated, "manifest.parquet")
        cp = ctx.params.curate
        why = {
            "invalid": "unreadable photo or malformed annotation",
            "crowd": "a crowd region (iscrowd) is annotated",
            "no_person": "no person in the picture",
            "too_many_persons": f"more than {cp.max_persons} persons" + (f" or fewer than {cp.min_persons}" if cp.min_persons > 1 else ""),
            "coverage_low": f"persons cover less than {cp.min_coverage:.0%} of the image",
            "coverage_high": f"persons cover more than {cp.max_coverage:.0%} of the image",
            "body_part_only": f"a person shows only a body part (policy: {cp.body_part_policy})",
            "held_object": f"a listed object touches a person (policy: {cp.held_object_policy})",
            "rejected_in_review": "rejected by a reviewer (reviews/decisions.csv)",
        }
        source, steps = funnel_steps(data)
        blocks: list[Any] = []
        if steps:
            blocks.append(Figure(charts.funnel_chart(source or 0, steps), "Curation funnel chart",
                                 "Images remaining after each rule, in the order the rules run."))
            rows = [["source images", "every image in the source annotations", "", source, "100%"]]
            muted = [False]
            for s in steps:
                rule = str(s["rule"])
                rows.append([rule.replace("_", " "), why.get(rule, ""), int(s["dropped"]), int(s["remaining"]),
                             f"{int(s['remaining']) / source:.1%}" if source else "—"])
                muted.append(int(s["dropped"]) == 0)
            blocks.append(Table(["step", "drops an image when…", "dropped", "remaining", "of source"], rows,
                                numeric=[False, False, True, True, True], muted_rows=muted))
        else:
            blocks.append(Note("funnel.json is missing or empty; counts below come from the manifest.", "warn"))
        man = data.curated.manifest
        if "reason" in man.columns:
            dropped = man[~man["kept"].astype(bool)]
            counts = dropped["reason"].fillna("—").astype(str).value_counts()
            counts = counts.reindex(sorted(counts.index, key=lambda r: (RULE_ORDER.index(r) if r in RULE_ORDER else 99, r)))
            if len(counts) and not steps:
                blocks.append(Table(["reason", "images"], [[k, int(v)] for k, v in counts.items()], numeric=[False, True]))
        if "problems" in man.columns:
            problems: dict[str, int] = {}
            for cell in man["problems"]:
                for p in as_list(cell):
                    problems[str(p)] = problems.get(str(p), 0) + 1
            if problems:
                top = sorted(problems.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
                blocks.append(Table(["problem found in the source", "images"], [[k, v] for k, v in top],
                                    caption="Most frequent problems (an image can have several).", numeric=[False, True]))
        return view(self, "From every source image to the portrait subset: what each rule removed and why.", blocks)


class DistributionsSection:
    id = "distributions"
    title = "Coverage, persons and splits"
    nav = "Distributions"

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        if data.curated is None:
            return missing(self, "curate", data.inputs.curated, "manifest.parquet")
        man = data.curated.manifest
        kept = data.curated.kept
        figs = []
        if "coverage" in man.columns:
            h = charts.coverage_histogram(man["coverage"], kept["coverage"], ctx.report.coverage_bins)
            figs.append(Figure(charts.coverage_chart(h, ctx.params.curate.min_coverage, ctx.params.curate.max_coverage),
                               "Coverage histogram before and after curation",
                               "Share of the image covered by persons (all persons' masks, overlaps counted once)."))
        if "n_persons" in man.columns:
            h = charts.integer_histogram(man["n_persons"], kept["n_persons"])
            figs.append(Figure(charts.persons_chart(h), "Persons per image before and after curation",
                               "Non-crowd persons per image."))
        blocks: list[Any] = []
        if figs:
            blocks.append(FigureGrid(figs))
        sizes = data.curated.split_sizes
        if sizes:
            rows = []
            for s, n in sizes.items():
                part = kept[kept["split"] == s] if "split" in kept.columns else kept.iloc[0:0]
                persons = int(pd.to_numeric(part.get("n_persons", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
                cov = pd.to_numeric(part.get("coverage", pd.Series(dtype=float)), errors="coerce")
                rows.append([s, n, persons if len(part) else "—", f"{cov.mean():.1%}" if len(cov.dropna()) else "—"])
            blocks.append(Columns([
                [Figure(charts.splits_chart(sizes), "Split sizes", "Images per split file.")],
                [Table(["split", "images", "persons", "mean coverage"], rows, numeric=[False, True, True, True],
                       caption="Split fractions from params: " + ", ".join(
                           f"{k} {v:g}" for k, v in ctx.params.curate.split.model_dump().items()))],
            ]))
        return view(self, "How the kept images differ from the source, and how they are split.", blocks)


def borderline(scored: pd.DataFrame, threshold: Any, k: int, exclude: set) -> pd.DataFrame:
    """Up to ``k`` persons just at / above ``threshold`` and ``k`` just below it (not in ``exclude``), coarsest first.

    ``scored`` has the numeric coarseness in ``_c``; without a numeric threshold the ``flagged`` column splits them.
    """
    rest = scored[~scored["annotation_id"].isin(exclude)]
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        above = rest["_c"] >= float(threshold)
    elif "flagged" in rest.columns:
        above = rest["flagged"].astype(bool)
    else:
        return rest.iloc[:0]
    hi = rest[above].sort_values(["_c", "annotation_id"], ascending=[True, True], kind="stable").head(k)
    lo = rest[~above].sort_values(["_c", "annotation_id"], ascending=[False, True], kind="stable").head(k)
    return pd.concat([hi, lo]).sort_values(["_c", "annotation_id"], ascending=[False, True], kind="stable")


class CoarseSection:
    id = "coarse"
    title = "Coarse masks"
    nav = "Coarse masks"

    def _item(self, ctx: BuildContext, row: pd.Series, signals: list[str]) -> GalleryItem:
        ann = ctx.data.coco.anns.get(int(row["annotation_id"]))
        thumb, xform, full_size = _photo(ctx, int(row["image_id"]), _box(ann))
        if ann is not None:
            gallery.draw_annotation(thumb, ann, xform, full_size, vertices=True)
        flagged = bool(row.get("flagged", False))
        chips = [("coarseness", _fmt(row["coarseness"]))]
        chips += [(c.replace("_", " "), _fmt(row[c])) for c in signals[:5]]
        reasons = ", ".join(r.replace("_", " ") for r in reason_list(row.get("reasons")))
        return GalleryItem(
            src=gallery.jpeg_uri(thumb, ctx.report.jpeg_quality),
            alt=f"person {int(row['annotation_id'])} polygon over image {int(row['image_id'])}",
            title=f"person {int(row['annotation_id'])} · image {int(row['image_id'])}" + (f" · {row['split']}" if "split" in row else ""),
            caption=("flagged: " + reasons) if flagged and reasons else ("flagged" if flagged else "not flagged"),
            chips=chips,
            tone="bad" if flagged else "good",
        )

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        if data.flags is None:
            return missing(self, "flag", data.inputs.flags, "flags.parquet")
        f = data.flags.flags
        n = ctx.report.coarse_examples
        scored = f[pd.to_numeric(f["coarseness"], errors="coerce").notna()].copy()
        scored["_c"] = pd.to_numeric(scored["coarseness"])
        most = scored.sort_values(["_c", "annotation_id"], ascending=[False, True], kind="stable").head(n)
        least = scored[~scored["annotation_id"].isin(most["annotation_id"])]
        least = least.sort_values(["_c", "annotation_id"], ascending=[True, True], kind="stable").head(n)
        signals = data.flags.signal_columns
        stats = [("persons scored", f"{len(f):,}")]
        if "flagged" in f.columns:
            nf = int(f["flagged"].astype(bool).sum())
            stats.append(("flagged", f"{nf:,} ({nf / len(f):.1%})" if len(f) else "0"))
        summary = data.flags.summary if isinstance(data.flags.summary, dict) else {}
        if isinstance(summary.get("threshold"), (int, float)):
            stats.append(("threshold", _fmt(summary["threshold"])))
        left: list[Any] = [Stats(stats)]
        if "reasons" in f.columns:
            counts: dict[str, int] = {}
            for cell in f["reasons"]:
                for r in reason_list(cell):
                    counts[r] = counts.get(r, 0) + 1
            if counts:
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                left.append(Table(["reason", "persons"], [[k.replace("_", " "), v] for k, v in top[:10]],
                                  numeric=[False, True],
                                  caption="A person can have several reasons." + (f" {len(top) - 10} more in summary.json." if len(top) > 10 else "")))
        left += summary_details("summary.json", data.flags.summary)
        blocks: list[Any] = []
        if len(scored):
            chart = Figure(charts.coarseness_chart(scored["_c"], scored["flagged"].astype(bool) if "flagged" in scored else None),
                           "Coarseness histogram", "Higher is coarser; red persons are flagged.")
            blocks.append(Columns([[chart], left]))
        else:
            blocks += left
        legend = Legend([("#4f46e5", "box", "person mask (polygon fill)"), ("#fde047", "line", "polygon outline"),
                         ("#ffffff", "dot", "polygon vertices"), ("#dc2626", "line", "flagged"), ("#16a34a", "line", "not flagged")])
        blocks.append(legend)
        blocks.append(Gallery([self._item(ctx, r, signals) for _, r in most.iterrows()], "Most coarse",
                              "Highest coarseness first: blocky polygons, few vertices, masks that spill over the person."))
        border = borderline(scored, summary.get("threshold"), max(1, n // 2),
                            set(most["annotation_id"]) | set(least["annotation_id"]))
        if len(border):
            blocks.append(Gallery([self._item(ctx, r, signals) for _, r in border.iterrows()], "Around the threshold",
                                  "The persons just above the threshold (flagged, red) and just below it (kept, green), "
                                  "coarsest first: judge the threshold by these."))
        blocks.append(Gallery([self._item(ctx, r, signals) for _, r in least.iterrows()], "Least coarse",
                              "Lowest coarseness first: the masks the flags trust most."))
        return view(self, "The person masks the flag stage scores as most and least coarse, drawn over the photo.", blocks)


class ExamplesSection:
    id = "examples"
    title = "Body parts and held objects"
    nav = "Body parts & objects"

    def _item(self, ctx: BuildContext, row: pd.Series, kind: str) -> GalleryItem:
        data = ctx.data
        image_id = int(row["image_id"])
        thumb, xform, full_size = _photo(ctx, image_id)
        anns = data.coco.anns_by_image.get(image_id, [])
        person_id = ctx.params.curate.person_category_id
        persons = [a for a in anns if a.get("category_id") == person_id]
        objects = [a for a in anns if a.get("category_id") != person_id]
        wanted = {str(c) for c in as_list(row.get("overlapping_categories"))}
        if persons:
            for a in persons:
                part = kind == "body" and a.get("num_keypoints", 1) == 0
                gallery.draw_annotation(thumb, a, xform, full_size,
                                        colour=gallery.OBJECT if part else gallery.PERSON, alpha=0.45)
        else:
            mp = data.curated.mask_path(image_id) if data.curated else None
            if mp is not None:
                import cv2

                m = cv2.imread(str(mp), cv2.IMREAD_GRAYSCALE)
                if m is not None:
                    gallery.draw_mask(thumb, m, xform=xform)
        if kind == "held":
            for a in objects:
                if not wanted or data.coco.categories.get(int(a.get("category_id", -1))) in wanted:
                    gallery.draw_annotation(thumb, a, xform, full_size, colour=gallery.OBJECT, outline=gallery.OBJECT, alpha=0.35)
        kept = bool(row["kept"])
        chips = []
        if "n_persons" in row:
            chips.append(("persons", _fmt(row["n_persons"])))
        if "coverage" in row:
            chips.append(("coverage", f"{float(row['coverage']):.0%}" if pd.notna(row["coverage"]) else "—"))
        if kind == "body" and "n_body_parts" in row:
            chips.append(("body parts", _fmt(row["n_body_parts"])))
        if kind == "held" and wanted:
            chips.append(("objects", ", ".join(sorted(wanted))))
        status = f"kept · {row['split']}" if kept and "split" in row and isinstance(row["split"], str) else (
            "kept" if kept else f"dropped: {str(row.get('reason', '')).replace('_', ' ')}")
        return GalleryItem(gallery.jpeg_uri(thumb, ctx.report.jpeg_quality), f"{kind} example, image {image_id}",
                           f"image {image_id}", status, chips, "good" if kept else "bad")

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        if data.curated is None:
            return missing(self, "curate", data.inputs.curated, "manifest.parquet")
        man = data.curated.manifest
        n = ctx.report.flag_examples
        blocks: list[Any] = []
        cp = ctx.params.curate
        for col, kind, title, policy, caption in (
            ("body_part_flag", "body", "Body part only", cp.body_part_policy,
             "A person annotated with no visible keypoints: usually a hand, a leg or a back at the edge of the frame"
             " (amber when the split files carry num_keypoints)."),
            ("held_object_flag", "held", "Held objects", cp.held_object_policy,
             "A listed object (amber) touches or overlaps a person (indigo): the person mask may have holes or include the object."),
        ):
            if col not in man.columns:
                blocks.append(Note(f"{title}: the manifest has no {col} column.", "warn"))
                continue
            rows = man[man[col].fillna(False).astype(bool)]
            items = [self._item(ctx, r, kind) for _, r in rows.head(n).iterrows()]
            blocks.append(Gallery(items, f"{title} — {len(rows):,} images (policy: {policy})", caption,
                                  empty=f"no image has {col.replace('_', ' ')} set"))
        blocks.insert(0, Legend([("#4f46e5", "box", "person"), ("#f59e0b", "box", "body part / held object")]))
        return view(self, "Images the curate rules flag for a partial person or an object in the person's hands.", blocks)


class ClicksSection:
    id = "clicks"
    title = "Click overlays"
    nav = "Clicks"

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        if data.clicks is None:
            return missing(self, "clicks", data.inputs.clicks, "clicks.parquet")
        c = data.clicks.clicks
        n = ctx.report.click_examples
        blocks: list[Any] = []
        stats = [("click sets", f"{len(c):,}"), ("strategies", str(c["strategy"].nunique())),
                 ("persons", f"{c['annotation_id'].nunique():,}")]
        if "shortfall" in c.columns:
            short = int((pd.to_numeric(c["shortfall"], errors="coerce").fillna(0) > 0).sum())
            stats.append(("sets short of clicks", f"{short:,}"))
        blocks.append(Stats(stats))
        blocks.append(Legend([("#22c55e", "dot", "positive click (+)"), ("#ef4444", "dot", "negative click (−)"),
                              ("#fde047", "line", "person outline")]))
        for strategy in sorted(c["strategy"].astype(str).unique()):
            rows = c[c["strategy"].astype(str) == strategy]
            npos = rows["positives"].map(lambda v: len(points(v)))
            nneg = rows["negatives"].map(lambda v: len(points(v)))
            first = rows.sort_values([col for col in ("set_index", "annotation_id") if col in rows.columns], kind="stable")
            first = first.drop_duplicates("annotation_id").sort_values("annotation_id", kind="stable").head(n)
            items = []
            for _, r in first.iterrows():
                ann = data.coco.anns.get(int(r["annotation_id"]))
                pos, neg = points(r["positives"]), points(r["negatives"])
                thumb, xform, full_size = _photo(ctx, int(r["image_id"]), _box(ann, pos + neg))
                if ann is not None:
                    gallery.draw_annotation(thumb, ann, xform, full_size, alpha=0.18)
                gallery.draw_clicks(thumb, pos, neg, xform)
                items.append(GalleryItem(
                    gallery.jpeg_uri(thumb, ctx.report.jpeg_quality),
                    f"{strategy} clicks on person {int(r['annotation_id'])}",
                    f"person {int(r['annotation_id'])} · image {int(r['image_id'])}",
                    f"set {int(r['set_index'])}" if "set_index" in r else "",
                    [("positives", str(len(pos))), ("negatives", str(len(neg)))],
                ))
            blocks.append(Gallery(items, f"{strategy.replace('_', ' ')}",
                                  f"{len(rows):,} sets · {npos.mean():.1f} positives and {nneg.mean():.1f} negatives per set on average"))
        blocks += summary_details("summary.json", data.clicks.summary)
        return view(self, "Simulated clicks per strategy: positives inside the person, negatives outside.", blocks)


AUG_COLUMNS = ("image_id", "variant", "applied", "person_fraction", "ignore_fraction", "attempts", "rejections", "clicks_kept")


def _cell(v: Any) -> str:
    if isinstance(v, str):
        return v if len(v) <= 90 else v[:87] + "…"
    if isinstance(v, (list, tuple, np.ndarray)):
        return _cell(", ".join(str(x) for x in as_list(v))) if len(v) else "—"
    return _fmt(v)


class AugmentationSection:
    id = "augmentation"
    title = "Augmentation preview"
    nav = "Augmentation"

    def build(self, ctx: BuildContext) -> SectionView:
        data = ctx.data
        aug = data.augmented
        if aug is None:
            return missing(self, "augment", data.inputs.augmented, "preview.png or records table")
        blocks: list[Any] = []
        if aug.n_variants is not None:
            stats = [("variants", f"{aug.n_variants:,}")]
            summ = aug.summary if isinstance(aug.summary, dict) else {}
            for key in ("variants_dropped_unrealistic", "variants_per_image"):
                if isinstance(summ.get(key), (int, float)):
                    stats.append((key.replace("_", " "), _fmt(summ[key])))
            rec = aug.records
            for col in ("image_id", "annotation_id", "source_image_id"):
                if rec is not None and col in rec.columns:
                    stats.append((f"source {col.replace('_id', '').replace('_', ' ')}s", f"{rec[col].nunique():,}"))
                    break
            blocks.append(Stats(stats))
        if aug.preview is not None:
            uri = gallery.file_as_jpeg_uri(aug.preview, ctx.report.preview_px, ctx.report.jpeg_quality)
            if uri is not None:
                blocks.append(Figure(uri, "Augmentation preview grid", "Original and augmented variants with their masks."))
            else:
                blocks.append(Note(f"{aug.preview} could not be read as an image.", "warn"))
        else:
            blocks.append(Note("The augment stage wrote no preview.png.", "warn"))
        rec = aug.records
        if rec is not None and len(rec):
            cols = [c for c in AUG_COLUMNS if c in rec.columns]
            if len(cols) < 3:
                cols = [c for c in rec.columns if not str(c).startswith("_")][:7]
            rows = [[_cell(v) for v in r] for r in rec[cols].head(10).itertuples(index=False)]
            numeric = [pd.api.types.is_numeric_dtype(rec[c]) and not pd.api.types.is_bool_dtype(rec[c]) for c in cols]
            blocks.append(Table([str(c).replace("_", " ") for c in cols], rows, numeric=numeric,
                                caption=f"First {len(rows)} of {len(rec):,} variants."))
        blocks += summary_details("summary.json", aug.summary)
        return view(self, "What the augmentations do to a photo and its mask.", blocks)


class IdentitySection:
    id = "identity"
    title = "Dataset identity"
    nav = "Identity"

    def build(self, ctx: BuildContext) -> SectionView:
        ident = ctx.identity
        cur_ident = ctx.data.curated.identity if ctx.data.curated is not None else None
        blocks: list[Any] = [
            Fingerprint(ident.fingerprint),
            Paragraph("Two copies of the dataset are the same version when their fingerprints match. The fingerprint "
                      "combines the params digest with the hash of every stage output below; the settings of the "
                      "report and review tools are left out."),
            HashList([("params digest (params.yaml, every section but report and review)", ident.params_digest)]
                     + ([("curate params digest (identity.json)", str(cur_ident["params_digest"]))]
                        if isinstance(cur_ident, dict) and cur_ident.get("params_digest") else []), "Params"),
            HashList(ident.inputs, "Input files (recorded by curate)",
                     empty="curate recorded no input hashes (identity.json absent)"),
            HashList([(name, h) for name, h in ident.outputs], "Stage outputs (sha256 of every file, sorted by path)",
                     empty="no stage output found"),
            Details(f"params ({', '.join(ident.params_sections)})", ident.params_json),
        ]
        return view(self, "Confirm you hold the same dataset version as someone else.", blocks)


SECTIONS: list[Section] = [
    FunnelSection(),
    DistributionsSection(),
    CoarseSection(),
    ExamplesSection(),
    ClicksSection(),
    AugmentationSection(),
    TrainingSection(),
    DeviceSection(),
    IdentitySection(),
]
