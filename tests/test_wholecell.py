"""Fixes that keep the cell: splicing a partial repair into the cell it replaces."""

from __future__ import annotations

from jupyterlab_codeinterp.agent.wholecell import ask_whole_cell, complete_cell, keep_original_lines

CELL = (
    "import pandas as pd\n"
    'df = pd.read_csv("sales.csv")\n'
    'df["total"] = df["Price"] * df["qty"]\n'
    'print(df.groupby("region")["total"].sum())'
)


def test_the_whole_cell_with_one_line_changed_is_kept_as_is():
    fixed = CELL.replace('"Price"', '"price"')
    got = complete_cell(CELL, fixed, error_line=3)
    assert got.status == "whole" and got.code == fixed


def test_one_replaced_line_is_spliced_into_the_cell():
    got = complete_cell(CELL, 'df["total"] = df["price"] * df["qty"]', error_line=3)
    assert got.status == "spliced"
    assert got.code == CELL.replace('"Price"', '"price"')
    assert "import pandas as pd" in got.missing and 'df = pd.read_csv("sales.csv")' in got.missing


def test_the_changed_line_wrapped_in_a_kept_line_is_spliced_too():
    proposal = 'import pandas as pd\ndf["total"] = df["price"] * df["qty"]'
    got = complete_cell(CELL, proposal, error_line=3)
    assert got.status == "spliced" and got.code == CELL.replace('"Price"', '"price"')


def test_assignment_target_and_indentation_carry_the_match():
    cell = "import numpy as np\nfor x in range(3):\n    y = np.sqroot(x)\n    print(y)"
    got = complete_cell(cell, "y = np.sqrt(x)", error_line=3)
    assert got.status == "spliced"
    assert got.code == "import numpy as np\nfor x in range(3):\n    y = np.sqrt(x)\n    print(y)"


def test_a_missing_import_alone_goes_after_the_cells_imports():
    cell = "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\nprint(np.mean(df['a']))"
    got = complete_cell(cell, "import numpy as np", error_line=3)
    assert got.status == "spliced"
    assert got.code.splitlines() == ["import pandas as pd", "import numpy as np",
                                     "df = pd.DataFrame({'a': [1, 2]})", "print(np.mean(df['a']))"]


def test_an_import_written_over_one_the_cell_still_needs_is_put_back():
    """Seen with Qwen2.5-Coder-1.5B on the fixes suite: asked to fix `np` not defined, it
    wrote `import numpy as np` over `import pandas as pd`; the cell ran in the live kernel
    (pd was there) and the notebook no longer ran from the top."""
    cell = "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\nprint(np.mean(df['a']))"
    got = complete_cell(cell, "import numpy as np\ndf = pd.DataFrame({'a': [1, 2]})\nprint(np.mean(df['a']))",
                        error_line=3)
    assert got.status == "spliced"
    assert got.code.splitlines() == ["import pandas as pd", "import numpy as np",
                                     "df = pd.DataFrame({'a': [1, 2]})", "print(np.mean(df['a']))"]
    # an import whose names the proposal no longer uses may go
    assert complete_cell("import os\nimport pandas as pd\nprint(pd.__version__)",
                         "import pandas as pd\nimport sys\nprint(pd.__version__)").status == "whole"


def test_the_whole_cell_but_an_import_it_uses_gets_the_import_back():
    fixed = CELL.replace('"Price"', '"price"')
    proposal = fixed.split("\n", 1)[1]
    got = complete_cell(CELL, proposal, error_line=3)
    assert got.status == "spliced" and got.code == fixed and got.missing == ["import pandas as pd"]


def test_two_equally_close_lines_are_ambiguous_and_the_whole_cell_is_asked_for():
    cell = ("import pandas as pd\ndf = pd.read_csv('s.csv')\n"
            "print(df['Price'].sum())\nprint(df['Price'].min())\nprint(len(df))")
    got = complete_cell(cell, "print(df['price'].max())")
    assert got.status == "partial"
    assert got.code == "print(df['price'].max())"
    ask = ask_whole_cell(got, 5)
    assert "whole corrected cell" in ask and "import pandas as pd" in ask


def test_an_unrelated_short_line_is_not_spliced():
    got = complete_cell(CELL, "print('done')", error_line=3)
    assert got.status == "partial"


def test_a_rewrite_as_long_as_the_cell_is_whole():
    rewrite = ("import pandas as pd\nimport numpy as np\nsales = pd.read_csv('sales.csv')\n"
               "print(np.sum(sales.price))")
    assert complete_cell(CELL, rewrite, error_line=3).status == "whole"


def test_a_shorter_edit_that_only_drops_the_failing_line_is_whole():
    cell = "import pandas as pd\ndf = pd.read_csv('s.csv')\nfrom scipy import stats\nprint(df.mean())"
    proposal = "import pandas as pd\ndf = pd.read_csv('s.csv')\nprint(df.mean())"
    got = complete_cell(cell, proposal, error_line=3)
    assert got.status == "whole" and got.code == proposal


def test_comments_and_blank_lines_do_not_count_as_dropped_code():
    cell = "# load\nimport pandas as pd\n\ndf = pd.read_csv('s.csv')\ndf['Price']"
    proposal = "import pandas as pd\ndf = pd.read_csv('s.csv')\ndf['price']"
    assert complete_cell(cell, proposal, error_line=5).status == "whole"


def test_a_line_split_in_two_stays_in_place():
    cell = "import pandas as pd\ndf = pd.read_csv('s.csv')\nout = df.groupby('Region').Price.sum()\nprint(out)"
    proposal = "out = df.groupby('region')['price'].sum()\nout = out.round(2)"
    got = complete_cell(cell, proposal, error_line=3)
    assert got.status == "spliced"
    assert got.code.splitlines() == ["import pandas as pd", "df = pd.read_csv('s.csv')",
                                     "out = df.groupby('region')['price'].sum()", "out = out.round(2)",
                                     "print(out)"]


def test_a_shorter_rewrite_that_leaves_out_the_failing_line_is_not_spliced():
    cell = ("import pandas as pd\nfrom scipy import stats\ndf = pd.read_csv('s.csv')\n"
            "r = stats.pearsonr(df.a, df.b)\nprint(r)")
    proposal = "import pandas as pd\ndf = pd.read_csv('s.csv')\nprint(df.a.corr(df.b))"
    assert complete_cell(cell, proposal, error_line=2).status == "partial"


def test_lines_only_restyled_keep_the_cells_text():
    # what Qwen2.5-Coder-1.5B sent for a wrong column: every line with single quotes
    restyled = ("import pandas as pd\ndf = pd.read_csv('sales.csv')\n"
                "df['total'] = df['price']*df['qty']\nprint(df.groupby('region')['total'].sum())")
    assert keep_original_lines(CELL, restyled) == CELL.replace('"Price"', '"price"')


def test_a_changed_line_keeps_the_cells_quotes_and_spacing_around_the_change():
    proposal = CELL.replace('df["Price"] * df["qty"]', "df['price']*df['qty']")
    assert keep_original_lines(CELL, proposal) == CELL.replace('"Price"', '"price"')


def test_indentation_and_comments_count_as_meaning_quotes_do_not():
    cell = "for x in 'ab':\n    print(x)  # each\nprint('done')"
    proposal = 'for x in "ab":\nprint(x)\nprint("Done")'
    assert keep_original_lines(cell, proposal) == "for x in 'ab':\nprint(x)\nprint('Done')"


def test_a_changed_string_that_needs_escapes_is_kept_as_sent():
    cell = "print('total')"
    assert keep_original_lines(cell, 'print("it\'s")') == 'print("it\'s")'


def test_an_added_token_leaves_the_line_as_sent():
    cell = "x = f(a)"
    assert keep_original_lines(cell, "x = f(not a)") == "x = f(not a)"


def test_added_and_dropped_lines_leave_the_others_in_place():
    proposal = ("import pandas as pd\nimport numpy as np\ndf = pd.read_csv('sales.csv')\n"
                "print(df.groupby('region')['total'].sum())")
    assert keep_original_lines(CELL, proposal).splitlines() == [
        "import pandas as pd", "import numpy as np", 'df = pd.read_csv("sales.csv")',
        'print(df.groupby("region")["total"].sum())']


def test_lines_that_do_not_tokenize_alone_compare_as_written():
    cell = "total = sum([1,\n           2])\nprint('x')"
    proposal = 'total = sum([1 ,\n           2])\nprint("x")'
    assert keep_original_lines(cell, proposal) == "total = sum([1 ,\n           2])\nprint('x')"
