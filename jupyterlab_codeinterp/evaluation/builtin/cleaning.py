"""Built-in tasks about messy values and messy files: junk rows, separators, missing markers,
mixed date formats, inconsistent labels, duplicates, summary rows."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from fractions import Fraction

from . import MONTHS, Made, cents_text, rounded, task, thousands_text, unique_max

TWO_DECIMALS = "a number rounded to two decimals"


def write_csv(path: str, header: list[str], rows: list[list], *, before: list[str] = (),
              after: list[list] = (), delimiter: str = ",") -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        for line in before:
            fh.write(line + "\n")
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        w.writerows(after)


def days(rng: random.Random, n: int, start: dt.date, span: int) -> list[dt.date]:
    return sorted(start + dt.timedelta(days=rng.randrange(span)) for _ in range(n))


@task(id="header-junk-rows", level="easy", concepts=["csv", "cleaning"],
      prompt="sales_report.csv is an export from our shop system. What is the total revenue over all "
             "sales in it?",
      format=f"@total_revenue[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
lines = open("sales_report.csv", encoding="utf-8").read().splitlines()
header = next(i for i, line in enumerate(lines) if line.startswith("date,"))
df = pd.read_csv("sales_report.csv", skiprows=header)
print(f"@total_revenue[{df['revenue'].sum():.2f}]")
''')
def header_junk_rows(rng: random.Random, files: str) -> Made:
    rows, total = [], 0
    for day in days(rng, 60, dt.date(2024, 1, 1), 90):
        units = rng.randint(1, 20)
        cents = units * rng.randint(199, 4999)
        total += cents
        rows.append([day.isoformat(), f"S{rng.randint(1, 4):02d}", units, cents_text(cents)])
    write_csv(os.path.join(files, "sales_report.csv"), ["date", "store", "units", "revenue"], rows,
              before=["Weekly sales export", "Generated 2024-04-02 08:15 by ShopERP 2.3", ""])
    return Made({"total_revenue": rounded(Fraction(total, 100))})


@task(id="thousands-separators", level="easy", concepts=["csv", "cleaning"],
      prompt="What is the mean invoice amount in invoices.csv?",
      format=f"@mean_amount[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("invoices.csv")
amount = df["amount"].astype(str).str.replace(",", "", regex=False).astype(float)
print(f"@mean_amount[{amount.mean():.2f}]")
''')
def thousands_separators(rng: random.Random, files: str) -> Made:
    amounts = [rng.randint(5_000, 900_000) for _ in range(40)]
    rows = [[f"INV-{1000 + i}", f"customer {rng.randint(1, 15)}", thousands_text(c)] for i, c in enumerate(amounts)]
    write_csv(os.path.join(files, "invoices.csv"), ["invoice", "customer", "amount"], rows)
    return Made({"mean_amount": rounded(Fraction(sum(amounts), 100 * len(amounts)))})


MISSING_MARKERS = ["n/a", "N/A", "-", "", "missing", "?"]


@task(id="na-strings", level="easy", concepts=["cleaning", "missing values"],
      prompt="temperatures.csv has daily temperature readings; some readings are missing or unusable. "
             "How many readings are missing or unusable, and what is the mean of the valid readings "
             "in °C?",
      format=f"@missing_count[count] @mean_temp[value] where count is an integer and value is {TWO_DECIMALS}",
      tolerance={"missing_count": 0, "mean_temp": 0.01},
      solution='''import pandas as pd
df = pd.read_csv("temperatures.csv", dtype=str, keep_default_na=False)
temp = pd.to_numeric(df["temp_c"], errors="coerce")
print(f"@missing_count[{int(temp.isna().sum())}] @mean_temp[{temp.mean():.2f}]")
''')
def na_strings(rng: random.Random, files: str) -> Made:
    rows, valid = [], []
    for day in [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(80)]:
        if rng.random() < 0.15:
            value = rng.choice(MISSING_MARKERS)
        else:
            tenths = rng.randint(-80, 250)
            valid.append(tenths)
            value = f"{tenths / 10:.1f}"
        rows.append(["Lakeside", day.isoformat(), value])
    write_csv(os.path.join(files, "temperatures.csv"), ["station", "date", "temp_c"], rows)
    return Made({"missing_count": 80 - len(valid), "mean_temp": rounded(Fraction(sum(valid), 10 * len(valid)))})


@task(id="sentinel-values", level="medium", concepts=["cleaning", "missing values"],
      prompt="sensor.csv holds a pressure logger's readings; notes.txt describes the logger. What is the "
             "mean pressure in hPa over the valid readings?",
      format=f"@mean_pressure[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("sensor.csv")
valid = df.loc[df["pressure_hpa"] != -999, "pressure_hpa"]
print(f"@mean_pressure[{valid.mean():.2f}]")
''')
def sentinel_values(rng: random.Random, files: str) -> Made:
    rows, valid = [], []
    start = dt.datetime(2024, 5, 1)
    for i in range(120):
        if rng.random() < 0.1:
            value = "-999"
        else:
            tenths = rng.randint(9800, 10400)
            valid.append(tenths)
            value = f"{tenths / 10:.1f}"
        rows.append([(start + dt.timedelta(hours=i)).isoformat(sep=" "), value])
    write_csv(os.path.join(files, "sensor.csv"), ["timestamp", "pressure_hpa"], rows)
    with open(os.path.join(files, "notes.txt"), "w", encoding="utf-8") as fh:
        fh.write("Pressure logger PL-20, hourly readings in hPa.\n"
                 "When a reading fails, the logger writes -999 instead of a value.\n")
    return Made({"mean_pressure": rounded(Fraction(sum(valid), 10 * len(valid)))})


def _date_text(day: dt.date, style: int) -> str:
    month = MONTHS[day.month - 1]
    return [day.isoformat(), day.strftime("%Y/%m/%d"), f"{month[:3]} {day.day:02d}, {day.year}",
            f"{day.day:02d} {month} {day.year}"][style]


@task(id="mixed-date-formats", level="medium", concepts=["dates", "cleaning"],
      prompt="orders.csv was merged from several systems, so its dates are written in different ways. "
             "How many orders were placed in March 2024, and what is their total amount?",
      format=f"@march_orders[count] @march_total[value] where count is an integer and value is {TWO_DECIMALS}",
      tolerance={"march_orders": 0, "march_total": 0.01},
      solution='''import pandas as pd
df = pd.read_csv("orders.csv")
df["order_date"] = pd.to_datetime(df["order_date"], format="mixed")
march = df[(df["order_date"].dt.year == 2024) & (df["order_date"].dt.month == 3)]
print(f"@march_orders[{len(march)}] @march_total[{march['amount'].sum():.2f}]")
''')
def mixed_date_formats(rng: random.Random, files: str) -> Made:
    rows, count, total = [], 0, 0
    for i, day in enumerate(days(rng, 90, dt.date(2024, 1, 1), 182)):
        cents = rng.randint(1_000, 50_000)
        if day.month == 3:
            count, total = count + 1, total + cents
        rows.append([f"A{500 + i}", _date_text(day, rng.randrange(4)), cents_text(cents)])
    write_csv(os.path.join(files, "orders.csv"), ["order_id", "order_date", "amount"], rows)
    return Made({"march_orders": count, "march_total": rounded(Fraction(total, 100))})


@task(id="european-csv", level="medium", concepts=["csv", "cleaning"],
      prompt="prices.csv comes from a German accounting system. What is the total of its amount column?",
      format=f"@total_amount[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("prices.csv", sep=";", decimal=",", thousands=".")
print(f"@total_amount[{df['amount'].sum():.2f}]")
''')
def european_csv(rng: random.Random, files: str) -> Made:
    amounts = [rng.randint(100, 450_000) for _ in range(50)]
    rows = [[f"Artikel {i + 1}", rng.randint(1, 12),
             thousands_text(c).replace(",", "_").replace(".", ",").replace("_", ".")]
            for i, c in enumerate(amounts)]
    write_csv(os.path.join(files, "prices.csv"), ["item", "quantity", "amount"], rows, delimiter=";")
    return Made({"total_amount": rounded(Fraction(sum(amounts), 100))})


@task(id="currency-percent", level="easy", concepts=["cleaning"],
      prompt="products.csv lists each product's list price and its discount. What is the average price "
             "after discount, list price × (1 − discount), over all products?",
      format=f"@mean_net_price[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("products.csv")
price = df["list_price"].str.replace("$", "", regex=False).str.replace(",", "", regex=False).astype(float)
discount = df["discount"].str.rstrip("%").astype(float) / 100
print(f"@mean_net_price[{(price * (1 - discount)).mean():.2f}]")
''')
def currency_percent(rng: random.Random, files: str) -> Made:
    rows, net = [], Fraction(0)
    for i in range(30):
        cents = rng.randint(999, 249_999)
        pct = rng.choice([0, 5, 10, 15, 20, 25, 30])
        net += Fraction(cents * (100 - pct), 100 * 100)
        rows.append([f"P-{i + 1:03d}", "$" + thousands_text(cents), f"{pct}%"])
    write_csv(os.path.join(files, "products.csv"), ["product", "list_price", "discount"], rows)
    return Made({"mean_net_price": rounded(net / 30)})


@task(id="category-cleanup", level="medium", concepts=["cleaning", "groupby"],
      prompt="customers.csv was typed in by hand, so the region names are written inconsistently. Which "
             "region has the most customers, and how many customers does it have?",
      format="@region[name] @customers[count] where name is the region's name and count is an integer",
      tolerance={"customers": 0},
      solution='''import pandas as pd
df = pd.read_csv("customers.csv")
region = df["region"].str.strip().str.title()
counts = region.value_counts()
print(f"@region[{counts.index[0]}] @customers[{counts.iloc[0]}]")
''')
def category_cleanup(rng: random.Random, files: str) -> Made:
    sizes = dict(zip(["North", "South", "East", "West"], rng.sample([31, 26, 22, 17], 4)))
    rows = []
    for name, n in sizes.items():
        for _ in range(n):
            spelled = rng.choice([name, name.lower(), name.upper(), f" {name}", f"{name} ", f"{name.lower()} "])
            rows.append([spelled])
    rng.shuffle(rows)
    rows = [[f"C{i + 1:04d}", r[0]] for i, r in enumerate(rows)]
    write_csv(os.path.join(files, "customers.csv"), ["customer_id", "region"], rows)
    top = unique_max(sizes)
    return Made({"region": top, "customers": sizes[top]})


@task(id="duplicate-rows", level="easy", concepts=["cleaning"],
      prompt="transactions.csv contains some rows that were exported twice (identical rows). After removing "
             "the duplicated rows, how many transactions are there, and what is their total amount?",
      format=f"@transactions[count] @total_amount[value] where count is an integer and value is {TWO_DECIMALS}",
      tolerance={"transactions": 0, "total_amount": 0.01},
      solution='''import pandas as pd
df = pd.read_csv("transactions.csv").drop_duplicates()
print(f"@transactions[{len(df)}] @total_amount[{df['amount'].sum():.2f}]")
''')
def duplicate_rows(rng: random.Random, files: str) -> Made:
    unique = [[f"T{7000 + i}", f"U{rng.randint(1, 40):03d}", cents_text(rng.randint(100, 30_000))] for i in range(70)]
    rows = list(unique)
    for row in rng.sample(unique, 12):
        rows.insert(rng.randrange(len(rows) + 1), list(row))
    write_csv(os.path.join(files, "transactions.csv"), ["txn_id", "user_id", "amount"], rows)
    total = sum(int(r[2].replace(".", "")) for r in unique)
    return Made({"transactions": len(unique), "total_amount": rounded(Fraction(total, 100))})


@task(id="footer-total-row", level="medium", concepts=["csv", "cleaning"],
      prompt="expenses.csv is an export of our expenses; the export adds a summary line at the end. What is "
             "the average expense amount?",
      format=f"@mean_expense[value] where value is {TWO_DECIMALS}",
      solution='''import pandas as pd
df = pd.read_csv("expenses.csv")
df = df[df["date"].str.match(r"\\d{4}-\\d{2}-\\d{2}", na=False)]
print(f"@mean_expense[{df['amount'].astype(float).mean():.2f}]")
''')
def footer_total_row(rng: random.Random, files: str) -> Made:
    amounts = [rng.randint(250, 120_000) for _ in range(45)]
    cats = ["travel", "software", "office", "training", "meals"]
    rows = [[d.isoformat(), rng.choice(cats), cents_text(c)]
            for d, c in zip(days(rng, 45, dt.date(2024, 2, 1), 120), amounts)]
    write_csv(os.path.join(files, "expenses.csv"), ["date", "category", "amount"], rows,
              after=[["TOTAL", "", cents_text(sum(amounts))]])
    return Made({"mean_expense": rounded(Fraction(sum(amounts), 100 * len(amounts)))})
