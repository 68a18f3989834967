# runs in a fresh kernel after the notebook re-ran from the top
expected = {"North": 27.0, "South": 20.0, "West": 3.0}
got = {k: round(float(v), 6) for k, v in by_region.items()}
assert got == expected, f"by_region is {got}, expected {expected}"
assert len(sales) == 5, "all five rows are loaded"
