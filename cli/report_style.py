"""The report's style sheet, inlined in the page: system fonts only, laid out for 1280 px."""

from __future__ import annotations

FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", '
    '"PingFang SC", "Microsoft YaHei", "DejaVu Sans", "Helvetica Neue", Arial, sans-serif'
)
MONOSPACE = 'ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace'

STYLE = f"""
*{{box-sizing:border-box}}
html{{color-scheme:light}}
body{{margin:0;background:#f4f6f9;color:#1f2937;font:14px/1.45 {FONTS}}}
main{{max-width:1232px;margin:0 auto;padding:20px 16px 32px}}
code{{font-family:{MONOSPACE};font-size:12px;color:#6b7280}}
h1{{font-size:24px;margin:0}}
.eyebrow{{margin:0;color:#6b7280;font-size:12px;text-transform:uppercase;letter-spacing:.06em}}
h2{{font-size:16px;margin:0 0 10px}}
h3{{font-size:16px;margin:0}}
header{{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;
  margin-bottom:16px;overflow-wrap:anywhere}}
header .range{{text-align:right;display:flex;flex-direction:column}}
header .range strong{{font-size:18px}}
header .range span,.sub{{color:#6b7280;margin:2px 0 0}}
.tiles{{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:12px}}
.tile,.card{{background:#fff;border:1px solid #e3e7ed;border-radius:8px}}
.tile{{padding:12px 16px}}
.tile .label{{color:#6b7280;font-size:13px}}
.tile .value{{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2}}
.tile .note{{color:#6b7280;font-size:12px}}
.card{{padding:16px;margin-top:12px;min-width:0}}
.pair{{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}}
.pair .card{{margin-top:12px}}
.legend{{display:flex;flex-wrap:wrap;gap:6px 16px;margin:0 0 6px;font-size:13px}}
.legend i{{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;
  vertical-align:-1px;border:1px solid rgba(0,0,0,.08)}}
svg{{display:block;font-family:{FONTS}}}
svg .tick{{font-size:11px;fill:#6b7280}}
svg .stage{{font-size:14px;font-weight:600;fill:#1f2937}}
svg .value{{font-size:14px;font-weight:600;fill:#1f2937}}
svg .share{{font-weight:400;fill:#6b7280}}
svg.progress{{border-radius:4px;background:#f3f4f6;margin:8px 0}}
svg.rate{{display:inline-block;vertical-align:middle;margin-left:8px}}
.empty{{color:#6b7280;background:#f9fafb;border:1px dashed #d1d5db;border-radius:6px;
  padding:28px;text-align:center;margin:0}}
.small{{color:#6b7280;font-size:12px;margin:8px 0 0}}
table.numbers{{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}}
table.numbers th{{font-size:12px;color:#4b5563;font-weight:600;text-align:right;
  padding:6px 10px;border-bottom:2px solid #e5e7eb;vertical-align:bottom}}
table.numbers td{{text-align:right;padding:7px 10px;border-bottom:1px solid #eef0f3;
  white-space:nowrap}}
table.numbers th:first-child,table.numbers td:first-child{{text-align:left}}
table.numbers td.name{{white-space:normal;overflow-wrap:anywhere}}
table.numbers td.name code{{display:block}}
table.numbers td.rate span{{display:inline-block;min-width:48px}}
.how{{display:block;font-weight:400;color:#9ca3af;font-size:11px}}
.gone{{color:#9ca3af;font-style:italic;font-weight:400}}
.campaigns>h2{{margin:24px 0 0}}
.campaign .head{{display:flex;align-items:center;gap:10px;overflow-wrap:anywhere}}
.campaign .sub{{overflow-wrap:anywhere}}
.audience{{margin-top:10px;color:#4b5563}}
.audience .big{{font-size:20px;font-weight:650;color:#1f2937}}
.badge{{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;
  font-weight:600;background:#e5e7eb;color:#374151}}
.badge.running{{background:#dbeafe;color:#1d4ed8}}
.badge.scheduled{{background:#ede9fe;color:#6d28d9}}
.badge.paused{{background:#fef3c7;color:#92400e}}
.badge.completed{{background:#dcfce7;color:#166534}}
.badge.canceled{{background:#fee2e2;color:#991b1b}}
.badge.won{{background:#16a34a;color:#fff}}
tr.winner td{{background:#f0fdf4}}
.variants{{margin-top:12px}}
.experiment{{margin-top:12px;padding:12px 14px;background:#f8fafc;border:1px solid #e3e7ed;
  border-radius:6px}}
.experiment p{{margin:0}}
.experiment .facts{{display:flex;flex-wrap:wrap;gap:8px 40px;margin:8px 0}}
.experiment .facts span{{display:block;color:#6b7280;font-size:12px}}
.experiment .facts b{{font-size:18px}}
.experiment .facts small{{font-size:12px;font-weight:400;color:#6b7280}}
footer{{color:#9ca3af;font-size:12px;margin-top:24px}}
"""
