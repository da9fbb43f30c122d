"""The printable matching report: one HTML page (print it, or save it as PDF from the browser)
with a headline, charts drawn as inline SVG (no script, so it prints as shown), coverage at
each granularity, the technologies, and every retired GGO with a link to its provenance bundle."""

import html
from typing import Any

from origin.protocol.times import format_time

TECHNOLOGIES = {"T010000": "Solar", "T020000": "Wind (onshore)", "T020001": "Wind (onshore)",
                "T020002": "Wind (offshore)", "T030000": "Hydro", "T050000": "Biomass"}  # fmt: skip
WIDTH, HEIGHT = 720, 180


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _bars(rows: list[dict[str, Any]], label: str) -> str:
    """Consumption (grey) and matched (green) per bucket, to scale."""
    if not rows:
        return "<p>No consumption in this period.</p>"
    top = max(r["consumption_wh"] for r in rows) or 1
    step = WIDTH / len(rows)
    parts = []
    for i, r in enumerate(rows):
        x, h_c, h_m = i * step, HEIGHT * r["consumption_wh"] / top, HEIGHT * r["matched_wh"] / top
        title = html.escape(f"{r['period']}: {r['matched_wh']:,} of {r['consumption_wh']:,} Wh matched "
                            f"({_pct(r['coverage'])})")  # fmt: skip
        parts.append(f'<g><title>{title}</title><rect x="{x:.1f}" y="{HEIGHT - h_c:.1f}" width="{step * 0.8:.1f}" '
                     f'height="{h_c:.1f}" fill="#c8ccd0"/><rect x="{x:.1f}" y="{HEIGHT - h_m:.1f}" '
                     f'width="{step * 0.8:.1f}" height="{h_m:.1f}" fill="#2e8b57"/></g>')  # fmt: skip
    return (f'<svg role="img" aria-label="{html.escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
            f'height="{HEIGHT}">{"".join(parts)}</svg>')  # fmt: skip


def _table(rows: list[dict[str, Any]], first: str) -> str:
    body = "".join(f"<tr><td>{html.escape(r['period'])}</td><td>{r['consumption_wh']:,}</td><td>{r['matched_wh']:,}</td>"
                   f"<td>{r['unmatched_wh']:,}</td><td>{_pct(r['coverage'])}</td></tr>" for r in rows)  # fmt: skip
    return (f"<table><thead><tr><th>{first}</th><th>Consumption, Wh</th><th>Matched, Wh</th><th>Unmatched, Wh</th>"
            f"<th>Coverage</th></tr></thead><tbody>{body}</tbody></table>")  # fmt: skip


def render(account: str, begin_s: int, end_s: int, by: dict[str, dict[str, Any]], retired: list[dict[str, Any]],
           ledger_url: str) -> str:  # fmt: skip
    """The report: `by` maps each resolution (hour, day, week, month, year) to its matching."""
    total = by["day"]
    score = total["score"]
    headline = ("No consumption was measured in this period." if score is None else
                f"{score * 100:.1f} % of your consumption was matched hour by hour by renewable production "
                "in your price area.")  # fmt: skip
    techs = "".join(f"<tr><td>{html.escape(TECHNOLOGIES.get(t, t))} ({html.escape(t)})</td><td>{wh:,}</td></tr>"
                    for t, wh in total["technologies"].items())  # fmt: skip
    ggos = "".join(
        f"<tr><td>{html.escape(format_time(g['begin_s']))}</td><td>{html.escape(g['sector'])}</td>"
        f"<td>{html.escape(TECHNOLOGIES.get(g['tech_type'] or '', g['tech_type'] or '?'))}</td><td>{g['amount_wh']:,}</td>"
        f'<td><a href="{html.escape(ledger_url)}/v1/ggos/{html.escape(g["ggo"])}/provenance">'
        f"{html.escape(g['ggo'][:18])}…</a></td></tr>" for g in retired)  # fmt: skip
    sections = "".join(f"<h2>By {name}</h2>{_bars(by[name]['periods'], f'coverage by {name}')}"
                       f"{_table(by[name]['periods'], name.capitalize())}" for name in ("day", "week", "month", "year"))  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hourly matching report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d2125; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 2em; page-break-after: avoid; }}
.headline {{ font-size: 1.6em; font-weight: 600; color: #2e8b57; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }} td, th {{ padding: 2px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} tr:nth-child(even) {{ background: #f3f4f5; }}
svg {{ margin: 0.5em 0; }} @media print {{ a {{ color: inherit; }} }}
</style></head><body>
<h1>Hourly matching report · account {html.escape(account)}</h1>
<p>{html.escape(format_time(begin_s))} to {html.escape(format_time(end_s))} (days, weeks, months and years in Danish time)</p>
<p class="headline">{html.escape(headline)}</p>
<p>Consumption {total["consumption_wh"]:,} Wh; matched {total["matched_wh"]:,} Wh; unmatched {total["unmatched_wh"]:,} Wh.
Each hour counts on its own: production in one hour or price area never covers another.</p>
<h2>Average day (by Danish hour of day)</h2>{_bars(total["profile"], "coverage by hour of day")}
{_table(total["profile"], "Hour")}
<h2>Technologies of the matched energy</h2><table><thead><tr><th>Technology</th><th>Wh</th></tr></thead>
<tbody>{techs}</tbody></table>
{sections}
<h2>Retired GGOs ({len(retired):,})</h2>
<p>Each links to its provenance bundle on the ledger: check it offline with <code>origin verify</code>.</p>
<table><thead><tr><th>Period</th><th>Area</th><th>Technology</th><th>Wh</th><th>GGO</th></tr></thead>
<tbody>{ggos}</tbody></table>
</body></html>
"""
