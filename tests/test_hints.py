"""Repairs that teach: each hint built from a real kernel's facts, without touching its namespace."""

from __future__ import annotations

import importlib.util

import pytest

from jupyterlab_codeinterp.agent.hints import (
    MAX_HINT_BYTES,
    FailedRun,
    failing_line,
    failing_line_number,
    keyword_call,
    modules_hint,
    quoted,
    repair_hint,
)
from jupyterlab_codeinterp.context.kernel_probe import eval_expression
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor

NAMES = "sorted(k for k in get_ipython().user_ns if not k.startswith('_'))"


@pytest.fixture
async def kernel(tmp_path):
    (tmp_path / "countries.csv").write_text("Country,GDP (USD),Population\nA,1,2\n")
    (tmp_path / "sales_2023.csv").write_text("x\n1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales_2024.csv").write_text("x\n1\n")
    executor = HeadlessExecutor(str(tmp_path / "analysis.ipynb"))
    await executor.start()
    yield tmp_path, executor
    await executor.close()


async def fail(executor, code: str):
    outcome = await executor.run_cell(code, metadata={}, timeout=60)
    assert outcome.status == "error", outcome
    return FailedRun(ename=outcome.ename, evalue=outcome.evalue, code=code, traceback=outcome.traceback)


async def hint_for(tmp_path, executor, code: str) -> str:
    run = await fail(executor, code)
    client = await executor.kernel_client()
    before = await eval_expression(client, NAMES, timeout=10)
    hint = await repair_hint(run, client=client, workspace=str(tmp_path), timeout=10)
    # the facts were read silently: no name appeared or vanished in the user's namespace
    assert await eval_expression(client, NAMES, timeout=10) == before
    assert len(hint.encode()) <= MAX_HINT_BYTES
    return hint


async def test_key_error_lists_the_real_columns_closest_first(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].mean())')
    assert "df has columns" in hint
    # pandas chains its own KeyError first: the failing line is still the cell's line 3
    run = await fail(executor, 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].mean())')
    assert failing_line_number(run.traceback) == 3 and failing_line(run.traceback) == 'print(df["GDP"].mean())'
    cols = hint.split(":", 2)[-1]
    assert cols.index("'GDP (USD)'") < cols.index("'Country'")


async def test_row_labels_used_as_column_names_are_explained(kernel):
    # Qwen2.5-Coder-1.5B removed outliers with data[~outliers.index] (bitwise not of row labels)
    tmp_path, executor = kernel
    (tmp_path / "deaths.csv").write_text("Country,deaths\n" + "".join(f"C{i},{i * i}\n" for i in range(30)))
    for rows in ("[0, 5, 29]", "[3]"):
        hint = await hint_for(tmp_path, executor,
                              'import pandas as pd\ndata = pd.read_csv("deaths.csv")\n'
                              f'out = data.iloc[{rows}]\nprint(data[~out.index])')
        assert "row labels" in hint and "int64" not in hint and "df.drop(index=labels)" in hint


async def test_dropping_a_frame_says_what_drop_takes(kernel):
    # Qwen2.5-Coder-1.5B removed outliers with df["deaths"].drop(outliers), a DataFrame
    tmp_path, executor = kernel
    (tmp_path / "deaths.csv").write_text("Country,deaths\n" + "".join(f"C{i},{i * i}\n" for i in range(30)))
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndf = pd.read_csv("deaths.csv")\n'
                          'out = df[df["deaths"] > 800]\nprint(df["deaths"].drop(out).mean())')
    assert hint.startswith("Hint: .drop(labels)") and ".drop(index=other.index)" in hint


async def test_key_error_from_dropna_subset(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ngdp = pd.read_csv("countries.csv")\ngdp = gdp.dropna(subset=["GDP"])')
    assert "gdp has columns" in hint and "'GDP (USD)'" in hint


async def test_key_error_on_a_frame_never_assigned_reads_the_csv_header(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor, 'import pandas as pd\npd.read_csv("countries.csv")["GDP"]')
    assert "countries.csv has columns" in hint and "'GDP (USD)'" in hint


async def test_numbers_meeting_text_list_the_text_columns_the_line_uses_first(kernel):
    # Qwen2.5-Coder-1.5B took the mean of every column, a text one too, and sent the same cell back
    tmp_path, executor = kernel
    (tmp_path / "people.csv").write_text("age,sex,region,charges\n19,female,southwest,16884.9\n"
                                         "18,male,southeast,1725.5\n28,male,northwest,4449.4\n")
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndata = pd.read_csv("people.csv")\n'
                          'print(data["age"].mean())\nprint(data["region"].mean())')
    assert hint.startswith("Hint: data has text columns")
    assert hint.index("'region' (e.g. 'southwest', 'southeast', 'northwest')") < hint.index("'sex'")
    assert "'age'" not in hint and "'charges'" not in hint
    hint = await hint_for(tmp_path, executor, 'data["sex"] + 1')
    assert "'sex' (e.g. 'female', 'male')" in hint


async def test_unpacking_a_single_value_says_so_and_where_a_p_value_comes_from(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2, 3], "b": [2, 4, 7]})\n'
                          'r, p = df["a"].corr(df["b"])')
    assert "returns a single numpy.float64" in hint and "r, p = pearsonr(x, y)" in hint


async def test_an_unknown_keyword_gets_the_installed_parameters_and_functions_named_like_it(kernel):
    # what small models learned of older APIs: mean_squared_error(..., squared=False)
    tmp_path, executor = kernel
    module = ("import types, sys\nstats = types.ModuleType('stats')\nsys.modules['stats'] = stats\n"
              "exec('def mean_error(y, p, *, weights=None):\\n    return 0\\n"
              "def root_mean_error(y, p):\\n    return 0\\n"
              "def median(y):\\n    return 0', stats.__dict__)")
    await executor.run_cell(module, metadata={}, timeout=60)
    hint = await hint_for(tmp_path, executor, "y = [1, 2]\nrmse = stats.mean_error(y, y, squared=False)")
    assert "stats.mean_error(y, p, *, weights=None) has no parameter 'squared'" in hint
    assert "named like it: root_mean_error." in hint
    assert "if 'squared' asked for the root of it, call root_mean_error(...) instead (from stats import root_mean_error)." in hint
    # a bare function name, the call inside other code
    hint = await hint_for(tmp_path, executor, "from stats import mean_error\nprint(round(mean_error([1], [1], squared=True), 2))")
    assert "mean_error(y, p, *, weights=None) has no parameter 'squared'" in hint


def test_the_call_that_passes_a_keyword_is_found():
    assert keyword_call("squared", "rmse = mean_squared_error(y, p, squared=False)") == "mean_squared_error"
    assert keyword_call("k", "print(round(sk.metrics.f(a, k=1), 2))") == "sk.metrics.f"
    assert keyword_call("k", "for x in f(k=1):") == "f"  # a line that does not parse alone
    assert keyword_call("k", "f(a)") is None


async def test_file_not_found_lists_the_files_near_the_notebook_closest_first(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor, 'import pandas as pd\npd.read_csv("sales_2024.csv")')
    assert "'sales_2024.csv' does not exist" in hint
    listed = hint.split("closest first):", 1)[1]
    assert listed.index("'data/sales_2024.csv'") < listed.index("'sales_2023.csv'") < listed.index("'countries.csv'")


async def test_name_error_suggests_close_variables_and_missing_imports(kernel):
    tmp_path, executor = kernel
    await executor.run_cell("revenue_by_region = {'a': 1}", metadata={}, timeout=60)
    hint = await hint_for(tmp_path, executor, "print(revenue_by_regoin['a'])")
    assert "'revenue_by_region'" in hint
    hint = await hint_for(tmp_path, executor, "x = [1, 2]\nprint(np.mean(x))")
    assert "import numpy as np" in hint


async def test_a_function_called_without_its_import_is_found_where_it_lives(kernel):
    # Qwen2.5-Coder-1.5B called shapiro(...) with only pandas imported, and sent it back as it was
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor, "import pandas as pd\nresult = sqrt(pd.Series([1.0, 4.0]))")
    assert "sqrt() is in numpy (also in math" in hint and "`from numpy import sqrt`" in hint
    if importlib.util.find_spec("scipy") is not None:  # an optional dependency (the eval extra)
        hint = await hint_for(tmp_path, executor, "import pandas as pd\nresult = shapiro(pd.Series([1.0, 2.0, 4.0]))")
        assert "shapiro() is in scipy.stats" in hint and "`from scipy.stats import shapiro`" in hint


async def test_attribute_error_suggests_close_attributes_of_the_object(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndf = pd.read_csv("countries.csv")\ndf.groupy("Country").sum()')
    assert "df (DataFrame) has close attributes" in hint and "'groupby'" in hint
    hint = await hint_for(tmp_path, executor, 'import pandas as pd\npd.read_cvs("countries.csv")')
    assert "'read_csv'" in hint


async def test_a_function_called_on_the_wrong_module_is_found_where_it_lives(kernel):
    """Seen with Qwen2.5-Coder-1.5B on a normality question: pd.stats.shapiro(...), twice."""
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor, 'import pandas as pd\npd.sqrt(4)')
    assert "sqrt() is not in pandas; it is in numpy (also in math" in hint
    assert "`import numpy as np; np.sqrt(...)`" in hint
    # scipy comes with the eval extra (the benchmarks' questions need it), not with the tests'
    if importlib.util.find_spec("scipy") is None:
        return
    hint = await hint_for(tmp_path, executor,
                          'import pandas as pd\ndf = pd.read_csv("countries.csv")\n'
                          'result = pd.stats.shapiro(df["Population"])')
    assert "shapiro() is not in pandas; it is in scipy.stats" in hint
    assert "from scipy import stats; stats.shapiro(...)" in hint
    hint = await hint_for(tmp_path, executor, 'import numpy as np\nnp.pearsonr([1, 2, 3], [1, 2, 4])')
    assert "pearsonr() is not in numpy; it is in scipy.stats" in hint


async def test_module_not_found_names_installed_alternatives_checked_in_the_kernel(kernel):
    tmp_path, executor = kernel
    hint = await hint_for(tmp_path, executor, "import pandas as pd\nfrom nosuchstats_pkg import stats")
    # unknown package: the default alternatives, found in the kernel's environment
    assert "'nosuchstats_pkg' is not installed" in hint
    assert "numpy" in hint and "pandas" in hint
    assert "Do not install packages" in hint


def test_module_hint_without_alternatives_and_with_pip_names():
    hint = modules_hint("sklearn", {"statsmodels": False, "scipy": False})
    assert "No installed alternative" in hint and "pip install scikit-learn" in hint
    hint = modules_hint("scipy", {"statsmodels": True, "numpy": True, "sklearn": False})
    assert "Installed and usable instead: statsmodels, numpy" in hint


def test_error_parsing_helpers():
    assert quoted("\"None of [Index(['GDP'], dtype='object')] are in the [columns]\"") == ["GDP"]
    assert quoted("['GDP']") == ["GDP"]
    tb = ["\x1b[0;31mKeyError\x1b[0m  Traceback", "Cell \x1b[0;32mIn[3], line 3\x1b[0m",
          "      1 import pandas as pd", "\x1b[0;32m----> 3\x1b[0m df[\"GDP\"]", "File pandas/core/frame.py:1",
          "---> 4102 indexer = self.columns.get_loc(key)"]
    assert failing_line(tb) == 'df["GDP"]' and failing_line_number(tb) == 3
    chained = ["KeyError  Traceback", "File pandas/core/indexes/base.py:3816, in get_loc",
               "-> 3816 return self._engine.get_loc(casted_key)",
               "The above exception was the direct cause of the following exception:",
               "KeyError  Traceback", "Cell In[2], line 4", "      3 x = 1", "----> 4 df['GDP']",
               "File pandas/core/frame.py:4102, in __getitem__", "-> 4102 indexer = self.columns.get_loc(key)"]
    assert failing_line_number(chained) == 4 and failing_line(chained) == "df['GDP']"


async def test_no_hint_without_a_kernel_or_for_other_errors(tmp_path):
    run = FailedRun(ename="KeyError", evalue="'GDP'", code='df["GDP"]')
    assert await repair_hint(run, client=None, workspace=str(tmp_path)) == ""
    run = FailedRun(ename="ZeroDivisionError", evalue="division by zero", code="1/0")
    assert await repair_hint(run, client=None, workspace=str(tmp_path)) == ""
