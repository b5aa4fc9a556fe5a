"""A monthly report as a one-page PDF (reportlab): title, partial-month mark, totals, the month's chart
(CPU-hours per day as bars), top users, GPU-hours by type, efficiency."""

import io

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from slurm_assets.reports.monthly import Report

BAR_COLOR = colors.HexColor("#1f77b4")  # the tests look for this colour in the rendered page


def _fmt(value, decimals: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def _table(rows: list[list[str]]) -> Table:
    t = Table(rows, hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
            ]
        )
    )
    return t


def _chart(r: Report) -> Drawing:
    drawing = Drawing(17 * cm, 6.5 * cm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 30, 17 * cm - 60, 6.5 * cm - 60
    values = [float(v or 0) for v in r.days["cpu_hours"]] if not r.days.empty else [0.0]
    chart.data = [values]
    chart.bars[0].fillColor = BAR_COLOR
    chart.bars[0].strokeColor = None
    chart.valueAxis.valueMin = 0
    labels = [str(d.day) if hasattr(d, "day") else str(d)[-2:] for d in r.days["date"]] if not r.days.empty else [""]
    chart.categoryAxis.categoryNames = labels
    chart.categoryAxis.labels.fontSize = 6
    drawing.add(chart)
    drawing.add(String(40, 6.5 * cm - 20, "CPU-hours per day (UTC)", fontSize=9))
    return drawing


def report_pdf(r: Report) -> bytes:
    styles = getSampleStyleSheet()
    story = [Paragraph(r.title, styles["Title"])]
    if r.partial:
        story.append(
            Paragraph(f"<b>Partial month</b>: data through {r.data_through or 'no day yet'}.", styles["Normal"])
        )
    t = r.totals
    story += [
        Spacer(1, 6),
        _table(
            [
                ["CPU-hours", "GPU-hours", "Node-hours", "Jobs ended"],
                [_fmt(t.get("cpu_hours")), _fmt(t.get("gpu_hours")), _fmt(t.get("node_hours")), _fmt(t.get("jobs"), 0)],
            ]
        ),
        Spacer(1, 8),
        _chart(r),
        Spacer(1, 8),
        Paragraph("Top users", styles["Heading3"]),
    ]
    users = (
        [
            [u, _fmt(c), _fmt(g), _fmt(j, 0)]
            for u, c, g, j in r.users[["user", "cpu_hours", "gpu_hours", "jobs"]].itertuples(index=False)
        ]
        if not r.users.empty
        else []
    )
    story.append(_table([["User", "CPU-hours", "GPU-hours", "Jobs ended"], *users]))
    story.append(Paragraph("GPU-hours by GPU type", styles["Heading3"]))
    gpus = (
        [[g, _fmt(h)] for g, h in r.gpu_types[["gpu_type", "gpu_hours"]].itertuples(index=False)]
        if not r.gpu_types.empty
        else [["(none)", _fmt(0.0)]]
    )
    story.append(_table([["GPU type", "GPU-hours"], *gpus]))
    e = r.efficiency
    story += [
        Paragraph("Efficiency of the jobs that ended in the month", styles["Heading3"]),
        _table(
            [
                ["CPU efficiency (%)", "Memory efficiency (%)"],
                [_fmt(e.get("cpu_efficiency_pct")), _fmt(e.get("mem_efficiency_pct"))],
            ]
        ),
    ]
    buf = io.BytesIO()
    SimpleDocTemplate(
        buf,
        pagesize=A4,
        title=r.title,
        author="slurm-usage-history",
        invariant=1,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
    ).build(story)
    return buf.getvalue()
