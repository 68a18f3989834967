"""Built-in tasks about the shape of the data: joins, Excel workbooks, group-by, pivots,
resampling, several files, nested JSON, a plot to save, a variable already in the kernel."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections import defaultdict
from fractions import Fraction

from . import Made, cents_text, rounded, task, unique_max
from .cleaning import TWO_DECIMALS, days, write_csv

PNG_CHECK = '''import os
assert os.path.isfile("revenue.png"), "revenue.png was not written in the working folder"
with open("revenue.png", "rb") as fh:
    assert fh.read(8) == b"\\x89PNG\\r\\n\\x1a\\n", "revenue.png is not a PNG image"
'''


@task(id="join-two-files", level="medium", concepts=["join", "groupby"],
      prompt="customers.csv gives each customer's segment and orders.csv the orders. Which customer "
             "segment has the highest total order amount, and what is that total?",
      format=f"@segment[name] @total[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
customers = pd.read_csv("customers.csv")
orders = pd.read_csv("orders.csv")
totals = orders.merge(customers, on="customer_id").groupby("segment")["amount"].sum()
print(f"@segment[{totals.idxmax()}] @total[{totals.max():.2f}]")
''')
def join_two_files(rng: random.Random, files: str) -> Made:
    segments = ["Retail", "Wholesale", "Online", "Enterprise"]
    customers = {f"C{i:03d}": rng.choice(segments) for i in range(1, 41)}
    write_csv(os.path.join(files, "customers.csv"), ["customer_id", "segment"], [[k, v] for k, v in customers.items()])
    totals: dict[str, int] = defaultdict(int)
    rows = []
    for i in range(150):
        cid = rng.choice(sorted(customers))
        cents = rng.randint(500, 80_000)
        totals[customers[cid]] += cents
        rows.append([f"O{9000 + i}", cid, cents_text(cents)])
    write_csv(os.path.join(files, "orders.csv"), ["order_id", "customer_id", "amount"], rows)
    top = unique_max(totals)
    return Made({"segment": top, "total": rounded(Fraction(totals[top], 100))})


@task(id="excel-sheets", level="medium", concepts=["excel"],
      prompt="regional_sales.xlsx has one sheet per region, and a sheet of notes. What is the total revenue "
             "over all regions, and which region has the highest revenue?",
      format=f"@total_revenue[value] @top_region[name] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
sheets = pd.read_excel("regional_sales.xlsx", sheet_name=None)
totals = {name: df["revenue"].sum() for name, df in sheets.items() if "revenue" in df.columns}
top = max(totals, key=totals.get)
print(f"@total_revenue[{sum(totals.values()):.2f}] @top_region[{top}]")
''')
def excel_sheets(rng: random.Random, files: str) -> Made:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    notes = wb.create_sheet("Notes")
    notes.append(["Regional sales 2024, first half. Revenue in EUR."])
    notes.append(["Figures are preliminary."])
    totals: dict[str, int] = {}
    for region in ["North", "South", "East", "West"]:
        ws = wb.create_sheet(region)
        ws.append(["month", "units", "revenue"])
        totals[region] = 0
        for month in range(1, 7):
            cents = rng.randint(1_000_000, 9_000_000)
            totals[region] += cents
            ws.append([f"2024-{month:02d}", rng.randint(100, 900), cents / 100])
    wb.save(os.path.join(files, "regional_sales.xlsx"))
    return Made({"total_revenue": rounded(Fraction(sum(totals.values()), 100)), "top_region": unique_max(totals)})


@task(id="excel-header-offset", level="hard", concepts=["excel", "cleaning"],
      prompt="budget.xlsx is the finance team's budget sheet (title lines above the table, a total line "
             "below it). Which department overspent the most (actual minus planned), and by how much?",
      format=f"@department[name] @overspend[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
raw = pd.read_excel("budget.xlsx", header=None)
header = raw.index[raw.iloc[:, 0].astype(str).str.strip().str.lower() == "department"][0]
df = pd.read_excel("budget.xlsx", skiprows=header)
df = df[df["department"].notna() & (df["department"].astype(str).str.lower() != "total")]
over = (df["actual"] - df["planned"]).groupby(df["department"]).sum()
print(f"@department[{over.idxmax()}] @overspend[{over.max():.2f}]")
''')
def excel_header_offset(rng: random.Random, files: str) -> Made:
    from openpyxl import Workbook

    departments = ["Marketing", "Sales", "Engineering", "Support", "Legal", "Facilities"]
    wb = Workbook()
    ws = wb.active
    ws.title = "Budget 2024"
    ws.append(["FY2024 budget"])
    ws.append(["Prepared by Finance, March 2024"])
    ws.append([])
    ws.append(["department", "planned", "actual"])
    over: dict[str, int] = {}
    planned_sum = actual_sum = 0
    for name in departments:
        planned = rng.randint(5_000_000, 40_000_000)
        actual = planned + rng.randint(-3_000_000, 3_000_000)
        over[name] = actual - planned
        planned_sum, actual_sum = planned_sum + planned, actual_sum + actual
        ws.append([name, planned / 100, actual / 100])
    ws.append(["Total", planned_sum / 100, actual_sum / 100])
    wb.save(os.path.join(files, "budget.xlsx"))
    top = unique_max(over)
    return Made({"department": top, "overspend": rounded(Fraction(over[top], 100))})


@task(id="groupby-mean", level="easy", concepts=["groupby"],
      prompt="Which department in employees.csv has the highest mean salary, and what is that mean?",
      format=f"@department[name] @mean_salary[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("employees.csv")
means = df.groupby("department")["salary"].mean()
print(f"@department[{means.idxmax()}] @mean_salary[{means.max():.2f}]")
''')
def groupby_mean(rng: random.Random, files: str) -> Made:
    base = dict(zip(["Research", "Sales", "Operations", "Finance", "HR"], rng.sample(range(48, 80, 6), 5)))
    by_dept: dict[str, list[int]] = defaultdict(list)
    rows = []
    for i in range(80):
        dept = rng.choice(sorted(base))
        salary = base[dept] * 1000 + rng.randint(-8000, 8000)
        by_dept[dept].append(salary)
        rows.append([f"E{i + 1:03d}", dept, salary])
    write_csv(os.path.join(files, "employees.csv"), ["employee", "department", "salary"], rows)
    means = {d: Fraction(sum(v), len(v)) for d, v in by_dept.items()}
    top = unique_max(means)
    return Made({"department": top, "mean_salary": rounded(means[top])})


@task(id="pivot-quarter", level="medium", concepts=["pivot", "dates"],
      prompt="From sales.csv, compute each region's revenue in Q1 and in Q2 of 2024. Which region grew the "
             "most from Q1 to Q2, in percent, and by how much?",
      format="@region[name] @growth_pct[value] where value is the growth in percent rounded to one decimal",
      tolerance={"growth_pct": 0.1},
      solution='''import pandas as pd
df = pd.read_csv("sales.csv", parse_dates=["date"])
df["quarter"] = df["date"].dt.quarter
pivot = df.pivot_table(index="region", columns="quarter", values="revenue", aggfunc="sum")
growth = (pivot[2] / pivot[1] - 1) * 100
print(f"@region[{growth.idxmax()}] @growth_pct[{growth.max():.1f}]")
''')
def pivot_quarter(rng: random.Random, files: str) -> Made:
    regions = ["North", "South", "East", "West"]
    factor = dict(zip(regions, rng.sample([0.85, 1.0, 1.15, 1.35], 4)))
    q: dict[str, list[int]] = {r: [0, 0] for r in regions}
    rows = []
    for day in days(rng, 200, dt.date(2024, 1, 1), 182):
        region = rng.choice(regions)
        cents = rng.randint(20_000, 60_000)
        if day.month > 3:
            cents = int(cents * factor[region])
        q[region][0 if day.month <= 3 else 1] += cents
        rows.append([day.isoformat(), region, cents_text(cents)])
    write_csv(os.path.join(files, "sales.csv"), ["date", "region", "revenue"], rows)
    growth = {r: (Fraction(b, a) - 1) * 100 for r, (a, b) in q.items()}
    top = unique_max(growth)
    return Made({"region": top, "growth_pct": rounded(growth[top], 1)})


@task(id="resample-monthly", level="medium", concepts=["time series", "resampling"],
      prompt="meter.csv holds irregular electricity meter readings: kwh is the energy used since the "
             "previous reading. Which month had the highest consumption, and how much was it?",
      format="@month[YYYY-MM] @kwh[value] where value is the month's total in kWh rounded to two decimals",
      solution='''import pandas as pd
df = pd.read_csv("meter.csv", parse_dates=["timestamp"]).set_index("timestamp")
monthly = df["kwh"].resample("MS").sum()
print(f"@month[{monthly.idxmax():%Y-%m}] @kwh[{monthly.max():.2f}]")
''')
def resample_monthly(rng: random.Random, files: str) -> Made:
    at = dt.datetime(2024, 1, 1, 0, 30)
    totals: dict[str, int] = defaultdict(int)
    rows = []
    while at < dt.datetime(2024, 7, 1):
        wh = rng.randint(200, 2500) * (2 if at.month in (1, 2, 12) and rng.random() < 0.3 else 1)
        totals[f"{at:%Y-%m}"] += wh
        rows.append([at.isoformat(sep=" ", timespec="minutes"), f"{wh / 1000:.3f}"])
        at += dt.timedelta(minutes=rng.randint(60, 300))
    write_csv(os.path.join(files, "meter.csv"), ["timestamp", "kwh"], rows)
    top = unique_max(totals)
    return Made({"month": top, "kwh": rounded(Fraction(totals[top], 1000))})


@task(id="plot-file", level="easy", concepts=["plot"],
      prompt="Plot the revenue in monthly_revenue.csv as a line chart by month and save it as revenue.png "
             "in the working folder. Which month had the highest revenue?",
      format="@best_month[YYYY-MM]",
      check=PNG_CHECK,
      solution='''import pandas as pd
import matplotlib.pyplot as plt
df = pd.read_csv("monthly_revenue.csv")
ax = df.plot(x="month", y="revenue", kind="line", legend=False)
ax.set_ylabel("revenue")
plt.savefig("revenue.png")
plt.close()
print(f"@best_month[{df.loc[df['revenue'].idxmax(), 'month']}]")
''')
def plot_file(rng: random.Random, files: str) -> Made:
    revenue = {f"2023-{m:02d}": rng.randint(40_000, 95_000) for m in range(1, 13)}
    write_csv(os.path.join(files, "monthly_revenue.csv"), ["month", "revenue"], [[k, v] for k, v in revenue.items()])
    return Made({"best_month": unique_max(revenue)})


@task(id="kernel-variable", level="easy", concepts=["kernel state"],
      prompt="The DataFrame `inventory` is already loaded in the kernel (there is no file for it). What is "
             "the total stock value, the sum of qty × unit_cost over all rows?",
      format=f"@stock_value[value] where value is {TWO_DECIMALS}",
      solution='''print(f"@stock_value[{(inventory['qty'] * inventory['unit_cost']).sum():.2f}]")
''')
def kernel_variable(rng: random.Random, files: str) -> Made:
    skus = [f"SKU-{i:04d}" for i in rng.sample(range(1000, 9999), 25)]
    qty = [rng.randint(0, 250) for _ in skus]
    cost = [rng.randint(50, 25_000) for _ in skus]
    setup = ("import pandas as pd\n"
             f"inventory = pd.DataFrame({{\"sku\": {skus!r},\n"
             f"                          \"qty\": {qty!r},\n"
             f"                          \"unit_cost\": {[c / 100 for c in cost]!r}}})\n")
    return Made({"stock_value": rounded(Fraction(sum(q * c for q, c in zip(qty, cost)), 100))}, setup=setup)


@task(id="multi-file-concat", level="medium", concepts=["csv", "concat"],
      prompt="The files sales_2024_01.csv to sales_2024_06.csv hold one month of sales each. How many "
             "units were sold over the six months in all, and which month sold the most units?",
      format="@total_units[count] @best_month[YYYY-MM] where count is an integer",
      tolerance={"total_units": 0},
      solution='''import glob
import pandas as pd
frames = []
for path in sorted(glob.glob("sales_2024_*.csv")):
    df = pd.read_csv(path)
    df["month"] = path[6:13].replace("_", "-")
    frames.append(df)
sales = pd.concat(frames)
by_month = sales.groupby("month")["units"].sum()
print(f"@total_units[{int(sales['units'].sum())}] @best_month[{by_month.idxmax()}]")
''')
def multi_file_concat(rng: random.Random, files: str) -> Made:
    units_by_month: dict[str, int] = {}
    for month in range(1, 7):
        rows = [[f"P{rng.randint(1, 30):02d}", rng.randint(1, 40)] for _ in range(rng.randint(20, 40))]
        units_by_month[f"2024-{month:02d}"] = sum(r[1] for r in rows)
        header = ["product", "units"]
        if month == 4:  # this month's export has its columns the other way round
            header, rows = ["units", "product"], [[u, p] for p, u in rows]
        write_csv(os.path.join(files, f"sales_2024_{month:02d}.csv"), header, rows)
    return Made({"total_units": sum(units_by_month.values()), "best_month": unique_max(units_by_month)})


@task(id="jsonl-nested", level="medium", concepts=["json", "groupby"],
      prompt="events.jsonl is an event log (one JSON object per line; purchases carry an amount). Which "
             "country's users spent the most in total, and how much?",
      format=f"@country[code] @total[value] where code is the country code as written in the data and value "
             f"is {TWO_DECIMALS}",
      solution='''import json
import pandas as pd
records = [json.loads(line) for line in open("events.jsonl", encoding="utf-8") if line.strip()]
df = pd.json_normalize(records)
purchases = df[df["type"] == "purchase"]
totals = purchases.groupby("user.country")["purchase.amount"].sum()
print(f"@country[{totals.idxmax()}] @total[{totals.max():.2f}]")
''')
def jsonl_nested(rng: random.Random, files: str) -> Made:
    users = {f"u{i}": rng.choice(["DE", "FR", "NL", "ES", "IT"]) for i in range(30)}
    totals: dict[str, int] = defaultdict(int)
    with open(os.path.join(files, "events.jsonl"), "w", encoding="utf-8") as fh:
        for i in range(300):
            uid = rng.choice(sorted(users))
            event = {"id": i, "type": "view", "user": {"id": uid, "country": users[uid]}}
            if rng.random() < 0.35:
                cents = rng.randint(199, 25_000)
                totals[users[uid]] += cents
                event["type"] = "purchase"
                event["purchase"] = {"amount": cents / 100, "currency": "EUR"}
            fh.write(json.dumps(event) + "\n")
    top = unique_max(totals)
    return Made({"country": top, "total": rounded(Fraction(totals[top], 100))})
